"""What a unit of work costs in round trips, independent of how busy the machine is.

Timings on a shared 2-core machine move with everything else that runs; the number of
queries, of commits (each one a WAL flush on PostgreSQL) and of live-log messages a step
or a request causes does not. `Anatomy` counts them on this process's default connection
while a block runs, and `live_log_off` measures the same work without the live-log
publishing, to show what that publishing costs.
"""

import contextlib
from dataclasses import dataclass

from django.db import connection

WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Counts:
    queries: int = 0
    commits: int = 0  # explicit transactions committed plus writes in autocommit
    live_messages: int = 0


@contextlib.contextmanager
def anatomy():
    """`with anatomy() as counts: ...` counts the block's queries, commits, live messages."""
    from workflows.signals import execution_status_changed, step_recorded

    counts = Counts()

    def on_query(execute, sql, params, many, context):
        counts.queries += 1
        if not connection.in_atomic_block and sql.lstrip()[:6].upper() in WRITES:
            counts.commits += 1
        return execute(sql, params, many, context)

    def on_live(**kwargs):
        counts.live_messages += 1

    commit = connection.commit

    def counted_commit():
        counts.commits += 1
        return commit()

    step_recorded.connect(on_live, dispatch_uid="bench-anatomy-step")
    execution_status_changed.connect(on_live, dispatch_uid="bench-anatomy-status")
    connection.commit = counted_commit
    try:
        with connection.execute_wrapper(on_query):
            yield counts
    finally:
        del connection.commit
        step_recorded.disconnect(dispatch_uid="bench-anatomy-step")
        execution_status_changed.disconnect(dispatch_uid="bench-anatomy-status")


@contextlib.contextmanager
def live_log_off():
    """The live log's receivers taken off the engine's signals for the block (a diagnostic:
    the product always publishes)."""
    from workflows.signals import execution_status_changed, step_recorded

    kept = {signal: list(signal.receivers) for signal in (step_recorded, execution_status_changed)}
    try:
        for signal in kept:
            with signal.lock:
                signal.receivers = []
                signal.sender_receivers_cache.clear()
        yield
    finally:
        for signal, receivers in kept.items():
            with signal.lock:
                signal.receivers = receivers
                signal.sender_receivers_cache.clear()
