"""Query plans: the SQL of a `query_records` filter compiled once per shape.

Most workflows read records by equalities whose values come from the run: `{"id": "{{
customer_id }}"}`, `{"customer.id": ...}`, with an order and a limit. Through the ORM, each
read rebuilt the same query: the filter's Q objects, the joins of select_related, the SQL,
the column layout; that was a quarter of the engine's time per step in the engine
benchmark (cProfile). A plan keeps what does not depend on the values: the SQL and the
compiler that knows its columns and converters. Each read then only converts the values
as their fields would, executes, and builds the model instances as the ORM does.

Only plain equalities on stored fields (at most one single relation deep), with an order
and a limit of at most `MAX_ROWS`, have plans; anything else (operators, `$or`, computed
fields, to-many relations, large reads) goes through the ORM as before. A plan is checked
when it is made: the values it would bind must be exactly the parameters Django compiled,
or the shape is left to the ORM.
"""

import threading
from collections import OrderedDict

from django.db import connections, router
from django.db.models import prefetch_related_objects
from django.db.models.query import get_related_populators

from .querying import build_q, checked_value, resolve_field

MAX_ROWS = 2000
MAX_PLANS = 512


class _Plan:
    def __init__(self, record_type, compiler, sql, fields):
        self.record_type = record_type
        self.compiler = compiler
        self.sql = sql
        self.fields = fields  # the model field each parameter binds to, in order
        klass_info, select = compiler.klass_info, compiler.select
        self.model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.own_columns = slice(start, end)
        self.init_list = [column[0].target.attname for column in select[start:end]]
        # Stateless: they build the select_related records of each row.
        self.populators = get_related_populators(klass_info, select, compiler.using)

    def params(self, values, connection):
        return [
            field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)
            for field, value in zip(self.fields, values, strict=True)
        ]

    def fetch(self, values, using):
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params(values, connection))
            rows = cursor.fetchall()
        instances = []
        for row in self.compiler.results_iter(results=[rows]):
            instance = self.model.from_db(using, self.init_list, row[self.own_columns])
            for populator in self.populators:
                populator.populate(row, instance)
            instances.append(instance)
        many = [r for r in self.record_type.relations if self.record_type.is_many(r)]
        if many:
            prefetch_related_objects(instances, *many)
        return instances


_plans: OrderedDict = OrderedDict()
_lock = threading.Lock()
_NO_PLAN = object()


def fetch(record_type, spec, order, limit):
    """The records a filter selects, through its plan; None when its shape has no plan
    (the caller then asks the ORM). Raises FilterError as the ORM path does."""
    if limit > MAX_ROWS:
        return None
    equalities = _equalities(record_type, spec)
    if equalities is None:
        return None
    using = router.db_for_read(record_type.model)
    key = (using, record_type.entity, tuple(path for path, _, _ in equalities), tuple(order), limit)
    values = [value for _, _, value in equalities]
    with _lock:
        plan = _plans.get(key)
        if plan is not None:
            _plans.move_to_end(key)
    if plan is None or (plan is not _NO_PLAN and plan.record_type is not record_type):
        plan = _make(record_type, spec, order, limit, using, equalities)
        with _lock:
            _plans[key] = plan
            while len(_plans) > MAX_PLANS:
                _plans.popitem(last=False)
    if plan is _NO_PLAN:
        return None
    return plan.fetch(values, using)


def _equalities(record_type, spec):
    """[(path, model field, value)] when every condition is an equality with a value on a
    stored field; None otherwise."""
    if not isinstance(spec, dict):
        return None
    found = []
    for path, condition in spec.items():
        if path.startswith("$"):
            return None
        if isinstance(condition, dict):
            if list(condition) != ["$eq"]:
                return None
            condition = condition["$eq"]
        if condition is None or isinstance(condition, dict | list):
            return None
        target_type, column = resolve_field(record_type, path)
        if column in target_type.computed:
            return None
        if target_type is not record_type and record_type.is_many(path.split(".")[0]):
            return None
        value = checked_value(target_type, path, column, "$eq", condition)
        found.append((path, target_type.model_field(column), value))
    return found


def _make(record_type, spec, order, limit, using, equalities):
    queryset = record_type.queryset().using(using).filter(build_q(record_type, spec))
    queryset = queryset.order_by(*order) if order else queryset.order_by("pk")
    compiler = queryset[:limit].query.get_compiler(using=using)
    sql, params = compiler.as_sql()
    plan = _Plan(record_type, compiler, sql, [field for _, field, _ in equalities])
    expected = plan.params([value for _, _, value in equalities], connections[using])
    return plan if list(params) == expected else _NO_PLAN
