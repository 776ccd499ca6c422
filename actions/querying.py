"""Mongo-style record filters, translated to Django Q objects over whitelisted fields only.

    {"status": "overdue", "days_overdue": {"$gte": 7}, "customer.type": "enterprise",
     "$or": [{"amount": {"$gt": 1000}}, {"currency": "EUR"}]}

A path may follow one whitelisted relation ("customer.type"); computed fields translate
through their own `to_q`; anything else (user__password, a private column) is refused.
"""

import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from workflows.records import RecordRegistryError

OPERATORS = {
    "$eq": "exact",
    "$ne": "exact",  # negated below
    "$gt": "gt",
    "$gte": "gte",
    "$lt": "lt",
    "$lte": "lte",
    "$in": "in",
    "$nin": "in",  # negated below
    "$contains": "contains",
    "$icontains": "icontains",
    "$startswith": "startswith",
    "$exists": "isnull",  # inverted below
}
NEGATED = {"$ne", "$nin"}


class FilterError(ValueError):
    """A filter names an unknown field or operator, or gives a value of the wrong shape."""


def build_q(record_type, spec) -> Q:
    if not isinstance(spec, dict):
        raise FilterError(f"a filter must be an object, not {type(spec).__name__}")
    q = Q()
    for key, condition in spec.items():
        if key in ("$or", "$and"):
            if not isinstance(condition, list) or not condition:
                raise FilterError(f"{key} takes a non-empty list of filters")
            parts = [build_q(record_type, part) for part in condition]
            combined = parts[0]
            for part in parts[1:]:
                combined = (combined | part) if key == "$or" else (combined & part)
            q &= combined
            continue
        if key.startswith("$"):
            raise FilterError(f"unknown filter operator '{key}'")
        q &= _field_q(record_type, key, condition)
    return q


def _field_q(record_type, path, condition):
    operations = condition if isinstance(condition, dict) else {"$eq": condition}
    if not operations:
        raise FilterError(f"'{path}': an empty operator object")
    q = Q()
    for operator, value in operations.items():
        if operator not in OPERATORS:
            raise FilterError(
                f"'{path}': unknown operator '{operator}' (known: {', '.join(OPERATORS)})"
            )
        q &= _operation_q(record_type, path, operator, value)
    return q


def _operation_q(record_type, path, operator, value):
    lookup = OPERATORS[operator]
    if operator in ("$in", "$nin") and not isinstance(value, list):
        raise FilterError(f"'{path}': {operator} takes a list")
    if operator == "$exists":
        if not isinstance(value, bool):
            raise FilterError(f"'{path}': $exists takes true or false")
        value = not value
    target_type, column = resolve_field(record_type, path)
    computed = target_type.computed.get(column)
    if computed is not None:
        if computed.to_q is None or lookup not in ("exact", "gt", "gte", "lt", "lte"):
            raise FilterError(f"'{path}' cannot be filtered with {operator}")
        prefix = "" if target_type is record_type else path.split(".")[0] + "__"
        q = _prefixed(computed.to_q(lookup, _whole_number(path, value)), prefix)
    else:
        if operator != "$exists":
            value = checked_value(target_type, path, column, operator, value)
        django_path = path.replace(".", "__")
        q = Q(**{f"{django_path}__{lookup}": value})
    return ~q if operator in NEGATED else q


def checked_value(record_type, path, column, operator, value):
    """The value as the column's type, or an error naming the field (never a database error)."""
    if operator in ("$contains", "$icontains", "$startswith"):
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise FilterError(f"'{path}': {operator} takes text, not {value!r}")
        return str(value)
    if value is None and operator in ("$eq", "$ne"):
        return None
    model_field = record_type.model_field(column)
    values = value if operator in ("$in", "$nin") else [value]
    try:
        converted = [_aware(model_field.to_python(item)) for item in values]
    except (ValidationError, TypeError, ValueError):
        kind = type(model_field).__name__.removesuffix("Field").lower() or "value"
        raise FilterError(f"'{path}': {value!r} is not a valid {kind}") from None
    return converted if operator in ("$in", "$nin") else converted[0]


def _aware(value):
    """A date alone given for a datetime column is midnight in the current timezone (the
    engine runs each step in its workflow's timezone)."""
    if isinstance(value, datetime.datetime) and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _whole_number(path, value):
    if isinstance(value, bool):
        raise FilterError(f"'{path}' compares with a number, not {value!r}")
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise FilterError(f"'{path}' compares with a number, not {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise FilterError(f"'{path}' compares with a whole number of days, not {value!r}")
    return int(number)


def uses_many_relation(record_type, spec):
    """Whether a filter follows a to-many relation (its matches would repeat records)."""
    if isinstance(spec, list):
        return any(uses_many_relation(record_type, part) for part in spec)
    if not isinstance(spec, dict):
        return False
    for key, value in spec.items():
        if key in ("$or", "$and"):
            if uses_many_relation(record_type, value):
                return True
        elif "." in key:
            relation = key.split(".")[0]
            if relation in record_type.relations and record_type.is_many(relation):
                return True
    return False


def resolve_field(record_type, path):
    """(record type that holds the field, field name) for a whitelisted path, else error."""
    parts = path.split(".")
    if len(parts) > 2:
        raise FilterError(f"'{path}': a filter follows at most one relation")
    if len(parts) == 2:
        relation, column = parts
        if relation not in record_type.relations:
            raise FilterError(f"'{relation}' is not a whitelisted relation of {record_type.entity}")
        try:
            target = record_type.related_type(relation)
        except RecordRegistryError as exc:
            raise FilterError(str(exc)) from None
    else:
        target, column = record_type, parts[0]
    if column not in target.fields and column not in target.computed:
        raise FilterError(
            f"'{path}' is not a whitelisted field of {target.entity} "
            f"(fields: {', '.join((*target.fields, *target.computed))})"
        )
    return target, column


def order_by_fields(record_type, order_by):
    fields = []
    for item in order_by or []:
        descending = item.startswith("-")
        name = item.lstrip("-")
        target, column = resolve_field(record_type, name)
        if column in target.computed:
            raise FilterError(f"cannot order by the computed field '{name}'")
        fields.append(("-" if descending else "") + name.replace(".", "__"))
    return fields


def _prefixed(q, prefix):
    if not prefix:
        return q
    children = []
    for child in q.children:
        if isinstance(child, Q):
            children.append(_prefixed(child, prefix))
        else:
            children.append((prefix + child[0], child[1]))
    new = Q(*children, _connector=q.connector, _negated=q.negated)
    return new
