"""The record registry: which Django models workflows may see, and how.

Triggers (event payloads), record actions (query, create, update, delete), the validator
(which fields a variable may name) and the builder (field pickers) all read this one
registry, so a field that is not whitelisted here is invisible to every part of the product.

Registering a model of your own takes a few lines, typically in your AppConfig.ready()::

    from workflows.records import registry

    registry.register(
        Shipment,
        entity="shipments",
        fields=["id", "tracking_number", "status", "shipped_at"],
        relations=["customer"],
    )
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db import models
from django.db.models import Q


class RecordRegistryError(LookupError):
    """An unknown entity, a duplicate registration or a field that is not whitelisted."""


@dataclass(frozen=True)
class ComputedField:
    """A read-only value derived from a record (e.g. an invoice's days_overdue).

    `compute(instance)` gives the value on an instance; `to_q(lookup, value)` translates a
    comparison into a query on stored columns, so the field works in query filters too.
    """

    name: str
    compute: Callable[[models.Model], Any]
    to_q: Callable[[str, Any], Q] | None = None
    json_type: str = "string"
    description: str = ""


def to_json_value(value):
    """A model value as JSON: decimals as strings, dates and datetimes in ISO 8601."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return str(value)


_JSON_TYPES = {
    models.AutoField: "integer",
    models.BigAutoField: "integer",
    models.IntegerField: "integer",
    models.PositiveIntegerField: "integer",
    models.BooleanField: "boolean",
    models.DecimalField: "decimal",
    models.FloatField: "number",
    models.DateField: "date",
    models.DateTimeField: "datetime",
    models.JSONField: "json",
}


# JSON types whose Python value is not a string.
_TYPED = {"integer", "decimal", "number", "date", "datetime", "boolean"}


def json_type_of(model_field):
    for klass in type(model_field).__mro__:
        if klass in _JSON_TYPES:
            return _JSON_TYPES[klass]
    return "string"


@dataclass
class RecordType:
    """One registered model: its names, whitelisted fields, relations and computed fields."""

    model: type[models.Model]
    entity: str
    name: str
    fields: tuple[str, ...]
    relations: tuple[str, ...] = ()
    computed: dict[str, ComputedField] = field(default_factory=dict)
    writable: tuple[str, ...] = ()
    label: str = ""
    events: tuple[str, ...] = ("created", "updated", "deleted")

    # -- introspection ------------------------------------------------------------------

    def model_field(self, name):
        return self.model._meta.get_field(name)

    def related_type(self, relation):
        """The RecordType a whitelisted relation points at."""
        if relation not in self.relations:
            raise RecordRegistryError(
                f"'{relation}' is not a whitelisted relation of {self.entity}"
            )
        return registry.for_model(self.model_field(relation).related_model)

    def is_many(self, relation):
        return self.model_field(relation).many_to_many or self.model_field(relation).one_to_many

    def field_types(self):
        """name -> JSON type of every readable field, for the builder and the validator."""
        types = {name: json_type_of(self.model_field(name)) for name in self.fields}
        types.update({name: c.json_type for name, c in self.computed.items()})
        for relation in self.relations:
            types[relation] = "list" if self.is_many(relation) else "object"
        return types

    def has_path(self, segments: Iterable[str]) -> bool:
        """Whether a path like ("customer", "email") names whitelisted data of this record."""
        segments = list(segments)
        if not segments:
            return True
        head, rest = segments[0], segments[1:]
        if head in self.fields or head in self.computed:
            return not rest
        if head in self.relations:
            related = self.related_type(head)
            if self.is_many(head):
                rest = rest[1:] if rest and isinstance(rest[0], int) else rest
            return not rest or (rest[0] in related.fields or rest[0] in related.computed)
        return False

    # -- data -----------------------------------------------------------------------------

    def queryset(self):
        qs = self.model._default_manager.all()
        single = [r for r in self.relations if not self.is_many(r)]
        many = [r for r in self.relations if self.is_many(r)]
        if single:
            qs = qs.select_related(*single)
        if many:
            qs = qs.prefetch_related(*many)
        return qs

    def to_json(self, instance, *, nested=True, shared=None, loaded=False):
        """The record's JSON form: whitelisted fields, computed fields, and (when nested)
        its related records one level deep with their own whitelisted fields.

        `shared` (a dict kept over many records) makes equal texts one object and each
        related record one object: a status, a date, the customer repeat across a
        100,000-record result, and sharing them took that result from 143 to 57 MB.

        `loaded`: the instance (and its related records) were just read from the database,
        so their values have their Python types already and need no coercing.
        """
        if not loaded:
            self._coerce(instance)
        data = {name: to_json_value(getattr(instance, name)) for name in self.fields}
        for name, computed in self.computed.items():
            data[name] = to_json_value(computed.compute(instance))
        if shared is not None:
            for name, value in data.items():
                if type(value) is str:
                    data[name] = shared.setdefault(value, value)
        if nested:
            for relation in self.relations:
                related_type = self.related_type(relation)
                if self.is_many(relation):
                    data[relation] = [
                        related_type._related_json(obj, shared, loaded)
                        for obj in getattr(instance, relation).all()
                    ]
                else:
                    obj = getattr(instance, relation)
                    data[relation] = (
                        None if obj is None else related_type._related_json(obj, shared, loaded)
                    )
        return data

    def _related_json(self, instance, shared, loaded):
        """A related record's JSON, made once per record when `shared` is given: the
        invoices of one customer share its object (the engine never changes a value in
        place; every step makes new ones)."""
        if shared is None:
            return self.to_json(instance, nested=False, loaded=loaded)
        key = (self.name, instance.pk)
        found = shared.get(key)
        if found is None:
            found = shared[key] = self.to_json(instance, nested=False, shared=shared, loaded=loaded)
        return found

    def _coerce(self, instance):
        """A just-created instance holds what its creator passed (`due_date="2026-12-01"`);
        give dates, times and numbers their Python types, as the database would."""
        values = instance.__dict__
        typed, decimals = self._coercible
        for name, model_field in typed:
            value = values.get(name)
            if isinstance(value, str):
                values[name] = model_field.to_python(value)
        for name, exponent in decimals:
            value = values.get(name)
            if isinstance(value, Decimal):
                # As stored: "12.50", not "12.5", before and after a reload.
                values[name] = value.quantize(exponent)

    @cached_property
    def _coercible(self):
        """(attname, field) of the typed fields and (attname, exponent) of the decimal
        ones, worked out once: every event's payload is built through _coerce."""
        fields = self.model._meta.concrete_fields
        typed = tuple((f.attname, f) for f in fields if json_type_of(f) in _TYPED)
        decimals = tuple(
            (f.attname, Decimal(1).scaleb(-f.decimal_places))
            for f in fields
            if isinstance(f, models.DecimalField)
        )
        return typed, decimals

    def check_writable(self, values):
        refused = sorted(set(values) - set(self.writable))
        if refused:
            raise RecordRegistryError(
                f"{self.entity}: field(s) {', '.join(refused)} cannot be written "
                f"(writable: {', '.join(self.writable)})"
            )


class RecordRegistry:
    """Explicit and strict: unknown names and duplicate registrations are errors."""

    def __init__(self):
        self._by_entity: dict[str, RecordType] = {}
        self._by_model: dict[type[models.Model], RecordType] = {}

    def register(
        self,
        model,
        *,
        entity,
        fields,
        name=None,
        relations=(),
        computed=(),
        writable=None,
        label="",
        events=("created", "updated", "deleted"),
    ):
        name = name or model._meta.model_name
        if model in self._by_model:
            raise RecordRegistryError(
                f"{model.__name__} is already registered as '{self._by_model[model].entity}'"
            )
        if entity in self._by_entity:
            raise RecordRegistryError(
                f"the entity name '{entity}' is already used by "
                f"{self._by_entity[entity].model.__name__}"
            )
        if any(record.name == name for record in self._by_entity.values()):
            raise RecordRegistryError(f"a record type named '{name}' is already registered")
        concrete = {f.name for f in model._meta.get_fields()}
        unknown = [f for f in (*fields, *relations) if f not in concrete]
        if unknown:
            raise RecordRegistryError(f"{model.__name__} has no field(s) {', '.join(unknown)}")
        if writable is None:
            writable = tuple(f for f in fields if f != model._meta.pk.name) + tuple(
                r for r in relations if model._meta.get_field(r).many_to_one
            )
        record_type = RecordType(
            model=model,
            entity=entity,
            name=name,
            fields=tuple(fields),
            relations=tuple(relations),
            computed={c.name: c for c in computed},
            writable=tuple(writable),
            label=label or str(model._meta.verbose_name_plural).capitalize(),
            events=tuple(events),
        )
        self._by_entity[entity] = record_type
        self._by_model[model] = record_type
        return record_type

    def unregister(self, model):
        record_type = self._by_model.pop(model)
        del self._by_entity[record_type.entity]

    def get(self, entity) -> RecordType:
        """By entity name (`invoices`) or record name (`invoice`)."""
        if entity in self._by_entity:
            return self._by_entity[entity]
        for record_type in self._by_entity.values():
            if record_type.name == entity:
                return record_type
        raise RecordRegistryError(
            f"unknown entity '{entity}' (known: {', '.join(sorted(self._by_entity))})"
        )

    def for_model(self, model) -> RecordType:
        try:
            return self._by_model[model]
        except KeyError:
            raise RecordRegistryError(f"{model.__name__} is not a registered record type") from None

    def is_registered(self, model):
        return model in self._by_model

    def __iter__(self):
        return iter(self._by_entity.values())

    def by_name(self):
        return {record_type.name: record_type for record_type in self}


registry = RecordRegistry()
