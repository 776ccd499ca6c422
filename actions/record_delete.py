"""delete_record: delete registered business records, by id or by a filter with a limit.

A sibling of `actions.records` (it reuses its entity lookup and the query filters) kept apart
because deleting carries concerns of its own: what else goes with a record (Django's
cascades), what refuses to go (PROTECT), and how to stop a filter from deleting far more
than its author meant. So:

* only registered entities, found by id or by the same whitelisted filter as query_records;
* a filter needs a `limit`, and when more records match than the limit, nothing is deleted
  and the step fails: the limit states how many the author expects, not where to stop;
* one transaction: the records, their cascades and the step's checkpoint commit together
  (`transactional`), so a retried step never deletes twice and a failure deletes nothing;
* a record other records still protect (an invoice's customer) is refused with a message
  that says which, and test mode reports exactly that too, along with what would be deleted
  and what would cascade, while deleting nothing.
"""

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.db.models import ProtectedError, RestrictedError
from django.db.models.deletion import Collector

from workflows.records import registry

from .querying import FilterError, build_q, uses_many_relation
from .records import ENTITY_SCHEMA, _record_type
from .registry import ActionError, ActionType

MAX_LIMIT = 1000


def _label(model, count=2):
    if registry.is_registered(model):
        return registry.for_model(model).entity
    meta = model._meta
    return str(meta.verbose_name_plural if count != 1 else meta.verbose_name)


def _targets(record_type, config):
    """The records to delete, in id order; an error when they are not what the config says."""
    value = config.get("id")
    pk = value.get("id") if isinstance(value, dict) else value  # an id, or a whole record
    has_id, has_filter = pk not in (None, ""), bool(config.get("filter"))
    if has_id == has_filter:
        raise ActionError(
            "give either 'id' or a non-empty 'filter' (with a 'limit')", kind="invalid_config"
        )
    if has_id:
        try:
            records = list(record_type.queryset().filter(pk=pk))
        except (ValueError, TypeError, ValidationError):
            records = []
        if not records and config.get("if_missing", "fail") == "fail":
            raise ActionError(f"no {record_type.name} with id {pk!r}", kind="not_found")
        return records
    limit = config.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ActionError(
            f"limit: a filter needs a limit from 1 to {MAX_LIMIT}: the most records "
            "this step may delete",
            kind="invalid_config",
        )
    try:
        qs = record_type.queryset().filter(build_q(record_type, config["filter"]))
    except FilterError as exc:
        raise ActionError(f"filter: {exc}", kind="invalid_config") from None
    if uses_many_relation(record_type, config["filter"]):
        qs = qs.distinct()
    records = list(qs.order_by("pk")[: limit + 1])
    if len(records) > limit:
        raise ActionError(
            f"more than {limit} {record_type.entity} match the filter (the limit); "
            "nothing was deleted",
            kind="refused",
        )
    return records


def _refusal(record_type, exc):
    blockers = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    counts: dict = {}
    for obj in blockers:
        counts[type(obj)] = counts.get(type(obj), 0) + 1
    listing = ", ".join(f"{n} {_label(model, n)}" for model, n in counts.items())
    return ActionError(
        f"cannot delete this {record_type.name}: {listing} still refer to it "
        "(delete or reassign them first)",
        kind="refused",
        details={"blocked_by": {_label(model): n for model, n in counts.items()}},
    )


def _collect(record_type, records):
    """Django's deletion plan for `records` (cascades included); raises on protection."""
    collector = Collector(using=router.db_for_write(record_type.model))
    try:
        collector.collect(records)
    except (ProtectedError, RestrictedError) as exc:
        raise _refusal(record_type, exc) from None
    return collector


def _also_deleted(record_type, records, collector):
    """What the plan deletes besides `records`: {label: count}."""
    counts: dict = {}
    for model, instances in collector.data.items():
        extra = len(instances) - (len(records) if model is record_type.model else 0)
        if extra:
            counts[_label(model)] = counts.get(_label(model), 0) + extra
    for qs in collector.fast_deletes:
        found = qs.count()
        if found:
            counts[_label(qs.model)] = counts.get(_label(qs.model), 0) + found
    return counts


class DeleteRecord(ActionType):
    """Delete one record by id, or the records a filter matches (at most `limit`).

    Refused when other records still protect it (an invoice's customer). Test mode shows the
    records that would be deleted and what would go with them, and deletes nothing.
    """

    key = "delete_record"
    label = "Delete record"
    category = "data"
    icon = "trash"
    color = "#dc2626"
    outputs: ClassVar[list[str]] = ["records", "count", "also_deleted"]
    transactional = True
    config_schema: ClassVar[dict] = {
        "type": "object",
        "required": ["entity"],
        "additionalProperties": False,
        "properties": {
            "entity": ENTITY_SCHEMA,
            "id": {
                "type": ["integer", "string", "object"],
                "title": "Record id",
                "description": "The record to delete (its id, or the record), e.g. {{ ticket.id }}",
                "templated": True,
            },
            "filter": {
                "type": "object",
                "title": "Filter",
                "description": "Instead of an id: the records to delete, as in Query records",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_LIMIT,
                "title": "At most this many",
                "description": "Required with a filter; if more match, nothing is deleted",
            },
            "if_missing": {
                "type": "string",
                "enum": ["fail", "ignore"],
                "default": "fail",
                "title": "When the id matches no record",
            },
        },
        "oneOf": [{"required": ["id"]}, {"required": ["filter", "limit"]}],
    }
    examples: ClassVar[list[dict]] = [
        {"entity": "tickets", "id": "{{ ticket.id }}"},
        {"entity": "leads", "filter": {"status": "disqualified"}, "limit": 100},
        {"entity": "contacts", "id": 42, "if_missing": "ignore"},
    ]

    def run(self, config, context):
        record_type = _record_type(config)
        # Atomic here too, so a direct call (not through the engine's checkpoint) is
        # all-or-nothing as well.
        with transaction.atomic():
            records = _targets(record_type, config)
            snapshot = [record_type.to_json(record) for record in records]
            also = {}
            if records:
                collector = _collect(record_type, records)
                also = _also_deleted(record_type, records, collector)
                collector.delete()
        return {"records": snapshot, "count": len(snapshot), "also_deleted": also}

    def simulate(self, config, context):
        record_type = _record_type(config)
        records = _targets(record_type, config)
        also = {}
        if records:
            also = _also_deleted(record_type, records, _collect(record_type, records))
        return {
            "simulated": True,
            "would_delete": [record_type.to_json(record) for record in records],
            "count": len(records),
            "also_deleted": also,
        }
