"""Celery tasks: they take ids, never instances, and call the services."""

from celery import shared_task

from . import services


@shared_task(name="workflows.run_execution", acks_late=True, ignore_result=True)
def run_execution_task(execution_id):
    services.run(execution_id)


@shared_task(name="workflows.resume_due", ignore_result=True)
def resume_due_executions():
    return services.resume_due(inline=False)


@shared_task(name="workflows.recover", ignore_result=True)
def recover_executions():
    return services.recover()
