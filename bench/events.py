"""events: what the workflow app adds to a business write, and whether it grows with the
number of workflows.

In process; the in-process broker (`memory://`) receives the events' dispatch messages,
exactly as in embedded mode (sending them is part of what a save costs: the outbox's
doorbell thread sends them from this process, one per batch of events, and each
measurement waits until it has sent everything its saves committed). SQLite (WAL) and
PostgreSQL over loopback.

Each round creates invoices one `Invoice.objects.create()` at a time (each its own
transaction, as a request would) four ways: with the workflow app switched off (its model
signals disconnected and `save()` unwrapped: no event row, no outbox, no dispatch), then
with 10, 1,000 and 10,000 active event workflows of which 10 match `invoice.created`. The
others stand for a real installation: nine in ten listen for other events, one in ten for
`invoice.created` with a filter that does not hold. Configurations are switched between
rounds by pausing bystanders with one UPDATE, so every round measures all four back to
back and noise hits them alike (and a fifth, a diagnostic: 10,000 workflows without the
after-commit dispatch messages, to show what sending them costs). Reported: the microseconds
a save costs more than without the app (target: at most 300 us, and 10,000 workflows no
dearer than 10), and, separately, what dispatching one event costs the worker (matching
plus starting its 10 executions), which is where the number of workflows is paid for (no
target; shown so that it is seen). Also reported: the round trips and commits the app adds
to one save, priced at this machine's round trip and commit flush (`bench.anatomy`): the
part of the added time that no code can take off.
"""

import contextlib
import datetime
import itertools
import time
import weakref
from decimal import Decimal

from django.db.models import signals
from django.utils import timezone

from . import data
from .anatomy import FLOOR_NOTE, add_floor, anatomy, database_floor
from .harness import Stopwatch, Target

SUMMARY = "us a save costs with 10 / 1,000 / 10,000 event workflows vs no workflow app"
DATABASES = ("sqlite", "postgresql")
TIMEOUT = (420, 120)

ADDED = Target("<=", 300)
COUNTS = (10, 1_000, 10_000)
MATCHING = 10


def run(bench):
    from crm.models import Invoice
    from workflows.models import Workflow

    owner = data.customers(1)[0]
    matching = _matching_workflows()
    bystanders = _bystanders(max(COUNTS) - MATCHING)
    saves = bench.size(1_000, 100)  # per configuration and round: 5,000 over 5 rounds
    numbers = itertools.count()

    def create(count):
        due = timezone.localdate() + datetime.timedelta(days=30)
        with Stopwatch() as watch:
            for _ in range(count):
                Invoice.objects.create(
                    number=f"EVT-{next(numbers):08d}",
                    customer=owner,
                    amount=Decimal("1250.00"),
                    due_date=due,
                )
            messages_sent()  # what the saves left to send is part of what they cost
        return watch.seconds * 1e6 / count

    def configure(active):
        keep = bystanders[: active - MATCHING]
        Workflow.objects.filter(pk__in=bystanders).exclude(pk__in=keep).update(status="paused")
        Workflow.objects.filter(pk__in=keep).update(status="active")

    def one_round(size=saves):
        with workflow_app_off(Invoice):
            figures = {"off": create(size)}
        for count in COUNTS:
            configure(count)
            figures[count] = create(size)
        with no_dispatch_message() as patched:
            if patched:
                figures["no message"] = create(size)
        return figures

    one_round(max(20, saves // 5))  # warm-up
    figures = bench.measure(one_round, warmup=0)
    baseline = figures["off"]
    bench.add("save without the workflow app", "us", baseline)
    for count in COUNTS:
        added = [on - off for on, off in zip(figures[count], baseline, strict=True)]
        bench.add(f"added to a save, {count:,} active workflows", "us", added, target=ADDED)
    if "no message" in figures:
        bench.add(
            f"added to a save, {max(COUNTS):,} workflows, no dispatch message (diagnostic)",
            "us",
            [on - off for on, off in zip(figures["no message"], baseline, strict=True)],
            note="the after-commit Celery message of each event not sent: what sending costs",
        )
    ratio = [
        big / small if small > 0 else float("nan")
        for big, small in zip(figures[max(COUNTS)], figures[min(COUNTS)], strict=True)
    ]
    bench.add("save with 10,000 workflows / save with 10", "ratio", ratio, target=Target("<=", 1.1))
    _check_events(bench, saves, matching)
    _save_anatomy(bench, create)
    _dispatch(bench, configure)


def _save_anatomy(bench, create):
    """What the app adds to one save in round trips and commit flushes, priced at this
    machine's: the part of the added time that no code can take off."""
    from crm.models import Invoice

    with workflow_app_off(Invoice), anatomy() as off:
        create(1)
    with anatomy() as on:
        create(1)
    added = on - off
    machine = database_floor()
    add_floor(bench, machine)
    bench.add("added to a save: queries", "queries", [added.queries])
    bench.add("added to a save: BEGIN/COMMIT pairs", "transactions", [added.transactions])
    bench.add(
        "added to a save: its round trips and commit flushes alone",
        "us",
        [added.floor(machine)],
        note=FLOOR_NOTE,
    )


def _matching_workflows():
    """Ten workflows that `invoice.created` starts: five with a filter that holds."""
    made = []
    for index in range(MATCHING):
        trigger = {"type": "event", "event": "invoice.created"}
        if index % 2:
            trigger["filter"] = {"field": "invoice.amount", "operator": "greater_than", "value": 0}
        definition = {
            "name": f"bench: on invoice.created {index}",
            "trigger": trigger,
            "nodes": [{"id": "done", "type": "end"}],
            "edges": [{"from": "trigger", "to": "done"}],
        }
        made.append(data.workflow(definition, status="active"))
    return made


def _bystanders(count):
    from triggers.catalog import all_events
    from workflows.models import Workflow

    others = sorted(name for name in all_events() if name != "invoice.created")

    def trigger(i):
        if i % 10 == 0:
            never = {"field": "invoice.amount", "operator": "greater_than", "value": 10**12}
            return {"type": "event", "event": "invoice.created", "filter": never}
        return {"type": "event", "event": others[i % len(others)]}

    data.bystander_workflows(count, trigger, name="bench: bystander")
    return list(
        Workflow.objects.filter(name__startswith="bench: bystander")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _check_events(bench, saves, matching):
    """Every save with the app wrote its event in its own transaction; none without it."""
    from triggers import outbox
    from triggers.models import Event

    written = Event.objects.filter(name="invoice.created").count()
    configurations = len(COUNTS) + (1 if callable(getattr(outbox, "_dispatch_soon", None)) else 0)
    expected = (saves * bench.rounds + max(20, saves // 5)) * configurations
    if written != expected:
        bench.note(f"expected {expected} invoice.created events, found {written}")


def _dispatch(bench, configure):
    """Matching and starting: what one event costs the worker that dispatches it."""
    from triggers.dispatch import dispatch_event
    from triggers.models import Event

    per_count = bench.size(40, 10)
    pending = list(
        Event.objects.filter(name="invoice.created", dispatched_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    batches = iter(pending)
    for count in COUNTS:
        configure(count)
        values = []
        for _ in range(bench.rounds):
            ids = list(itertools.islice(batches, per_count))
            started = 0
            begun = time.perf_counter()
            for event_id in ids:
                started += len(dispatch_event(event_id))
            values.append((time.perf_counter() - begun) * 1000 / len(ids))
            if started != MATCHING * len(ids):
                bench.note(f"{count} workflows: {started} runs started for {len(ids)} events")
        bench.add(
            f"dispatch one event (match + start {MATCHING} runs), {count:,} active workflows",
            "ms",
            values,
        )


def messages_sent():
    """Wait until the dispatch messages of the events committed so far have been handed to
    the broker: the outbox sends them from a thread of this process (its doorbell), whose
    work is charged to the saves that caused it, not to the next configuration."""
    from triggers import outbox

    doorbell = getattr(outbox, "doorbell", None)
    if doorbell is not None:
        doorbell.flush(timeout=30)


@contextlib.contextmanager
def no_dispatch_message():
    """The outbox's after-commit dispatch message not sent, in this process (a diagnostic;
    the events stay in the outbox for its sweep). Yields False when the outbox has no such
    hook to hold back (its code changed), and then changes nothing."""
    from triggers import outbox

    if not callable(getattr(outbox, "_dispatch_soon", None)):
        yield False
        return
    original = outbox._dispatch_soon
    outbox._dispatch_soon = _no_message
    try:
        yield True
    finally:
        outbox._dispatch_soon = original


def _no_message(*args, **kwargs):
    return None


@contextlib.contextmanager
def workflow_app_off(model):
    """The model as if the workflow app were not installed: the receivers of the workflow
    and trigger apps taken off Django's model signals, and the model's save() and delete()
    unwrapped (the triggers app wraps them in a transaction). Restored afterwards."""
    model_signals = (signals.pre_init, signals.post_init, signals.pre_save, signals.post_save)
    model_signals += (signals.pre_delete, signals.post_delete)
    kept = {signal: list(signal.receivers) for signal in model_signals}
    methods = {name: model.__dict__.get(name) for name in ("save", "delete")}
    try:
        for signal in model_signals:
            with signal.lock:
                signal.receivers = [r for r in signal.receivers if not _ours(r[1])]
                signal.sender_receivers_cache.clear()
        for name in methods:
            method = getattr(model, name)
            while _ours(method) and hasattr(method, "__wrapped__"):
                method = method.__wrapped__
            if _ours(method):
                raise RuntimeError(f"cannot unwrap {model.__name__}.{name}() of the workflow app")
            setattr(model, name, method)
        yield
    finally:
        for signal, receivers in kept.items():
            with signal.lock:
                signal.receivers = receivers
                signal.sender_receivers_cache.clear()
        for name, method in methods.items():
            if method is None:
                delattr(model, name)
            else:
                setattr(model, name, method)


def _ours(receiver):
    """Whether a receiver (or a weak reference to one) is code of the workflow app."""
    target = receiver() if _is_weakref(receiver) else receiver
    code = getattr(target, "__code__", None) or getattr(
        getattr(target, "__func__", None), "__code__", None
    )
    filename = code.co_filename if code else ""
    return any(f"/{app}/" in filename for app in ("triggers", "workflows", "actions"))


def _is_weakref(value):
    return isinstance(value, weakref.ReferenceType)
