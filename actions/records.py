"""Record actions: query, create and update registered business records."""

from django.conf import settings
from django.core.exceptions import ValidationError

from workflows.records import RecordRegistryError, registry

from . import query_plans
from .querying import FilterError, build_q, order_by_fields, uses_many_relation
from .registry import ActionError, ActionType

ENTITY_SCHEMA = {"type": "string", "title": "Record type", "description": "e.g. invoices"}


def _record_type(config):
    try:
        return registry.get(config["entity"])
    except RecordRegistryError as exc:
        raise ActionError(str(exc), kind="invalid_config") from None


def _write_values(record_type, values):
    """Whitelist check, then relations given as ids or as records ({"id": ...})."""
    if not isinstance(values, dict):
        raise ActionError("'values' must be an object", kind="invalid_config")
    try:
        record_type.check_writable(values)
    except RecordRegistryError as exc:
        raise ActionError(str(exc), kind="invalid_config") from None
    resolved = {}
    for name, value in values.items():
        if name in record_type.relations:
            related = record_type.related_type(name)
            pk = value.get("id") if isinstance(value, dict) else value
            if pk in (None, ""):
                resolved[name] = None
                continue
            try:
                resolved[name] = related.model._default_manager.get(pk=pk)
            except (related.model.DoesNotExist, ValueError, TypeError):
                raise ActionError(
                    f"{name}: no {related.name} with id {pk!r}", kind="not_found"
                ) from None
        else:
            resolved[name] = value
    return resolved


def _clean(record_type, instance):
    try:
        instance.full_clean()
    except ValidationError as exc:
        messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ActionError(
            f"{record_type.name} is not valid: {messages}", kind="invalid_config"
        ) from None
    return instance


def _save(record_type, instance):
    _clean(record_type, instance).save()
    return instance


CHUNK = 2000


class QueryRecords(ActionType):
    """Find records of a registered type with a Mongo-style filter."""

    key = "query_records"
    pure = True
    label = "Query records"
    category = "data"
    icon = "search"
    outputs = ["records"]
    config_schema = {
        "type": "object",
        "required": ["entity"],
        "additionalProperties": False,
        "properties": {
            "entity": ENTITY_SCHEMA,
            "filter": {"type": "object", "title": "Filter", "default": {}},
            "order_by": {"type": "array", "items": {"type": "string"}, "title": "Order by"},
            "limit": {"type": "integer", "minimum": 1, "title": "At most this many"},
        },
    }

    def run(self, config, context):
        record_type = _record_type(config)
        limit = config.get("limit") or settings.WORKFLOW_LIMITS["max_loop_items"]
        spec = config.get("filter") or {}
        try:
            order = order_by_fields(record_type, config.get("order_by"))
            rows = query_plans.fetch(record_type, spec, order, limit)
            if rows is None:
                rows = self._rows(record_type, spec, order, limit)
        except FilterError as exc:
            raise ActionError(str(exc), kind="invalid_config") from None
        shared = {}  # equal texts and related records once, not once per record
        return [record_type.to_json(obj, shared=shared, loaded=True) for obj in rows]

    simulate = run  # reading changes nothing, so test mode reads for real

    @staticmethod
    def _rows(record_type, spec, order, limit):
        """Through the ORM: the filters that have no plan (operators, `$or`, computed
        fields, to-many relations) and large reads."""
        qs = record_type.queryset().filter(build_q(record_type, spec))
        if uses_many_relation(record_type, spec):
            qs = qs.distinct()
        qs = qs.order_by(*order) if order else qs.order_by("pk")
        rows = qs[:limit]
        if limit > CHUNK:
            # In chunks: a 100,000-record result never holds all its model instances at
            # once. (Not for a small one: on PostgreSQL iterator() is a server-side cursor,
            # three round trips instead of one.)
            rows = rows.iterator(chunk_size=CHUNK)
        return rows


class CreateRecord(ActionType):
    """Create a record of a registered type from whitelisted field values."""

    key = "create_record"
    label = "Create record"
    category = "data"
    icon = "plus"
    outputs = ["record"]
    transactional = True
    config_schema = {
        "type": "object",
        "required": ["entity", "values"],
        "additionalProperties": False,
        "properties": {"entity": ENTITY_SCHEMA, "values": {"type": "object", "title": "Values"}},
    }

    def run(self, config, context):
        record_type = _record_type(config)
        instance = record_type.model(**_write_values(record_type, config["values"]))
        return record_type.to_json(_save(record_type, instance))

    def simulate(self, config, context):
        # Checked exactly as a real run checks it, then not saved.
        record_type = _record_type(config)
        _clean(record_type, record_type.model(**_write_values(record_type, config["values"])))
        return {
            "simulated": True,
            "would_create": {"entity": record_type.entity, **config["values"]},
        }


class UpdateRecord(ActionType):
    """Change whitelisted fields of one record, found by id."""

    key = "update_record"
    label = "Update record"
    category = "data"
    icon = "edit"
    outputs = ["record"]
    transactional = True
    config_schema = {
        "type": "object",
        "required": ["entity", "id", "values"],
        "additionalProperties": False,
        "properties": {
            "entity": ENTITY_SCHEMA,
            "id": {"type": ["integer", "string"], "title": "Record id"},
            "values": {"type": "object", "title": "Values"},
        },
    }

    def _instance(self, record_type, config):
        try:
            return record_type.queryset().get(pk=config["id"])
        except (record_type.model.DoesNotExist, ValueError, TypeError):
            raise ActionError(
                f"no {record_type.name} with id {config['id']!r}", kind="not_found"
            ) from None

    def run(self, config, context):
        record_type = _record_type(config)
        instance = self._instance(record_type, config)
        for name, value in _write_values(record_type, config["values"]).items():
            setattr(instance, name, value)
        return record_type.to_json(_save(record_type, instance))

    def simulate(self, config, context):
        record_type = _record_type(config)
        instance = self._instance(record_type, config)
        before = record_type.to_json(instance)
        for name, value in _write_values(record_type, config["values"]).items():
            setattr(instance, name, value)
        _clean(record_type, instance)
        return {"simulated": True, "would_update": before, "values": config["values"]}
