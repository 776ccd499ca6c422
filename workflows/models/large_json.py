"""Bulk inserts of the engine's JSON columns, with large values written in place on SQLite.

A value bound to an SQLite statement is copied by sqlite3 (SQLITE_TRANSIENT), and the row
is built from that copy: writing a 40 MB query result as text held the text three times
over, and Python's statement cache kept the last bound copy alive until that statement
ran again. The scale benchmark's loop over 100,000 records wrote such a value four times
(step output, `records`, `nodes.records`, the loop's items) and grew by 220 MB.

So on SQLite a JSON value of `LARGE_JSON_BYTES` or more is inserted as `zeroblob(n)` (SQLite
stores its size, not its zeros) and its bytes are then written into the row through
SQLite's incremental blob I/O, a megabyte at a time from orjson's buffer: the value's JSON
is in memory once. Same transaction, so nobody sees the row before its value is there.
The column then holds a BLOB; the field reads it back as JSON (orjson takes bytes). Our
SQL never applies SQLite's JSON functions to these columns (SQLite 3.45+ would read a BLOB
as its binary JSONB format).

Everything else is inserted as before: through `workflows.models.prepared` (on SQLite the
small values serialised once here, not again by the field), and through `bulk_create`
for upserts.
"""

from django.db import connections, router, transaction
from django.db.models import Func, Value

from . import prepared
from .fields import BulkJSONField, DumpedJSON, dumps

LARGE_JSON_BYTES = 1 << 20
_CHUNK = 1 << 20


def bulk_create(model, objs, **kwargs):
    """`model.objects.bulk_create(objs, **kwargs)`; large JSON values go in place on SQLite.

    `objs` keep their Python values (the engine and the live log go on using them)."""
    using = router.db_for_write(model)
    connection = connections[using]
    fields = [f for f in model._meta.concrete_fields if isinstance(f, BulkJSONField)]
    if connection.vendor != "sqlite" or not fields:
        return _create(model, objs, using, kwargs)
    originals, large = [], []
    for obj in objs:
        for field in fields:
            value = getattr(obj, field.attname)
            if value is None or hasattr(value, "as_sql"):
                continue
            originals.append((obj, field.attname, value))
            data = dumps(value)
            if len(data) >= LARGE_JSON_BYTES:
                large.append((obj, field.column, data))
                setattr(obj, field.attname, Func(Value(len(data)), function="zeroblob"))
            else:
                setattr(obj, field.attname, DumpedJSON(data.decode()))
            del data
    try:
        with transaction.atomic(using=using, savepoint=False):
            created = _create(model, objs, using, kwargs, expressions=bool(large))
            if large:
                _write_in_place(connection, model._meta.db_table, large)
    finally:
        for obj, attname, value in originals:
            setattr(obj, attname, value)
    return created


def _create(model, objs, using, kwargs, *, expressions=False):
    """A plain insert through its prepared statement; an upsert, or rows holding
    expressions, through `bulk_create`."""
    if not kwargs and not expressions and prepared.insert(model, objs, using):
        return objs
    return model._default_manager.using(using).bulk_create(objs, **kwargs)


def _write_in_place(connection, table, large):
    raw = connection.connection
    for obj, column, data in large:
        view = memoryview(data)
        with raw.blobopen(table, column, obj.pk) as blob:
            for start in range(0, len(view), _CHUNK):
                blob.write(view[start : start + _CHUNK])
