"""Test-only action types: they record calls, fail on demand and take time."""

import threading
import time

from actions.registry import ActionError, ActionType

calls = []
_lock = threading.Lock()
failures = {}


def reset():
    calls.clear()
    failures.clear()


class Probe(ActionType):
    """Records each call; `sleep` seconds of work; fails while failures[tag] > 0."""

    key = "probe"
    label = "Probe"
    outputs = ["value", "tag"]
    config_schema = {"type": "object"}

    def run(self, config, context):
        started = time.monotonic()
        if config.get("sleep"):
            time.sleep(float(config["sleep"]))
        tag = config.get("tag", context.node_id)
        with _lock:
            calls.append(
                {
                    "tag": tag,
                    "path": context.path,
                    "attempt": context.attempt,
                    "config": config,
                    "key": context.idempotency_key,
                    "started": started,
                    "ended": time.monotonic(),
                }
            )
            remaining = failures.get(tag, 0)
            if remaining:
                failures[tag] = remaining - 1
        if remaining:
            raise ActionError(
                f"probe {tag} failing on purpose", kind=config.get("kind", "server_error")
            )
        if config.get("crash"):
            raise RuntimeError("an unexpected bug")
        if config.get("count_steps"):
            # What a side effect would find durable at the moment it happens.
            from workflows.models import StepRun

            calls[-1]["steps_in_database"] = StepRun.objects.filter(
                execution=context.execution
            ).count()
        return {"value": config.get("value"), "tag": tag}

    def simulate(self, config, context):
        return {"simulated": True, "tag": config.get("tag")}


class WorkerDied(BaseException):
    """Not an Exception: it escapes the engine the way a killed worker stops it."""


class PureProbe(Probe):
    """A Probe with no effect outside the run (the engine may batch its records); with
    `die: true` it stops the worker mid-run."""

    key = "pure_probe"
    label = "Pure probe"
    pure = True

    def run(self, config, context):
        if config.get("die") and failures.pop("die", 0):
            raise WorkerDied
        return super().run(config, context)


ALL = [Probe, PureProbe]
