"""Plain-JSON views of executions, for the CLI and for logs."""


def step_summary(step):
    return {
        "node": step.node_id,
        "type": step.node_type,
        "path": step.path,
        "attempt": step.attempt,
        "status": step.status,
        "input": step.input,
        "output": step.output,
        "error": step.error,
        "started_at": step.started_at.isoformat() if step.started_at else None,
        "duration_ms": round(step.duration_ms, 3) if step.duration_ms is not None else None,
    }


def execution_summary(execution, *, steps=True):
    data = {
        "id": execution.public_id,
        "workflow": execution.workflow.public_id,
        "version": execution.version.number,
        "mode": execution.mode,
        "status": execution.status,
        "trigger_type": execution.trigger_type,
        "started_at": execution.started_at.isoformat() if execution.started_at else None,
        "completed_at": execution.completed_at.isoformat() if execution.completed_at else None,
        "resume_at": execution.resume_at.isoformat() if execution.resume_at else None,
        "duration_ms": execution.duration_ms,
        "steps_total": execution.steps_total,
        "steps_completed": execution.steps_completed,
        "error": execution.error,
    }
    if steps:
        data["steps"] = [step_summary(step) for step in execution.steps.order_by("id")]
    return data
