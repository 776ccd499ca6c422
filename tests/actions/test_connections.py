"""Connections: secrets encrypted at rest, key rotation, auth helpers, and a planted secret
that must never surface in what runs store or log, whether they succeed or fail."""

import base64
import json
import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.db import connection as db
from werkzeug import Response

from actions.connections import (
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    auth_for,
    get_connection,
    mark_used,
    scrub,
    scrub_value,
    secret_values,
)
from actions.models import Connection
from actions.registry import ActionError
from automation import encryption
from triggers.models import WebhookEndpoint, WebhookSecret
from workflows.models import Execution, ExecutionVariable, StepRun

pytestmark = pytest.mark.django_db

FAST_RETRY = {"max_attempts": 2, "backoff_seconds": 0.01, "jitter": False}


def planted():
    """A secret made up for this run, recognisable wherever it leaks."""
    return "planted-" + base64.b32encode(__import__("os").urandom(20)).decode().lower()


@pytest.fixture
def keys(settings):
    """keys(*fernet_keys): use exactly these encryption keys (newest first)."""

    def use(*fernet_keys):
        settings.CONNECTION_ENCRYPTION_KEYS = list(fernet_keys)
        encryption.reset_keys()

    yield use
    encryption.reset_keys()  # the settings fixture restores the keys themselves


def raw_column(model, field, pk):
    table, column = model._meta.db_table, model._meta.get_field(field).column
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def http_connection(secret, auth="bearer", name="crm-api", **config):
    conn = Connection(name=name, provider="http", config={"auth": auth, **config})
    conn.secrets = {"token": secret} if auth == "bearer" else {"password": secret}
    conn.save()
    return conn


# -- at rest --------------------------------------------------------------------------------


def test_secrets_are_encrypted_in_the_database(keys):
    key = Fernet.generate_key().decode()
    keys(key)
    secret = planted()
    conn = http_connection(secret)

    stored = raw_column(Connection, "secret_data", conn.pk)
    assert secret not in stored
    assert json.loads(Fernet(key).decrypt(stored.encode())) == {"token": secret}
    assert Connection.objects.get(pk=conn.pk).secrets == {"token": secret}


def test_rotation_re_encrypts_everything_with_the_newest_key(keys, make_workflow):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(old)
    secret = planted()
    conn = http_connection(secret)
    empty = Connection.objects.create(name="no-secrets", provider="slack")
    endpoint = WebhookEndpoint.objects.create(workflow=make_workflow({"nodes": []}))
    signing = WebhookSecret.objects.create(endpoint=endpoint, secret="whsec_" + planted())

    keys(new, old)
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "actions.Connection.secret_data: 1 re-encrypted, 0 already current" in out.getvalue()
    assert "triggers.WebhookSecret.secret: 1 re-encrypted, 0 already current" in out.getvalue()

    for model, field, pk in [
        (Connection, "secret_data", conn.pk),
        (WebhookSecret, "secret", signing.pk),
    ]:
        token = raw_column(model, field, pk).encode()
        Fernet(new).decrypt(token)
        with pytest.raises(InvalidToken):
            Fernet(old).decrypt(token)
    assert raw_column(Connection, "secret_data", empty.pk) == ""

    keys(new)  # the old key is gone: everything still reads
    assert Connection.objects.get(pk=conn.pk).secrets == {"token": secret}
    assert WebhookSecret.objects.get(pk=signing.pk).secret == signing.secret

    # Again: nothing left to do, nothing changed.
    before = raw_column(Connection, "secret_data", conn.pk)
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "actions.Connection.secret_data: 0 re-encrypted, 1 already current" in out.getvalue()
    assert raw_column(Connection, "secret_data", conn.pk) == before


def test_rotation_reports_secrets_no_key_can_read(keys):
    lost, current = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys(lost)
    http_connection(planted())
    keys(current)
    out = StringIO()
    with pytest.raises(CommandError, match="1 stored secret"):
        call_command("rotate_encryption_keys", stdout=out)
    assert "1 unreadable" in out.getvalue()


def test_an_undecryptable_connection_is_a_clear_error(keys):
    keys(Fernet.generate_key().decode())
    http_connection(planted())
    keys(Fernet.generate_key().decode())
    with pytest.raises(ActionError, match="cannot be decrypted"):
        get_connection("crm-api", "http")


# -- finding a connection and its auth ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider", "message", "kind"),
    [
        (None, "http", "choose a http connection", "invalid_config"),
        ("nope", "http", "there is no connection 'nope'", "not_found"),
        (
            "crm-api",
            "twilio",
            "is a HTTP .* connection; this step needs a Twilio",
            "invalid_config",
        ),
    ],
)
def test_get_connection_errors_name_what_is_wrong(name, provider, message, kind):
    http_connection(planted())
    with pytest.raises(ActionError, match=message) as excinfo:
        get_connection(name, provider)
    assert excinfo.value.kind == kind


def test_get_connection_by_name_or_id():
    conn = http_connection(planted())
    assert get_connection("crm-api", "http") == conn
    assert get_connection(conn.pk, "http") == conn
    assert get_connection(str(conn.pk), "http") == conn


@pytest.mark.parametrize(
    ("config", "secrets", "auth_class", "redacted"),
    [
        (
            {"auth": "basic", "username": "u"},
            {"password": "p"},
            BasicAuth,
            {"Authorization": "Basic ***"},
        ),
        ({"auth": "bearer"}, {"token": "t"}, BearerAuth, {"Authorization": "Bearer ***"}),
        ({"auth": "header", "header": "X-Key"}, {"value": "v"}, HeaderAuth, {"X-Key": "***"}),
    ],
)
def test_auth_for_each_kind(config, secrets, auth_class, redacted):
    conn = Connection(name="c", provider="http", config=config)
    conn.secrets = secrets
    auth = auth_for(conn)
    assert isinstance(auth, auth_class)
    assert auth.redacted() == redacted


def test_auth_for_a_missing_secret_names_the_field_only():
    conn = Connection(name="c", provider="http", config={"auth": "bearer"})
    conn.secrets = {"password": "other-secret"}
    with pytest.raises(ActionError, match="has no 'token' secret") as excinfo:
        auth_for(conn)
    assert "other-secret" not in excinfo.value.message


def test_auth_for_without_auth_is_none():
    assert auth_for(Connection(name="c", provider="http", config={})) is None


# -- scrubbing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("token sk_1 refused", ["sk_1"], "token *** refused"),
        ("sk_12 and sk_1", ["sk_1", "sk_12"], "*** and ***"),  # the longer one whole
        ("nothing here", ["sk_1"], "nothing here"),
        ("a b", [""], "a b"),  # an empty secret is not everything
        ("url https://h/x/abc", {"hook_url": "https://h/x/abc"}, "url ***"),
        (None, ["x"], ""),
    ],
)
def test_scrub(text, secrets, expected):
    assert scrub(text, secrets) == expected


def test_scrub_value_cleans_nested_strings_and_keys():
    value = {"sk_1": ["x sk_1", {"k": "sk_1"}], "n": 3}
    assert scrub_value(value, ["sk_1"]) == {"***": ["x ***", {"k": "***"}], "n": 3}


def test_secret_values_include_the_forms_a_provider_echoes():
    conn = Connection(name="c", provider="http", config={"auth": "basic", "username": "u"})
    conn.secrets = {"password": "p w/1"}
    values = secret_values(conn)
    assert "p w/1" in values
    assert "p%20w%2F1" in values  # URL-encoded
    assert base64.b64encode(b"u:p w/1").decode() in values  # the Basic credentials


def test_mark_used_keeps_the_error_without_the_secret():
    secret = planted()
    conn = http_connection(secret)
    mark_used(conn, f"provider said: bad token {secret}")
    conn.refresh_from_db()
    assert conn.last_used_at is not None
    assert conn.last_error == "provider said: bad token ***"
    mark_used(conn)
    conn.refresh_from_db()
    assert conn.last_error == ""


# -- the planted secret ---------------------------------------------------------------------


def _echo(request):
    """A provider that quotes the credentials it received, in its body and a header."""
    seen = request.headers.get("Authorization", "")
    status = 500 if request.path == "/fail" else 200
    body = {"error" if status == 500 else "echo": f"credentials {seen}"}
    return Response(json.dumps(body), status, {"X-Echo": seen}, content_type="application/json")


def _everything_stored():
    rows = [
        *Execution.objects.values_list("trigger_data", "state", "error"),
        *StepRun.objects.values_list("input", "output", "error"),
        *ExecutionVariable.objects.values_list("value"),
        *Connection.objects.values_list("last_error"),
    ]
    return json.dumps(rows, default=str)


@pytest.mark.parametrize("auth", ["bearer", "basic"])
def test_a_planted_secret_never_surfaces(auth, httpserver_ipv4, settings, run_workflow, caplog):
    caplog.set_level(logging.DEBUG)
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    server = httpserver_ipv4
    server.expect_request("/ok").respond_with_handler(_echo)
    server.expect_request("/fail").respond_with_handler(_echo)
    secret = planted()
    http_connection(secret, auth=auth, username="api-user")

    def call(path):
        return run_workflow(
            {
                "name": "Leak check",
                "trigger": {"type": "manual"},
                "nodes": [
                    {
                        "id": "call",
                        "type": "action",
                        "action": "http_request",
                        "config": {
                            "url": f"http://127.0.0.1:{server.port}{path}",
                            "connection": "crm-api",
                        },
                        "outputs": ["reply"],
                        "retry": FAST_RETRY,
                    }
                ],
                "edges": [{"from": "trigger", "to": "call"}],
            }
        )

    succeeded, failed = call("/ok"), call("/fail")

    assert (succeeded.status, failed.status) == ("completed", "failed")
    # The secret really was sent (so its absence below means something)...
    sent = [request.headers["Authorization"] for request, _ in server.log]
    assert len(sent) == 3
    assert all(secret in h or secret in base64.b64decode(h.split()[1]).decode() for h in sent)
    # ...and the provider echoed it back, where it was replaced.
    assert "***" in json.dumps(succeeded.steps.get().output)
    assert "***" in failed.error["message"]
    # Nowhere in what the runs stored or logged, in any form the provider echoed.
    stored, logged = _everything_stored(), caplog.text
    for form in secret_values(Connection.objects.get(name="crm-api")):
        assert form not in stored
        assert form not in logged


@pytest.mark.django_db
def test_a_connection_without_secrets_loads_and_saves_again():
    from actions.models import Connection

    Connection.objects.create(name="Plain", provider="http", config={"auth": "bearer"})
    loaded = Connection.objects.get(name="Plain")
    assert loaded.secret_data == ""
    assert loaded.secrets == {}
    loaded.config = {"auth": "basic", "username": "ops"}
    loaded.save()  # an empty secret must come back as "", not NULL
    assert Connection.objects.get(name="Plain").config["username"] == "ops"
