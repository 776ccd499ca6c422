"""The webhook endpoint behind a URL token, with its workflow and current version, read
with one SQL statement made once per process.

Each request to a webhook looks its endpoint up. Through the ORM (select_related of the
workflow and its version, an EXISTS for the secrets) compiling that query took a third of
the web process's CPU per request at concurrency 16 (py-spy, GIL samples). The statement
never changes, so it is built once from the models' metadata and the rows are turned into
model instances with the fields' own converters, as the ORM would. Only the version comes
from memory: a saved version never changes (`WorkflowVersion.save` refuses), so a cached
one cannot be stale; the endpoint's and workflow's rows (and the version's number and
checksum, which key the cache) are read on every request.
"""

from functools import lru_cache

from django.db import connections, router

from workflows.models import Workflow, WorkflowVersion

from .models import WebhookEndpoint, WebhookSecret


def find_endpoint(token):
    """The endpoint, its workflow (and current version) attached, and `signs`: whether it
    has signing secrets. None when no endpoint has this token."""
    using = router.db_for_read(WebhookEndpoint)
    connection = connections[using]
    statement = _statement(using)
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, [token])
        row = cursor.fetchone()
    if row is None:
        return None
    values = [statement.convert(i, value, connection) for i, value in enumerate(row)]
    split = len(statement.endpoint_fields)
    workflow_end = split + len(statement.workflow_fields)
    endpoint = WebhookEndpoint.from_db(using, statement.endpoint_names, values[:split])
    workflow = Workflow.from_db(using, statement.workflow_names, values[split:workflow_end])
    if workflow.current_version_id is not None:
        number, checksum = values[workflow_end + 1 :]
        workflow.current_version = version(
            workflow.current_version_id, workflow.pk, number, checksum
        )
    endpoint.workflow = workflow
    endpoint.signs = bool(values[workflow_end])
    return endpoint


@lru_cache(maxsize=1024)
def version(pk, workflow_id, number, checksum):
    """A saved workflow version, read once per process. Keyed by what identifies its
    content too, not its id alone: an id can come back after a rollback (SQLite reuses
    it), and a different version under the same id must not be served from here."""
    return WorkflowVersion.objects.get(pk=pk)


class _Statement:
    def __init__(self, using):
        connection = connections[using]
        quote = connection.ops.quote_name
        self.endpoint_fields = list(WebhookEndpoint._meta.concrete_fields)
        self.workflow_fields = list(Workflow._meta.concrete_fields)
        self.endpoint_names = [field.attname for field in self.endpoint_fields]
        self.workflow_names = [field.attname for field in self.workflow_fields]
        endpoint_table = quote(WebhookEndpoint._meta.db_table)
        workflow_table = quote(Workflow._meta.db_table)
        secret_table = quote(WebhookSecret._meta.db_table)
        secret_fk = quote(WebhookSecret._meta.get_field("endpoint").column)
        columns = [f"e.{quote(field.column)}" for field in self.endpoint_fields]
        columns += [f"w.{quote(field.column)}" for field in self.workflow_fields]
        endpoint_pk = quote(WebhookEndpoint._meta.pk.column)
        # Only the models' own table and column names, quoted: nothing from outside.
        secret = f"SELECT 1 FROM {secret_table} s WHERE s.{secret_fk} = e.{endpoint_pk}"  # noqa: S608
        columns.append(f"EXISTS ({secret})")
        version_table = quote(WorkflowVersion._meta.db_table)
        columns += [
            f"v.{quote(WorkflowVersion._meta.get_field(name).column)}"
            for name in ("number", "checksum")
        ]
        self.sql = (
            f"SELECT {', '.join(columns)} FROM {endpoint_table} e "  # noqa: S608
            f"JOIN {workflow_table} w ON w.{quote(Workflow._meta.pk.column)} = "
            f"e.{quote(WebhookEndpoint._meta.get_field('workflow').column)} "
            f"LEFT JOIN {version_table} v ON v.{quote(WorkflowVersion._meta.pk.column)} = "
            f"w.{quote(Workflow._meta.get_field('current_version').column)} "
            f"WHERE e.{quote(WebhookEndpoint._meta.get_field('token').column)} = %s"
        )
        # What the ORM applies to each column's raw value on this backend (SQLite's text
        # datetimes, JSON text, ...), with the column expression it passes them.
        self.converters = [
            (field.cached_col, _converters(field.cached_col, connection))
            for field in self.endpoint_fields + self.workflow_fields
        ]
        self.converters.append((None, []))  # the EXISTS: a boolean, or 0/1 on SQLite
        self.converters += [(None, []), (None, [])]  # the version's number and checksum

    def convert(self, index, value, connection):
        column, converters = self.converters[index]
        for converter in converters:
            value = converter(value, column, connection)
        return value


def _converters(column, connection):
    return connection.ops.get_db_converters(column) + column.get_db_converters(connection)


_statements = {}


def _statement(using):
    statement = _statements.get(using)
    if statement is None:
        statement = _statements[using] = _Statement(using)
    return statement
