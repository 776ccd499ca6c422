"""Model fields of our own."""

import json

import orjson
from django.db import models
from psycopg.types.json import Jsonb

# Keys that are not strings become strings, as json.dumps makes them. Datetimes and
# dataclasses are not serialised (json.dumps refuses them too): they go to the fallback,
# which raises the same TypeError as Django's own JSONField.
_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def dumps(value):
    """JSON text as bytes, in one buffer.

    json.dumps builds a list of small strings (a key, a separator, a value...) and joins
    them: for a 100,000-record query result that list held about 330 MB for a 40 MB text.
    orjson writes into one buffer, about ten times faster. What it cannot take (an integer
    over 64 bits) goes through json.dumps as before.
    """
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    return json.dumps(value).encode()


def loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # NaN or Infinity, which older rows may hold


class DumpedJSON(str):
    """A value's JSON text, made already (`large_json.bulk_create` serialises each value
    once to learn its size): stored as it is, not serialised again."""

    __slots__ = ()


class FastJSONField(models.JSONField):
    """A JSONField encoded and decoded with orjson (the engine's records, events' payloads).

    Same column, same lookups, same values as Django's JSONField; a field given its own
    `encoder` or `decoder` behaves exactly as Django's.
    """

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if self.encoder is not None or hasattr(value, "as_sql"):
            return super().get_db_prep_value(value, connection, prepared=True)
        if type(value) is DumpedJSON:
            return str(value)
        if connection.vendor == "postgresql":
            return Jsonb(value, dumps=dumps)
        # Text, not bytes: SQLite reads a BLOB as its binary JSONB format.
        return dumps(value).decode()

    def from_db_value(self, value, expression, connection):
        if self.decoder is not None or not isinstance(value, str | bytes):
            return super().from_db_value(value, expression, connection)
        try:
            return loads(value)
        except json.JSONDecodeError:
            return value  # as Django's: a key transform's plain text


class BulkJSONField(FastJSONField):
    """The JSON columns the engine writes in bulk and large: step records and variables.

    - PostgreSQL bulk-inserts it as VALUES rows, not UNNEST arrays. Django 5.2 bulk-inserts
      through `UNNEST(%s::jsonb[], ...)`, and psycopg escapes each JSON document into an
      array literal with a regular expression: for the step records of a checkpoint that
      measured three times the CPU of the INSERT itself. A field with its own placeholder
      makes Django keep VALUES rows.
    - SQLite has no `JSON_VALID` CHECK on it. The check parses the whole text on every
      write: for a 15 MB query result it held four times the text's size in this process.
      What is written here is always orjson's output, valid by construction.
    """

    def get_placeholder(self, value, compiler, connection):
        return "%s"

    def db_check(self, connection):
        return None
