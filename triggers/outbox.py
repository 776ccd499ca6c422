"""The event outbox: event rows written in the business transaction, dispatched after commit.

An event row is written in the same transaction as the change that caused it, and a
dispatch is scheduled with `transaction.on_commit`: a rolled-back change leaves no row and
fires nothing; a committed one is dispatched right away, or by the outbox sweep
(`triggers.dispatch.dispatch_pending`) if the process died in between. The payload is built
here, at write time, because by dispatch time the record may have changed again or be gone.

"Right away" costs the committing caller microseconds: after the commit the event's id
rings the process's doorbell (`automation.doorbell`), whose thread sends one
`triggers.dispatch_events` message for the events committed meanwhile (a lone event at
once; a burst together, at most one message per DOORBELL_INTERVAL). When Celery runs tasks
in place (CELERY_TASK_ALWAYS_EAGER, the tests), the event is dispatched in the commit.

Model signals (`triggers.signals`) call this for every save and delete of a registered
model. Writes that skip signals emit their events themselves, inside the same transaction::

    from triggers.outbox import emit, emit_for_queryset, update_with_events

    with transaction.atomic():
        # instead of QuerySet.update(): reads the old values, updates, emits
        # invoice.updated (and invoice.sent) with each invoice's real changes
        update_with_events(Invoice.objects.filter(status="draft", customer=acme), status="sent")

    with transaction.atomic():
        leads = Lead.objects.bulk_create(leads)
        emit_for_queryset(Lead.objects.filter(pk__in=[lead.pk for lead in leads]), "created")

    # one event of your own making (after a raw SQL write, say)
    emit("invoice.sent", invoice, changes={"status": {"old": "draft", "new": "sent"}})

`QuerySet.delete()` sends model signals, so deletes need nothing.
"""

import itertools
import logging
from contextlib import closing
from functools import partial

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from automation.doorbell import Doorbell
from workflows.engine.context import current_execution
from workflows.models import prepared
from workflows.records import registry

from . import catalog
from .catalog import Change, UnknownEvent
from .models import Event, new_event_id

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
DOORBELL_INTERVAL = 0.01


def envelope(event_name, record_type, record, changes, *, event_id, occurred_at):
    """The trigger data of an event (DEFINITION.md, "Trigger data"): the record under its
    name with its related records nested, each single related record also at the top level,
    and the changes. `record` is the record's JSON (`RecordType.to_json`)."""
    data = {
        "event": event_name,
        "event_id": event_id,
        "occurred_at": occurred_at.isoformat(),
        record_type.name: record,
    }
    for relation in catalog.single_relations(record_type):
        data.setdefault(relation, record.get(relation))
    data["changes"] = changes
    return data


def record_change(record_type, instance, change, *, record=None, using=None):
    """Write the events a change fires (its verb event and the named events recognising it).

    `record` is the record's JSON when the caller already has it (a deleted record is
    serialised before it is gone). Returns the events written.
    """
    return _record_change(record_type, instance, change, record, using, as_events=True)


def count_change(record_type, instance, change, *, record=None, using=None):
    """`record_change` for callers that only need to know how many events it wrote: no
    Event instance is made (every save of a registered record comes through here)."""
    return _record_change(record_type, instance, change, record, using, as_events=False)


def _record_change(record_type, instance, change, record, using, *, as_events):
    event_types = catalog.events_for_change(record_type, change)
    if not event_types:
        return [] if as_events else 0
    if record is None:
        record = record_type.to_json(instance)
    changes = change.as_json()
    written = [
        _write(event_type, record_type, instance, record, changes, using=using, as_event=as_events)
        for event_type in event_types
    ]
    if as_events:
        return [event for event in written if event is not None]
    return sum(1 for event in written if event is not None)


def emit(event_name, instance, changes=None, *, occasion=None, using=None):
    """Emit one event of the catalog for a record, e.g. after a write that skipped signals.

    `changes` is `{field: {"old": ..., "new": ...}}` as in the payload. An event that fires
    once per occasion (`invoice.overdue`) takes its occasion from the catalog unless given;
    if that occasion has fired already, nothing is written and None is returned.
    """
    event_type = catalog.get_event(event_name)
    record_type = registry.for_model(instance._meta.concrete_model)
    if record_type.name != event_type.record:
        raise UnknownEvent(
            f"'{event_name}' is an event of {event_type.record} records, not of {record_type.name}"
        )
    return _write(
        event_type,
        record_type,
        instance,
        record_type.to_json(instance),
        changes or {},
        occasion=occasion,
        using=using,
    )


def emit_for_queryset(queryset, verb, changes=None):
    """Emit the events of a bulk write for every record of `queryset`: `created` after
    `bulk_create()`, `updated` after `QuerySet.update()` (with the `changes` that apply to
    every row; `update_with_events` finds each row's real old values for you). Pass a
    queryset that still matches the rows after the write (by pk). Returns how many events
    were written."""
    if verb not in ("created", "updated"):
        raise ValueError(
            f"emit_for_queryset emits 'created' or 'updated', not {verb!r} "
            "(QuerySet.delete() sends model signals, so deletes emit by themselves)"
        )
    record_type = registry.for_model(queryset.model._meta.concrete_model)
    written = 0
    for instance in _with_relations(record_type, queryset).iterator(chunk_size=BATCH_SIZE):
        if verb == "created":
            values = {
                tracked.name: getattr(instance, tracked.attname)
                for tracked in catalog.tracked_fields(record_type)
            }
            change = Change("created", instance, new=values)
        else:
            change = Change.from_json("updated", instance, changes)
        written += count_change(record_type, instance, change, using=queryset.db)
    return written


def update_with_events(queryset, **values):
    """`QuerySet.update(**values)` that emits each changed record's events.

    The rows are locked and their old values read first, so each event carries that row's
    real changes; rows that did not change emit nothing. Rows that start to match the
    queryset while this runs are not updated. Returns how many rows were updated.
    """
    record_type = registry.for_model(queryset.model._meta.concrete_model)
    model, using = queryset.model, queryset.db
    names = set(values)
    tracked = [t for t in catalog.tracked_fields(record_type) if t.name in names]
    attnames = [t.attname for t in tracked]
    updated = 0
    with transaction.atomic(using=using):
        rows = queryset.select_for_update().values_list("pk", *attnames)
        before = {row[0]: dict(zip(attnames, row[1:], strict=True)) for row in rows}
        for chunk in _batches(sorted(before), BATCH_SIZE):
            rows = model._base_manager.using(using).filter(pk__in=chunk)
            updated += rows.update(**values)
            for instance in _with_relations(record_type, rows):
                after = {attname: getattr(instance, attname) for attname in attnames}
                change = Change.between(instance, tracked, before[instance.pk], after)
                if change.old:
                    count_change(record_type, instance, change, using=using)
    return updated


def _batches(items, size):
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _with_relations(record_type, queryset):
    """The queryset with what `to_json` reads loaded in bulk (not one query per record)."""
    single = [r for r in record_type.relations if not record_type.is_many(r)]
    many = [r for r in record_type.relations if record_type.is_many(r)]
    return queryset.select_related(*single).prefetch_related(*many).order_by("pk")


def _write(
    event_type, record_type, instance, record, changes, *, occasion=None, using=None, as_event=True
):
    """Insert one event row and have it dispatched after commit. Returns the Event (or,
    with `as_event=False`, its primary key); None if its occasion has fired already."""
    using = using or instance._state.db or router.db_for_write(type(instance), instance=instance)
    if occasion is None and event_type.occasion is not None:
        occasion = event_type.occasion(instance)
    event_id, occurred_at = new_event_id(), timezone.now()
    caused_by = current_execution()
    values = {
        "public_id": event_id,
        "name": event_type.name,
        "record_type": record_type.name,
        "record_id": str(instance.pk),
        "payload": envelope(
            event_type.name,
            record_type,
            record,
            changes,
            event_id=event_id,
            occurred_at=occurred_at,
        ),
        "occurred_at": occurred_at,
        "dispatched_at": None,
        "caused_by_id": None if caused_by is None else caused_by.pk,
        "occasion": occasion,
    }
    if occasion is None:
        pk = _insert(values, using)
    else:
        # Once per occasion, even against a concurrent writer: the unique column decides,
        # inside a savepoint so the caller's transaction survives the refusal.
        if Event.objects.using(using).filter(occasion=occasion).exists():
            return None
        try:
            with transaction.atomic(using=using):
                pk = _insert(values, using)
        except IntegrityError:
            if Event.objects.using(using).filter(occasion=occasion).exists():
                return None
            raise
    # robust: whatever happens after the commit must not fail the committed business write;
    # the outbox sweep dispatches the event later.
    transaction.on_commit(partial(_dispatch_soon, pk), using=using, robust=True)
    if not as_event:
        return pk
    event = Event(pk=pk, caused_by=caused_by, **values)
    event._state.adding = False
    event._state.db = using
    return event


# The outbox insert, prepared once per database vendor: every save of a registered record
# pays for it, and Model.save() spends most of its time rebuilding the same statement (and
# sending pre_save/post_save for Event, which nothing handles). The row's values go in as
# a dict: building an Event instance for it (__init__, pre_init/post_init) cost ~10 us.
_insert_sql: dict[str, tuple[str, list]] = {}


def _insert(values, using):
    """INSERT the event row ({attname: value}, every column but the primary key), with the
    values prepared by each field for this database as `Event.save()` would; returns the
    primary key."""
    connection = connections[using]
    statements = _insert_sql.get(connection.vendor)
    if statements is None:
        statements = _insert_sql[connection.vendor] = _prepare_insert(connection)
    sql, raw_sql, fields = statements
    if sql is None:  # no INSERT ... RETURNING, or a field that computes its value on save
        event = Event(**values)
        event.save(using=using, force_insert=True)
        return event.pk
    params = []
    for field in fields:
        value = values[field.attname]
        # Text and NULL go to the database as they are, which is what their fields return.
        if value is not None and type(value) is not str:
            value = field.get_db_prep_save(value, connection)
        params.append(value)
    if (
        raw_sql is not None
        and connection.connection is not None
        and not connection.queries_logged
        and not connection.execute_wrappers
    ):
        # Straight to the driver: Django's cursor wrapper cost ~10 us of the ~15 this
        # statement costs in Python on SQLite (15-20 us on PostgreSQL). Only when nothing
        # watches the queries (DEBUG or a test's query capture logs them; an execute_wrapper
        # sees them): then through Django.
        connection.validate_no_broken_transaction()
        driver = connection.connection
        with connection.wrap_database_errors, closing(driver.execute(raw_sql, params)) as cursor:
            return cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _prepare_insert(connection):
    """(the INSERT with Django's placeholders, the same for the driver itself where that
    is known to be safe, the fields in column order); (None, None, None) where only
    Model.save() will do."""
    fields = prepared.insertable_fields(Event, connection)
    if fields is None:
        return None, None, None
    sql = prepared.insert_statement(Event, connection, fields, 1)
    # The drivers' own placeholders: sqlite3's `?`; psycopg's are Django's (its connection
    # has Django's adapters and prepare threshold, and its cursors are Django's class).
    raw_sql = {"sqlite": sql.replace("%s", "?"), "postgresql": sql}.get(connection.vendor)
    return sql, raw_sql, fields


def _send_dispatch(event_ids):
    """The doorbell's thread: one message for the events committed meanwhile."""
    task = _dispatch_task()
    args = (event_ids,)
    # The message's argsrepr, as Celery would make it (a list of ids is its own repr) but
    # without its safe-repr machinery: that was a quarter of a publish.
    argsrepr = repr(args)
    if len(argsrepr) > task.app.amqp.argsrepr_maxsize:
        argsrepr = None  # Celery shortens it
    task.apply_async(args, argsrepr=argsrepr, kwargsrepr="{}")


# After commit, an event's id rings the doorbell (microseconds for the committing caller);
# its thread sends one `triggers.dispatch_events` message per batch, at most one per
# DOORBELL_INTERVAL: a lone event goes at once, a burst shares messages (each of its events
# waiting at most that long).
doorbell = Doorbell(_send_dispatch, name="events", batch_size=100, interval=DOORBELL_INTERVAL)


def _dispatch_soon(event_pk):
    task = _dispatch_task()
    if task.app.conf.task_always_eager:  # a dict lookup: automation.celery settles it
        # Tasks run in place (tests, CELERY_TASK_ALWAYS_EAGER): dispatch now, as before.
        task.delay([event_pk])
    else:
        doorbell.ring(event_pk)


_task = None


def _dispatch_task():
    global _task  # imported on first use: the tasks import the dispatcher
    if _task is None:
        from .tasks.events import dispatch_events_task

        _task = dispatch_events_task
    return _task
