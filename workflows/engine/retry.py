"""Exponential backoff with jitter for retried steps."""

import random


def backoff_seconds(policy, attempt):
    """Seconds to wait before attempt `attempt + 1`, after `attempt` failures.

    "Equal jitter": half the computed delay is kept and half is random, so retries from
    many runs spread out without ever retrying immediately.
    """
    base = float(policy.get("backoff_seconds", 10))
    multiplier = float(policy.get("backoff_multiplier", 2))
    ceiling = float(policy.get("max_backoff_seconds", 600))
    delay = min(ceiling, base * multiplier ** max(0, attempt - 1))
    if policy.get("jitter", True):
        delay = delay / 2 + random.uniform(0, delay / 2)
    return delay
