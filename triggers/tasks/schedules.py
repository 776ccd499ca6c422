"""Celery tasks of schedule triggers (to be written)."""
