"""The event catalog: every event a workflow can be triggered by.

Each event belongs to a registered record type; its payload is the envelope of
DEFINITION.md ("Trigger data"): the record under its name, its related records beside it,
and the changed fields. `created` / `updated` / `deleted` exist for every registered record
type; the named business events below are added on top.
"""

from dataclasses import dataclass

from workflows.records import RecordRegistryError, registry


class UnknownEvent(LookupError):
    pass


@dataclass(frozen=True)
class EventType:
    name: str
    record: str  # record type name, e.g. "invoice"
    description: str


BUSINESS_EVENTS = [
    EventType("invoice.sent", "invoice", "An invoice was sent to its customer"),
    EventType("invoice.overdue", "invoice", "An invoice passed its due date unpaid"),
    EventType("payment.received", "payment", "A payment was received"),
    EventType("project.status_changed", "project", "A project's status changed"),
    EventType("ticket.escalated", "ticket", "A ticket's priority was raised"),
    EventType("contract.expiring", "contract", "A contract ends within the notice period"),
]

_VERBS = {"created": "was created", "updated": "was changed", "deleted": "was deleted"}


def all_events():
    events = {}
    for record_type in registry:
        for verb in record_type.events:
            name = f"{record_type.name}.{verb}"
            events[name] = EventType(name, record_type.name, f"A {record_type.name} {_VERBS[verb]}")
    for event in BUSINESS_EVENTS:
        try:
            registry.get(event.record)
        except RecordRegistryError:
            continue
        events[event.name] = event
    return events


def get_event(name) -> EventType:
    try:
        return all_events()[name]
    except KeyError:
        raise UnknownEvent(f"unknown event '{name}'") from None


def payload_keys(name):
    """Top-level keys of an event's trigger data (for the validator)."""
    event = get_event(name)
    record_type = registry.get(event.record)
    related = {r for r in record_type.relations if not record_type.is_many(r)}
    return {"event", "event_id", "occurred_at", "changes", record_type.name, *related}
