"""Run statistics as the API shows them (the counting is WorkflowQuerySet.attach_run_stats).

Counted for the workflows being answered only: a list page is cut first, then one
aggregate query reads the executions of its (at most 200) workflows. Annotating the list
query instead would aggregate every workflow's executions before the page is cut.
"""

from workflows.models import Workflow


def attach_run_stats(workflows):
    """`workflows` (fetched instances) with run_count, last_run and success_percent set."""
    return Workflow.objects.attach_run_stats(workflows)


def success_rate(workflow):
    """A percentage with one decimal; None until a run finished."""
    rate = workflow.success_percent
    return None if rate is None else round(rate, 1)
