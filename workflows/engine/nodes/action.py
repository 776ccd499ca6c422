"""Action nodes: resolve the config, then run the action (or simulate it in test mode)."""

import traceback

from actions.registry import ActionContext, ActionError, ActionRegistryError, registry

from ..outcome import Outcome, error_info
from .base import ExpressionError, NodeHandler, expression_failure


def bind_outputs(node, action_type, output):
    """`outputs: ["x"]` binds the whole result; several names bind declared outputs in order."""
    names = node.get("outputs") or []
    if len(names) == 1:
        return {names[0]: output}
    if not isinstance(output, dict):
        return {}
    return {
        name: output.get(declared)
        for name, declared in zip(names, action_type.outputs, strict=False)
    }


def failure_from_exception(exc, node_id, policy):
    """An exception raised by an action, as a failed Outcome the retry policy understands."""
    if isinstance(exc, ActionError):
        error = error_info(exc.kind, exc.message, node_id, **exc.details)
    else:
        # Unexpected: keep the traceback for whoever debugs it (code lines, no local values).
        error = error_info(
            "internal",
            f"{type(exc).__name__}: {exc}",
            node_id,
            traceback=traceback.format_exc(limit=20),
        )
    return Outcome(
        status="failed",
        error=error,
        retryable=error["type"] in (policy.get("retry_on") or []),
        retry_policy=policy,
    )


class ActionNode(NodeHandler):
    type = "action"

    def is_pure(self, node, *, is_test):
        # Test mode simulates every action: nothing leaves the run.
        if is_test:
            return True
        try:
            return registry.get(node.get("action")).pure
        except ActionRegistryError:
            return False

    def execute(self, step):
        node = step.node
        try:
            action_type = registry.get(node.get("action"))
        except ActionRegistryError as exc:
            return Outcome(
                status="failed", error=error_info("invalid_config", str(exc), node["id"])
            )
        try:
            config = step.render(node.get("config") or {})
        except ExpressionError as exc:
            return expression_failure(step, exc, "config")
        policy = action_type.retry_policy(node.get("retry"))
        run = step.run
        context = ActionContext(
            execution=run.execution,
            node_id=node["id"],
            path=step.path,
            attempt=step.token.get("attempt", 1),
            timezone=run.tz,
            now=run.now(),
            is_test=run.is_test,
            # calculate reads bare names (`invoice.amount`) from the run's variables.
            extra={"timeout_seconds": node.get("timeout_seconds"), "variables": step.variables},
        )
        method = action_type.simulate if run.is_test else action_type.run

        def perform():
            output = method(config, context)
            return output, bind_outputs(node, action_type, output)

        if action_type.transactional and not run.is_test:
            # Runs inside the checkpoint's transaction: the write and the step record
            # commit together, so the write happens exactly once.
            return Outcome(input=config, perform=perform, retry_policy=policy)
        try:
            output, bind = perform()
        except Exception as exc:
            outcome = failure_from_exception(exc, node["id"], policy)
            outcome.input = config
            return outcome
        return Outcome(input=config, output=output, bind=bind, retry_policy=policy)
