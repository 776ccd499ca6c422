"""Model fields of our own."""

from django.db import models


class RowInsertedJSONField(models.JSONField):
    """A JSONField that PostgreSQL bulk-inserts as VALUES rows rather than UNNEST arrays.

    Django 5.2 bulk-inserts on PostgreSQL through `UNNEST(%s::jsonb[], ...)`, and psycopg
    escapes each JSON document into an array literal with a regular expression: for the
    step records a run writes at its checkpoint, that measured three times the CPU of the
    INSERT itself. A field with its own placeholder makes Django keep VALUES rows.
    """

    def get_placeholder(self, value, compiler, connection):
        return "%s"
