"""The execution whose step is running right now, in this thread of control.

Record changes made by a step emit events; the event remembers this execution as its
cause, which is how a chain of workflows triggering workflows is measured and stopped.
"""

from contextlib import contextmanager
from contextvars import ContextVar

_current = ContextVar("current_execution", default=None)


def current_execution():
    return _current.get()


@contextmanager
def executing(execution):
    token = _current.set(execution)
    try:
        yield execution
    finally:
        _current.reset(token)
