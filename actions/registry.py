"""The action registry: every action type a workflow node can name.

An action type is a plug-in: a subclass of ActionType with a few class attributes (its key,
label, category, config schema, outputs, default retry policy) and `run()`; `simulate()`
shows what it would do in test mode. Registration is explicit (see actions.builtin) and
strict: a missing key, a duplicate or an unknown name is an error, never a silent skip.
"""

from dataclasses import dataclass, field
from typing import Any, ClassVar

DEFAULT_RETRY = {
    "max_attempts": 1,
    "backoff_seconds": 10,
    "backoff_multiplier": 2,
    "max_backoff_seconds": 600,
    "jitter": True,
    "retry_on": ["timeout", "connection", "rate_limited", "server_error"],
}


class ActionRegistryError(LookupError):
    """An unknown action key or a clash between two registrations."""


class ActionError(Exception):
    """An action failed. `kind` decides whether the retry policy retries it.

    Kinds: timeout, connection, rate_limited, server_error (retryable by default);
    client_error, invalid_config, not_found, refused, too_large (not retried).
    """

    def __init__(self, message, *, kind="error", details=None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.details = details or {}


@dataclass
class ActionContext:
    """What an action may know about the step it runs in."""

    execution: Any
    node_id: str
    path: str
    attempt: int
    timezone: Any
    now: Any
    is_test: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def idempotency_key(self):
        """Deterministic per step: a retried or resumed step sends the same key."""
        return f"{self.execution.public_id}:{self.path}"


class ActionType:
    """Base class; the docstring of a subclass is its description in the catalog."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    category: ClassVar[str] = "data"  # communication | data | integration
    icon: ClassVar[str] = "bolt"
    color: ClassVar[str] = "#2563eb"
    config_schema: ClassVar[dict] = {"type": "object"}
    outputs: ClassVar[list[str]] = []
    retry: ClassVar[dict] = {}
    # Example configs for the builder and the docs; each must validate against config_schema.
    examples: ClassVar[list[dict]] = []
    # Local database writes run inside the step's checkpoint transaction, so they happen
    # exactly once even when a worker dies mid-step.
    transactional: ClassVar[bool] = False
    # No effect outside the run (reading records, computing): doing it again after a crash
    # changes nothing, so the engine may batch its step record with the next checkpoint.
    pure: ClassVar[bool] = False

    def run(self, config: dict, context: ActionContext) -> Any:  # pragma: no cover - contract
        raise NotImplementedError

    def simulate(self, config: dict, context: ActionContext) -> Any:
        """Test mode: what would happen, with nothing sent or written."""
        return {"simulated": True, "action": self.key, "config": config}

    def retry_policy(self, override=None):
        return {**DEFAULT_RETRY, **self.retry, **(override or {})}

    def describe(self):
        return {
            "key": self.key,
            "label": self.label,
            "category": self.category,
            "icon": self.icon,
            "color": self.color,
            "description": (type(self).__doc__ or "").strip(),
            "config_schema": self.config_schema,
            "outputs": list(self.outputs),
            "retry": self.retry_policy(),
            "examples": list(self.examples),
        }


class ActionRegistry:
    def __init__(self):
        self._types: dict[str, ActionType] = {}

    def register(self, action_class):
        key = getattr(action_class, "key", "")
        if not key:
            raise ActionRegistryError(f"{action_class.__name__} declares no key")
        if key in self._types:
            raise ActionRegistryError(
                f"action '{key}' is already registered by {type(self._types[key]).__name__}"
            )
        self._types[key] = action_class()
        return action_class

    def get(self, key) -> ActionType:
        try:
            return self._types[key]
        except KeyError:
            raise ActionRegistryError(
                f"unknown action '{key}' (known: {', '.join(sorted(self._types))})"
            ) from None

    def __contains__(self, key):
        return key in self._types

    def __iter__(self):
        return iter(self._types.values())

    def unregister(self, key):
        del self._types[key]


registry = ActionRegistry()
