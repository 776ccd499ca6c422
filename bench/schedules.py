"""schedules: do 10,000 active scheduled workflows start on time?

On SQLite the product runs embedded (beat and worker inside `manage.py serve`); on
PostgreSQL distributed (a beat process, a Celery worker and a web process over Redis). The
scheduler's design (triggers/schedules.py): one django-celery-beat PeriodicTask per active
scheduled workflow, a one-off on a ClockedSchedule at its next instant (computed with
zoneinfo), `WorkflowSchedule.next_fire_at` as the truth, and a `fire_due` sweep every 5 s
for instants whose message never came (10 s grace). Beat's DatabaseScheduler re-reads the
enabled rows due within 5 minutes on every change signal and every 5 minutes.

The workflows are made with one-off (`once`) schedules whose instants are spread evenly over
an hour (full: 10,000, the issue's load, 2.8 firings a second) or, with --quick, 300 over
108 s (the same rate), installed through `triggers.schedules.install` as
activation does, before the product starts (beat then loads them as after a restart).
Observed: the instants that fall in a window after the product is up (45 s; 10 s with
--quick). Reported per round (the window cut in consecutive parts): lateness of the
execution's creation and of its start after its instant, p50, p95 and max, and how many
instants had no run by the end (missed). Target (issue 6): every due run starts within one
second of its time, none missed.
"""

import datetime as dt
import os
import tempfile
import time

from django.db import connection
from django.utils import timezone

from . import data
from .harness import Skip, Stopwatch, Target, chunks, percentile
from .processes import Product, redis_available

SUMMARY = "lateness of 10,000 one-per-workflow schedules (beat + worker), embedded and distributed"
DATABASES = ("sqlite", "postgresql")
BROKER = "redis"
IN_PROCESS = False
TIMEOUT = (480, 120)

ON_TIME = Target("<=", 1000)
SAFETY_NET_SECONDS = 16  # the fire_due sweep: every 5 s, with 10 s of grace


def run(bench):
    mode = "embedded" if connection.vendor == "sqlite" else "distributed"
    if mode == "distributed" and not redis_available():
        raise Skip("Redis is not reachable at 127.0.0.1:6379")
    count, span, window = bench.size((10_000, 3600.0, 45.0), (300, 108.0, 10.0))
    # Enough time to install them all and start the product before the first instant.
    per_install = _install_seconds()
    startup = bench.size(20, 10)
    first = timezone.now() + dt.timedelta(seconds=count * per_install * 1.2 + startup)
    instants = {index: first + dt.timedelta(seconds=span * index / count) for index in range(count)}
    workflows = _scheduled_workflows(bench, instants)
    rounds = bench.size(3, 2)
    with (
        tempfile.TemporaryDirectory(prefix="bench-schedules-") as logs,
        Product(mode, os.environ, logs, web=1, workers=1) as product,
    ):
        start = max(first, timezone.now() + dt.timedelta(seconds=3))
        end = start + dt.timedelta(seconds=window)
        observed = {pk: at for pk, at in workflows.items() if start <= at < end}
        _sleep_until(end + dt.timedelta(seconds=bench.size(SAFETY_NET_SECONDS, 3)))
        runs = _runs(observed)
        log_errors = product.logs(tail=20000).count("Traceback")
    _report(bench, mode, observed, runs, rounds)
    bench.note(
        f"{mode}: {count:,} active schedules over {span / 60:.0f} min; observed "
        f"{len(observed)} instants in {window:.0f} s"
        + (f"; {log_errors} tracebacks in the product's logs" if log_errors else "")
    )


def _scheduled_workflows(bench, instants):
    """Workflows with a `once` schedule at each instant, installed as activation does.
    Returns {workflow pk: instant}."""

    def trigger(index):
        return {"type": "schedule", "config": {"once": {"at": instants[index].isoformat()}}}

    rows = _made("bench: scheduled", len(instants), trigger)
    with Stopwatch() as watch:
        _install(rows)
    bench.add("install one schedule (activation)", "ms", [watch.seconds * 1000 / len(rows)])
    return {workflow.pk: instants[index] for index, workflow in enumerate(rows)}


def _install_seconds(sample=100):
    """What installing one schedule takes here: a sample installed and thrown away."""
    from workflows.models import Workflow

    far = (timezone.now() + dt.timedelta(days=30)).isoformat()
    rows = _made(
        "bench: calibration",
        sample,
        lambda i: {"type": "schedule", "config": {"once": {"at": far}}},
    )
    with Stopwatch() as watch:
        _install(rows)
    Workflow.objects.filter(pk__in=[row.pk for row in rows]).delete()  # alarms go with them
    return watch.seconds / sample


def _made(name, count, trigger):
    from workflows.models import Workflow

    data.bystander_workflows(count, trigger, name=name)
    return list(
        Workflow.objects.filter(name__startswith=name)
        .select_related("current_version")
        .order_by("pk")
    )


def _install(rows):
    from django.db import transaction

    from triggers import schedules

    for start in range(0, len(rows), 500):
        with transaction.atomic():
            for workflow in rows[start : start + 500]:
                schedules.install(workflow)


def _sleep_until(moment):
    remaining = (moment - timezone.now()).total_seconds()
    if remaining > 0:
        time.sleep(remaining)


def _runs(observed):
    from workflows.models import Execution

    found = {}
    for workflow_id, created, started in Execution.objects.filter(
        workflow_id__in=list(observed), trigger_type="schedule"
    ).values_list("workflow_id", "created_at", "started_at"):
        found.setdefault(workflow_id, (created, started))
    return found


def _report(bench, mode, observed, runs, rounds):
    ordered = sorted(observed, key=observed.get)
    created_p95, created_max, started_p50, started_p95, started_max, missed = ([] for _ in "123456")
    for part in chunks(ordered, rounds):
        late_created, late_started, lost = [], [], 0
        for pk in part:
            if pk not in runs:
                lost += 1
                continue
            created, started = runs[pk]
            late_created.append((created - observed[pk]).total_seconds() * 1000)
            if started is not None:
                late_started.append((started - observed[pk]).total_seconds() * 1000)
            else:
                lost += 1
        created_p95.append(percentile(late_created, 95))
        created_max.append(max(late_created, default=float("nan")))
        started_p50.append(percentile(late_started, 50))
        started_p95.append(percentile(late_started, 95))
        started_max.append(max(late_started, default=float("nan")))
        missed.append(lost)
    bench.add("run created after its instant: p95", "ms", created_p95, mode=mode)
    bench.add("run created after its instant: max", "ms", created_max, mode=mode)
    bench.add("run started after its instant: p50", "ms", started_p50, mode=mode)
    bench.add("run started after its instant: p95", "ms", started_p95, mode=mode, target=ON_TIME)
    bench.add("run started after its instant: max", "ms", started_max, mode=mode, target=ON_TIME)
    bench.add("instants without a started run", "runs", missed, mode=mode, target=Target("<=", 0))
