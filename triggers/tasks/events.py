"""Celery tasks of event triggers (to be written)."""
