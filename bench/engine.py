"""engine: what one step costs, engine and database together, every StepRun persisted.

In process, no broker: `start_execution(..., inline=True)` runs each execution to its end
in this process, exactly as the CLI and test runs do, on SQLite (WAL) and on PostgreSQL
over loopback. Two workloads:

- a 5-step data workflow (two record reads, calculate, transform, a condition), many
  executions per round: the cost of a typical step;
- the seed's invoice reminder over 200 overdue invoices in test mode (the query, the loop,
  then a condition and a simulated email or ticket per invoice: 402 steps in one run).

Reported: milliseconds per step and steps per second (wall time of the round divided by
the StepRuns it wrote; each round checks that every step was persisted), and the queries
and commits per step, priced at this machine's round trip and commit flush
(`bench.anatomy`): what the database's latency alone takes of a step. Target (issue
6): at most 0.5 ms per step, 2,000 steps a second on one core.
"""

import time

from . import data
from .anatomy import FLOOR_NOTE, add_floor, anatomy, database_floor, live_log_off
from .definitions import data_workflow, require_actions, seed_reminder
from .harness import Skip, Stopwatch, Target

SUMMARY = "ms per step of the engine in process, every StepRun persisted (no broker)"
DATABASES = ("sqlite", "postgresql")
TIMEOUT = (300, 90)

PER_STEP = Target("<=", 0.5)
CPU_NOTE = (
    "process CPU time: the engine's own work (and SQLite's, which runs in process), less "
    "sensitive than wall time to other load on the machine; PostgreSQL's work is not in it"
)
STEPS_PER_SECOND = Target(">=", 2000)


def run(bench):
    owners = data.customers(50)
    data.invoices(500, owners, prefix="CUR")
    overdue = bench.size(200, 50)
    data.invoices(overdue, owners[:20], overdue_days=10, prefix="OVD", status="overdue")
    try:
        require_actions("calculate", "transform")
    except Skip as exc:
        bench.note(f"5-step data workflow not measured: {exc}")
    else:
        _data_workflow(bench, owners)
    _seed_reminder(bench, overdue)


def _data_workflow(bench, owners):
    from workflows.models import StepRun
    from workflows.services import start_execution

    workflow = data.workflow(data_workflow(), status="active")
    runs = bench.size(100, 20)
    counter = iter(range(10**9))

    def one_round():
        first = StepRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        cpu = time.process_time()
        with Stopwatch() as watch:
            for _ in range(runs):
                owner = owners[next(counter) % len(owners)]
                execution = start_execution(
                    workflow, trigger_data={"customer_id": owner.pk}, inline=True
                )
        _check_completed(execution)
        steps = StepRun.objects.filter(pk__gt=first, status="succeeded").count()
        if steps != runs * 5:
            raise AssertionError(f"expected {runs * 5} persisted steps, found {steps}")
        cpu = time.process_time() - cpu
        return {
            "ms": watch.seconds * 1000 / steps,
            "rate": steps / watch.seconds,
            "cpu": cpu * 1000 / steps,
        }

    figures = bench.measure(one_round)
    with live_log_off():
        without_live = bench.measure(one_round, warmup=0)
    label = f"5-step data workflow ({runs} runs a round)"
    bench.add(f"{label}: per step", "ms", figures["ms"], target=PER_STEP)
    bench.add(f"{label}: steps/s", "steps/s", figures["rate"], target=STEPS_PER_SECOND)
    bench.add(f"{label}: CPU of this process per step", "ms", figures["cpu"], note=CPU_NOTE)
    bench.add(
        f"{label}: per step, live-log publishing off (diagnostic)",
        "ms",
        without_live["ms"],
        note="the live log's receivers disconnected in this process: what publishing costs",
    )
    _anatomy(bench, workflow, owners[0].pk)


def _seed_reminder(bench, overdue):
    from workflows.services import start_execution

    workflow = data.workflow(seed_reminder(), status="draft")

    def one_round():
        cpu = time.process_time()
        with Stopwatch() as watch:
            execution = start_execution(workflow, test=True, inline=True)
        cpu = time.process_time() - cpu
        _check_completed(execution)
        steps = execution.steps.count()
        if steps != execution.steps_total or steps != 2 + 2 * overdue:
            raise AssertionError(f"expected {2 + 2 * overdue} persisted steps, found {steps}")
        return {
            "ms": watch.seconds * 1000 / steps,
            "rate": steps / watch.seconds,
            "cpu": cpu * 1000 / steps,
        }

    figures = bench.measure(one_round)
    label = f"seed invoice reminder, {overdue} invoices, test mode"
    bench.add(f"{label}: per step", "ms", figures["ms"], target=PER_STEP)
    bench.add(f"{label}: steps/s", "steps/s", figures["rate"], target=STEPS_PER_SECOND)
    bench.add(f"{label}: CPU of this process per step", "ms", figures["cpu"], note=CPU_NOTE)


def _check_completed(execution):
    execution.refresh_from_db()
    if execution.status != "completed":
        raise AssertionError(
            f"run {execution.public_id} ended {execution.status}: {execution.error}"
        )


def _anatomy(bench, workflow, customer_id):
    """Round trips per step of the 5-step workflow: the same whatever the machine's load."""
    from workflows.services import start_execution

    with anatomy() as counts:
        execution = start_execution(
            workflow, trigger_data={"customer_id": customer_id}, inline=True
        )
    steps = execution.steps_total
    label = "5-step data workflow, per step"
    bench.add(f"{label}: queries", "queries", [counts.queries / steps])
    bench.add(f"{label}: commits", "commits", [counts.commits / steps])
    bench.add(
        f"{label}: live-log messages (each to 2 groups)", "messages", [counts.live_messages / steps]
    )
    machine = database_floor()
    add_floor(bench, machine)
    bench.add(
        f"{label}: its round trips and commit flushes alone",
        "ms",
        [counts.floor(machine) / 1000 / steps],
        note=FLOOR_NOTE,
    )
