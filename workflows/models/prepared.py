"""The engine's own writes with statements built once per shape: the step records' INSERT
and the checkpoint's UPDATE of its execution.

Every checkpoint inserts its step records and updates its execution. `bulk_create`
compiles the same INSERT each time (a placeholder and a prepared value per field per row,
through the query compiler): in the engine benchmark that compile was a tenth of a run's
time. Here the statement is made once per (model, database, number of rows) and each
value is prepared by its field, as `bulk_create` prepares it; the primary keys come back
with RETURNING, in row order, as `bulk_create` takes them too. No signals are sent
(`bulk_create` sends none either).

The checkpoint's conditional UPDATE (`QuerySet.filter(...).update(...)`, compiled each
time the same way) is made once per (model, database, columns) likewise; it sends no
signals, as `QuerySet.update` sends none.

Only models whose fields compute nothing on save (no auto_now) and databases that return
rows from a bulk insert take this path; `insert` reports False for the others and the
caller uses `bulk_create`. The outbox's event INSERT is made by `insertable_fields` and
`insert_statement` too.
"""

from django.db import connections

from .fields import BulkJSONField

MAX_ROWS = 100

_statements: dict = {}


def insert(model, objs, using):
    """INSERT `objs` (unsaved instances of `model`) on `using`; their primary keys set.
    False (nothing written) when this path cannot serve the model or database."""
    connection = connections[using]
    fields = insertable_fields(model, connection)
    if fields is None:
        return False
    for start in range(0, len(objs), MAX_ROWS):
        batch = objs[start : start + MAX_ROWS]
        params = []
        for obj in batch:
            for field in fields:
                params.append(_saved(field, getattr(obj, field.attname), connection))
        with connection.cursor() as cursor:
            cursor.execute(insert_statement(model, connection, fields, len(batch)), params)
            pks = [row[0] for row in cursor.fetchall()]
        for obj, pk in zip(batch, pks, strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = using
    return True


def insertable_fields(model, connection):
    """The fields an INSERT of `model` writes, in column order; None when this module's
    statements cannot serve it (a field computed on save, or no RETURNING of rows)."""
    key = (model, connection.vendor)
    if key not in _statements:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        usable = connection.features.can_return_rows_from_bulk_insert and not any(
            getattr(f, "auto_now", False)
            or getattr(f, "auto_now_add", False)
            or (hasattr(f, "get_placeholder") and not isinstance(f, BulkJSONField))
            for f in fields
        )
        _statements[key] = fields if usable else None
    return _statements[key]


def insert_statement(model, connection, fields, rows):
    """INSERT of `rows` rows of `fields`, returning their primary keys; made once."""
    key = (model, connection.vendor, rows)
    sql = _statements.get(key)
    if sql is None:
        meta, quote = model._meta, connection.ops.quote_name
        row = "({})".format(", ".join(["%s"] * len(fields)))
        # Only the model's own table and column names, quoted: nothing from outside.
        sql = _statements[key] = "INSERT INTO {} ({}) VALUES {} RETURNING {}".format(  # noqa: S608
            quote(meta.db_table),
            ", ".join(quote(f.column) for f in fields),
            ", ".join([row] * rows),
            quote(meta.pk.column),
        )
    return sql


def update(model, using, where, values):
    """`model.objects.using(using).filter(**where).update(**values)` for equalities on
    columns (`where` and `values` by attname, `where` values not None); the rows changed."""
    connection = connections[using]
    meta = model._meta
    key = (model, connection.vendor, tuple(where), tuple(values))
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name

        def columns(names, separator):
            return separator.join(f"{quote(meta.get_field(name).column)} = %s" for name in names)

        # Only the model's own table and column names, quoted: nothing from outside.
        sql = _statements[key] = "UPDATE {} SET {} WHERE {}".format(  # noqa: S608
            quote(meta.db_table), columns(values, ", "), columns(where, " AND ")
        )
    params = [_saved(meta.get_field(name), value, connection) for name, value in values.items()]
    for name, value in where.items():
        field = meta.get_field(name)
        params.append(field.get_db_prep_value(field.get_prep_value(value), connection, True))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _saved(field, value, connection):
    return None if value is None else field.get_db_prep_save(value, connection)
