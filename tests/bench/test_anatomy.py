"""The benchmark's anatomy: counting round trips and commits, and pricing them at the
machine's round trip and commit flush."""

import pytest
from django.db import connection, transaction

from bench.anatomy import FLOOR_TABLE, Counts, anatomy, database_floor


def test_floor_prices_queries_begin_commit_pairs_and_flushes():
    machine = {"round_trip": 100.0, "flush": 500.0}
    # 5 queries, one explicit transaction (BEGIN and COMMIT: 2 more round trips), two
    # durable commits (the transaction's and an autocommit write's).
    counts = Counts(queries=5, commits=2, transactions=1)
    assert counts.floor(machine) == 7 * 100 + 2 * 500


def test_counts_subtract_field_by_field():
    added = Counts(queries=3, commits=1, transactions=1, live_messages=4) - Counts(
        queries=1, commits=1, transactions=0, live_messages=1
    )
    assert added == Counts(queries=2, commits=0, transactions=1, live_messages=3)


def _insert_group(name):
    # Straight SQL, not Group.objects.create(): another test may register a model as a
    # record type, whose save() is then wrapped in a transaction for good.
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO auth_group (name) VALUES (%s)", [name])


@pytest.mark.django_db(transaction=True)
def test_anatomy_counts_an_autocommit_write_and_a_transaction():
    with anatomy() as alone:
        _insert_group("alone")
    assert (alone.queries, alone.commits, alone.transactions) == (1, 1, 0)

    with anatomy() as together, transaction.atomic():
        _insert_group("one")
        _insert_group("two")
    # SQLite's BEGIN goes through Django's cursor: a transaction, not a query.
    assert (together.queries, together.commits, together.transactions) == (2, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_database_floor_measures_and_leaves_no_table():
    machine = database_floor(blocks=2, per_block=5)
    assert machine["round_trip"] > 0
    assert machine["flush"] >= 0
    assert FLOOR_TABLE not in connection.introspection.table_names()
    assert connection.get_autocommit()  # the sampling transaction was closed
