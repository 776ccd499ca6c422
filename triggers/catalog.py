"""The event catalog: every event a workflow can be triggered by, and when each one happens.

Each event belongs to a registered record type; its payload is the envelope of
DEFINITION.md ("Trigger data"): the record under its name, its single related records beside
it, and the changed fields. `created` / `updated` / `deleted` exist for every registered
record type (as its registration allows); the named business events below are added on top.
A named event says how it is recognised: from a change to a record (`detect`, asked by the
model signals and by the bulk-write API of `triggers.outbox`), and/or by the periodic time
sweep (`timed`, see `triggers.time_events`). An event with an `occasion` fires at most once
per occasion (`invoice.overdue` once per invoice and due date), however it is detected.

The builder, the validator and test mode read the catalog: `all_events()`, `get_event()`,
`payload_keys()`, `payload_shape()`, `sample_payload()` and `describe()`. The registry does
not change after startup, so the catalog is built once and rebuilt only if it did (tests
register models of their own).
"""

import copy
import datetime
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from workflows.records import RecordType, registry, to_json_value

VERBS = ("created", "updated", "deleted")
ENVELOPE_KEYS = ("event", "event_id", "occurred_at", "changes")


class UnknownEvent(LookupError):
    pass


@dataclass(frozen=True)
class Change:
    """What happened to one record: the verb and the whitelisted values before and after.

    `old` and `new` map field names (a single relation by its name, holding the related id)
    to values. For `updated` they hold only the fields that changed; for `created`, `new`
    holds the record and `old` is empty; for `deleted`, `old` holds the record as it was.
    """

    verb: str
    instance: models.Model
    old: Mapping[str, Any] = field(default_factory=dict)
    new: Mapping[str, Any] = field(default_factory=dict)

    def changed(self, name):
        return self.verb == "updated" and name in self.old

    def became(self, name, value):
        """The field holds `value` now and did not before (a record created with it counts)."""
        if self.verb == "created":
            return self.new.get(name) == value
        return self.changed(name) and self.new[name] == value and self.old[name] != value

    def as_json(self):
        """The envelope's `changes`: {field: {"old", "new"}} (empty for `created`)."""
        if self.verb == "created":
            return {}
        new = {} if self.verb == "deleted" else self.new
        return {
            name: {"old": to_json_value(old), "new": to_json_value(new.get(name))}
            for name, old in self.old.items()
        }

    @classmethod
    def between(cls, instance, tracked, before, after, *, only=None):
        """The update from one snapshot ({attname: value}) to another over `tracked` fields
        (limited to `only` field names or attnames, as `save(update_fields=...)` gives).

        Values compare as their field's Python values, so "1250.00" assigned to a decimal
        field is no change from Decimal("1250.00"). A field missing from a snapshot (deferred
        when loaded) has no known old value and counts as unchanged.
        """
        old, new = {}, {}
        for tracked_field in tracked:
            if only is not None and not {tracked_field.name, tracked_field.attname} & only:
                continue
            attname = tracked_field.attname
            if attname not in before or attname not in after:
                continue
            was, now = tracked_field.python(before[attname]), tracked_field.python(after[attname])
            if was != now:
                old[tracked_field.name], new[tracked_field.name] = was, now
        return cls("updated", instance, old, new)

    @classmethod
    def from_json(cls, verb, instance, changes):
        """A change described as the envelope describes it (by a caller of a bulk write)."""
        changes = changes or {}
        return cls(
            verb,
            instance,
            old={name: value.get("old") for name, value in changes.items()},
            new={name: value.get("new") for name, value in changes.items()},
        )


@dataclass(frozen=True)
class TrackedField:
    """A whitelisted field (or single relation, by its id) whose changes events report."""

    name: str
    attname: str
    field: models.Field

    def python(self, value):
        try:
            return self.field.to_python(value)
        except (ValidationError, TypeError, ValueError):
            return value


def tracked_fields(record_type) -> tuple[TrackedField, ...]:
    """The fields a change of this record type talks about: its whitelisted fields and its
    forward single relations (a changed customer is a changed `customer` id)."""
    catalog = _catalog()
    tracked = catalog.tracked.get(record_type.name)
    if tracked is None:
        names = [*record_type.fields]
        names += [
            relation
            for relation in record_type.relations
            if getattr(record_type.model_field(relation), "concrete", False)
            and not record_type.is_many(relation)
        ]
        tracked = tuple(
            TrackedField(name, record_type.model_field(name).attname, record_type.model_field(name))
            for name in names
        )
        catalog.tracked[record_type.name] = tracked
    return tracked


@dataclass(frozen=True)
class EventType:
    name: str
    record: str  # record type name, e.g. "invoice"
    description: str
    # The generic events: the verb of the change they stand for.
    verb: str | None = None
    # Named events: recognised in a change to a record of this type.
    detect: Callable[[Change], bool] | None = None
    # Also emitted by the periodic time sweep (triggers.time_events).
    timed: bool = False
    # Once per occasion: the key of the occasion for a record ("invoice.overdue:42:2026-11-10").
    occasion: Callable[[models.Model], str] | None = None
    # For the sample payload: (field, old, new) of a typical change.
    sample_changes: tuple[tuple[str, Any, Any], ...] = ()


def _priority_raised(change):
    """Ranked by the model's PRIORITY_RANK, so "raised" means raised, not "changed"."""
    if not change.changed("priority"):
        return False
    ranks = getattr(type(change.instance), "PRIORITY_RANK", {})
    old, new = ranks.get(change.old["priority"]), ranks.get(change.new["priority"])
    return old is not None and new is not None and new > old


def _occasion(event_name, date_field):
    def key(instance):
        return f"{event_name}:{instance.pk}:{to_json_value(getattr(instance, date_field))}"

    return key


BUSINESS_EVENTS = [
    EventType(
        "invoice.sent",
        "invoice",
        "An invoice was sent to its customer (its status became sent)",
        detect=lambda change: change.became("status", "sent"),
        sample_changes=(("status", "draft", "sent"),),
    ),
    EventType(
        "invoice.overdue",
        "invoice",
        "An invoice passed its due date unpaid (its status became overdue, or the daily "
        "sweep found a sent invoice past its due date); once per invoice and due date",
        detect=lambda change: change.became("status", "overdue"),
        timed=True,
        occasion=_occasion("invoice.overdue", "due_date"),
        sample_changes=(("status", "sent", "overdue"),),
    ),
    EventType(
        "payment.received",
        "payment",
        "A payment was received (recorded)",
        detect=lambda change: change.verb == "created",
    ),
    EventType(
        "project.status_changed",
        "project",
        "A project's status changed",
        detect=lambda change: change.changed("status"),
        sample_changes=(("status", "active", "completed"),),
    ),
    EventType(
        "ticket.escalated",
        "ticket",
        "A ticket's priority was raised",
        detect=_priority_raised,
        sample_changes=(("priority", "normal", "urgent"),),
    ),
    EventType(
        "contract.expiring",
        "contract",
        "An active contract ends within the notice period (CONTRACT_EXPIRING_DAYS, 30 by "
        "default); once per contract and end date",
        timed=True,
        occasion=_occasion("contract.expiring", "end_date"),
    ),
]

_VERB_TEXT = {"created": "was created", "updated": "was changed", "deleted": "was deleted"}


# -- the catalog, built once per registry state ---------------------------------------------


class _Catalog:
    def __init__(self, record_types):
        self.events: dict[str, EventType] = {}
        # record name -> its named events recognised in a change
        self.detected: dict[str, list[EventType]] = {}
        self.samples: dict[str, dict] = {}
        self.shapes: dict[str, dict] = {}
        self.tracked: dict[str, tuple[TrackedField, ...]] = {}
        for record_type in record_types:
            for verb in record_type.events:
                name = f"{record_type.name}.{verb}"
                self.events[name] = EventType(
                    name, record_type.name, f"A {record_type.name} {_VERB_TEXT[verb]}", verb=verb
                )
        names = {record_type.name for record_type in record_types}
        for event in BUSINESS_EVENTS:
            if event.record in names:  # a named event of an unregistered model does not exist
                self.events[event.name] = event
                if event.detect is not None:
                    self.detected.setdefault(event.record, []).append(event)


_lock = threading.Lock()
_cache: tuple[tuple[RecordType, ...], _Catalog] | None = None


def _same(old, new):
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def _catalog() -> _Catalog:
    global _cache
    record_types = tuple(registry)
    cached = _cache
    if cached is not None and _same(cached[0], record_types):
        return cached[1]
    with _lock:
        _cache = (record_types, _Catalog(record_types))
        return _cache[1]


# -- public lookups -------------------------------------------------------------------------


def all_events():
    return dict(_catalog().events)


def get_event(name) -> EventType:
    try:
        return _catalog().events[name]
    except (KeyError, TypeError):
        raise UnknownEvent(f"unknown event '{name}'") from None


def events_for_change(record_type, change) -> list[EventType]:
    """The events a change to a record fires: its generic verb event and the named events
    that recognise it."""
    catalog = _catalog()
    found = []
    generic = catalog.events.get(f"{record_type.name}.{change.verb}")
    if generic is not None and generic.verb == change.verb:
        found.append(generic)
    named = catalog.detected.get(record_type.name, ())
    found.extend(event for event in named if event.detect(change))
    return found


def single_relations(record_type):
    """The related records that also stand at the top level of the payload."""
    return [
        relation
        for relation in record_type.relations
        if not record_type.is_many(relation) and relation not in ENVELOPE_KEYS
    ]


def payload_keys(name):
    """Top-level keys of an event's trigger data (for the validator)."""
    record_type = registry.get(get_event(name).record)
    return {*ENVELOPE_KEYS, record_type.name, *single_relations(record_type)}


def payload_shape(name):
    """Each top-level key of the payload with its JSON type; records with their fields' types
    (`RecordType.field_types()`, a nested record's own fields one level down)."""
    catalog = _catalog()
    if name not in catalog.shapes:
        record_type = registry.get(get_event(name).record)
        shape = {
            "event": {"type": "string"},
            "event_id": {"type": "string"},
            "occurred_at": {"type": "datetime"},
            record_type.name: {"type": "object", "fields": _nested_types(record_type)},
        }
        for relation in single_relations(record_type):
            related = record_type.related_type(relation)
            shape[relation] = {"type": "object", "fields": _flat_types(related)}
        shape["changes"] = {
            "type": "object",
            "description": 'changed fields: {"field": {"old": ..., "new": ...}}; empty when '
            "created; for a deleted record, every field with its last value",
        }
        catalog.shapes[name] = shape
    return copy.deepcopy(catalog.shapes[name])


def _flat_types(record_type):
    types = record_type.field_types()
    return {name: kind for name, kind in types.items() if name not in record_type.relations}


def _nested_types(record_type):
    types = record_type.field_types()
    for relation in record_type.relations:
        related = _flat_types(record_type.related_type(relation))
        if record_type.is_many(relation):
            types[relation] = {"type": "list", "items": related}
        else:
            types[relation] = {"type": "object", "fields": related}
    return types


def sample_payload(name):
    """An example of the event's trigger data, in the envelope, made from the record type's
    fields (choices, types): what the builder's variable picker and test mode show."""
    catalog = _catalog()
    if name not in catalog.samples:
        from .outbox import envelope  # the outbox builds every envelope; it imports us

        event = get_event(name)
        record_type = registry.get(event.record)
        record = _sample_record(record_type, nested=True)
        changes = _sample_changes(event, record_type)
        if event.verb != "deleted":  # a deleted record stands as it was
            record.update({field_name: values["new"] for field_name, values in changes.items()})
        catalog.samples[name] = envelope(
            name,
            record_type,
            record,
            changes,
            event_id="evt_sample",
            occurred_at=SAMPLE_INSTANT,
        )
    return copy.deepcopy(catalog.samples[name])


def describe(name=None):
    """The catalog as JSON for the builder and the API: one entry per event."""
    names = [name] if name else sorted(_catalog().events)
    entries = []
    for event_name in names:
        event = get_event(event_name)
        record_type = registry.get(event.record)
        entries.append(
            {
                "name": event.name,
                "record": event.record,
                "entity": record_type.entity,
                "description": event.description,
                "timed": event.timed,
                "once_per_occasion": event.occasion is not None,
                "payload_shape": payload_shape(event_name),
                "sample_payload": sample_payload(event_name),
            }
        )
    return entries


# -- sample values --------------------------------------------------------------------------

SAMPLE_INSTANT = datetime.datetime(2026, 11, 26, 9, 0, tzinfo=datetime.UTC)
_SAMPLE_BY_TYPE = {
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "date": "2026-11-10",
    "datetime": SAMPLE_INSTANT.isoformat(),
    "json": {},
    "list": [],
}


def _sample_value(record_type, name, kind):
    if name in record_type.computed:
        return _SAMPLE_BY_TYPE.get(kind, "")
    model_field = record_type.model_field(name)
    if model_field.primary_key:
        return 42
    if model_field.choices:
        return to_json_value(model_field.choices[0][0])
    if kind == "decimal":
        places = model_field.decimal_places or 0
        return str(Decimal(1250).quantize(Decimal(1).scaleb(-places)))
    if isinstance(model_field, models.EmailField):
        return f"{record_type.name}@example.com"
    if kind in _SAMPLE_BY_TYPE:
        return _SAMPLE_BY_TYPE[kind]
    return f"Example {model_field.verbose_name}"


def _sample_record(record_type, *, nested):
    record = {
        name: _sample_value(record_type, name, kind)
        for name, kind in record_type.field_types().items()
        if name not in record_type.relations
    }
    if nested:
        for relation in record_type.relations:
            related = _sample_record(record_type.related_type(relation), nested=False)
            record[relation] = [related] if record_type.is_many(relation) else related
    return record


def _sample_id(value):
    """A single relation changes by its id."""
    return value["id"] if isinstance(value, dict) and "id" in value else value


def _sample_changes(event, record_type):
    if event.sample_changes:
        return {name: {"old": old, "new": new} for name, old, new in event.sample_changes}
    if event.verb == "deleted":
        record = _sample_record(record_type, nested=True)
        return {
            tracked.name: {"old": _sample_id(record[tracked.name]), "new": None}
            for tracked in tracked_fields(record_type)
        }
    if event.verb == "updated":
        # A change of the first field that has choices (a status), else of the first text.
        for name in record_type.fields:
            model_field = record_type.model_field(name)
            if model_field.choices and len(model_field.choices) > 1:
                old, new = model_field.choices[0][0], model_field.choices[1][0]
                return {name: {"old": to_json_value(old), "new": to_json_value(new)}}
        for name, kind in record_type.field_types().items():
            if kind == "string" and name in record_type.fields:
                return {name: {"old": "Old value", "new": f"Example {name}"}}
    return {}


__all__ = [
    "VERBS",
    "Change",
    "EventType",
    "TrackedField",
    "UnknownEvent",
    "all_events",
    "describe",
    "events_for_change",
    "get_event",
    "payload_keys",
    "payload_shape",
    "sample_payload",
    "tracked_fields",
]
