"""JSON request bodies, refused with a 400 when no database could store them.

PostgreSQL refuses the NUL character in text and JSON, and neither database can encode a
lone surrogate (`"\\ud800"` is valid JSON but not UTF-8). Left to the database, such a
body becomes a 500 after the work is half done, and only on some databases; refused here,
every endpoint answers the same clear 400 on SQLite and PostgreSQL alike. Nesting too
deep for Python's JSON decoder is refused the same way.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StorableJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
        problem = unstorable(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


def unstorable(data):
    """Why `data` cannot be stored, or None. Iterative: a body may nest deeply."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "a string holds a NUL character (\\u0000)"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "a string holds a lone surrogate (not UTF-8)"
    return None
