"""What a node's execution asks the runner to do next."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Outcome:
    status: str = "succeeded"  # succeeded | failed | skipped
    input: Any = None
    output: Any = None
    # Which edges to follow: None = unlabelled, or "true", "false", a case name, "error".
    label: str | None = None
    follow: bool = True  # False: this path ends here (an `end` node)
    error: dict | None = None
    retryable: bool = False
    retry_policy: dict | None = None
    wait_until: datetime | None = None
    stop: tuple[str, str] | None = None  # (completed|failed, reason) ends the whole run
    loop_items: list | None = None
    branches: list[str] | None = None
    # Named variables this step binds (an action's `outputs`).
    bind: dict = field(default_factory=dict)
    # A local database write that must commit with the checkpoint (exactly once).
    perform: Any = None


def error_info(kind, message, node_id, **details):
    return {"type": kind, "message": message, "node": node_id, **details}
