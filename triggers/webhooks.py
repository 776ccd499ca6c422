"""Webhooks (to be written)."""


def register():
    pass
