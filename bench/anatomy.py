"""What a unit of work costs in round trips, independent of how busy the machine is.

Timings on a shared 2-core machine move with everything else that runs; the number of
queries, of commits (each one a WAL flush on PostgreSQL) and of live-log messages a step
or a request causes does not. `Anatomy` counts them on this process's default connection
while a block runs, and `live_log_off` measures the same work without the live-log
publishing, to show what that publishing costs.

`database_floor` times what no code of ours can shorten on this machine: a round trip to
the database and the flush that makes a commit durable. With the counts, `Counts.floor`
says how much of a unit of work those alone take, so a missed target can be told apart
from a slow engine.
"""

import contextlib
import statistics
import time
from dataclasses import dataclass

from django.db import connection

WRITES = ("INSERT", "UPDATE", "DELETE")


@dataclass
class Counts:
    queries: int = 0
    commits: int = 0  # explicit transactions committed plus writes in autocommit
    transactions: int = 0  # of those commits, explicit ones: a BEGIN and a COMMIT each
    live_messages: int = 0

    def floor(self, machine):
        """Microseconds that the round trips and the durable commits counted here take on
        a database measured by `database_floor`, whatever runs between them."""
        round_trips = self.queries + 2 * self.transactions
        return round_trips * machine["round_trip"] + self.commits * machine["flush"]

    def __sub__(self, other):
        return Counts(
            self.queries - other.queries,
            self.commits - other.commits,
            self.transactions - other.transactions,
            self.live_messages - other.live_messages,
        )


@contextlib.contextmanager
def anatomy():
    """`with anatomy() as counts: ...` counts the block's queries, commits, live messages."""
    from workflows.signals import execution_status_changed, step_recorded

    counts = Counts()

    def on_query(execute, sql, params, many, context):
        if sql.startswith("BEGIN"):  # SQLite's, through Django: counted as a transaction
            return execute(sql, params, many, context)
        counts.queries += 1
        if not connection.in_atomic_block and sql.lstrip()[:6].upper() in WRITES:
            counts.commits += 1
        return execute(sql, params, many, context)

    def on_live(**kwargs):
        counts.live_messages += 1

    commit = connection.commit

    def counted_commit():
        counts.commits += 1
        counts.transactions += 1
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


FLOOR_NOTE = (
    "the queries, BEGIN/COMMIT pairs and commits counted, priced at this machine's round "
    "trip and commit flush: what the database's latency alone takes, before any code runs"
)


def add_floor(bench, machine):
    """The machine's round trip and commit flush, as figures (engine and events)."""
    bench.add("database round trip (SELECT 1, through the driver)", "us", [machine["round_trip"]])
    bench.add(
        "commit flush (a one-row INSERT alone minus inside a transaction)",
        "us",
        [machine["flush"]],
        note="PostgreSQL: the WAL flush to disk that makes a commit durable",
    )


FLOOR_TABLE = "bench_floor"


def database_floor(blocks=15, per_block=20):
    """{"round_trip": us, "flush": us} on this process's default connection, straight
    through the driver (no Django on the way): a `SELECT 1`, and what a one-row INSERT
    costs more when it commits by itself than inside an open transaction (PostgreSQL: the
    WAL flush to disk; SQLite in WAL mode: writing the WAL frames). The three are sampled
    in turns, block by block, so that a busy moment of the machine hits them alike, and
    each is the lower quartile of its samples: a floor, not a typical time. The table it
    writes is made and dropped here (the benchmark's database is its own)."""
    connection.ensure_connection()
    driver = connection.connection
    insert = f"INSERT INTO {FLOOR_TABLE} (n) VALUES (1)"  # noqa: S608 - a constant
    samples = {"round_trip": [], "alone": [], "inside": []}
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (n integer)")
        try:
            for _ in range(blocks):
                _time(samples["round_trip"], per_block, lambda: _execute(driver, "SELECT 1"))
                _time(samples["alone"], per_block, lambda: _execute(driver, insert))
                cursor.execute("BEGIN")
                try:
                    _time(samples["inside"], per_block, lambda: _execute(driver, insert))
                finally:
                    cursor.execute("ROLLBACK")
        finally:
            cursor.execute(f"DROP TABLE {FLOOR_TABLE}")
    low = {name: statistics.quantiles(times, n=4)[0] for name, times in samples.items()}
    return {"round_trip": low["round_trip"], "flush": max(0.0, low["alone"] - low["inside"])}


def _execute(driver, sql):
    driver.execute(sql).close()


def _time(into, count, operation):
    for _ in range(count):
        begun = time.perf_counter()
        operation()
        into.append((time.perf_counter() - begun) * 1e6)
