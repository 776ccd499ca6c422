"""Celery tasks of the triggers, one module per family (imported so Celery registers them)."""

from . import events, schedules  # noqa: F401
