"""Model signals -> the event outbox (to be written)."""


def connect():
    pass
