"""Run statistics as the API shows them (the counting is WorkflowQuerySet.with_run_stats)."""


def with_run_stats(workflows):
    return workflows.with_run_stats()


def success_rate(workflow):
    """A percentage with one decimal; None until a run finished."""
    rate = workflow.success_percent
    return None if rate is None else round(rate, 1)
