"""Schedules (to be written)."""


def register():
    pass
