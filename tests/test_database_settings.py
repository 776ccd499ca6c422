"""How the product talks to its database."""

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_postgresql_binds_on_the_server_and_prepares_repeated_statements():
    """Prepared statements made the engine's step 30% cheaper (DATABASE_PREPARED_STATEMENTS);
    SQLite has nothing of the kind."""
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor != "postgresql":
        assert "server_side_binding" not in options
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor
        assert type(raw) is not psycopg.ClientCursor  # values go as parameters
        for _ in range(6):
            cursor.execute("SELECT %s::int + 1", [41])
        assert cursor.fetchone() == (42,)
    assert connection.connection.prepare_threshold == 5
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] >= 1  # the repeated one is prepared on the server
