"""zapier_event against a local server standing in for hooks.zapier.com: the exact POST a
catch hook receives, a hook URL kept secret in a connection, error answers and test mode."""

import json
import logging
import secrets
from types import SimpleNamespace

import pytest

from actions.models import Connection
from actions.registry import ActionContext, ActionError, registry
from tests.support.definitions import step_table

pytestmark = pytest.mark.django_db

FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}
# What Zapier answers a catch hook with.
ZAPIER_ACCEPTED = {
    "attempt": "0189c3a0-aaaa-bbbb-cccc-000000000001",
    "id": "0189c3a0-aaaa-bbbb-cccc-000000000002",
    "request_id": "0189c3a0-aaaa-bbbb-cccc-000000000003",
    "status": "success",
}


@pytest.fixture
def zapier(httpserver_ipv4, settings):
    """The local server, trusted and configured as Zapier's hook base URL."""
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1"]
    settings.ZAPIER_HOOKS_BASE_URL = f"http://127.0.0.1:{httpserver_ipv4.port}/hooks/"
    return httpserver_ipv4


def hook(server, path="/hooks/catch/123456/abcdef/"):
    return f"http://127.0.0.1:{server.port}{path}"


@pytest.fixture
def secret_hook(zapier):
    """A Zapier connection whose hook URL (the credential) is made up per run."""
    path = f"/hooks/catch/987654/{secrets.token_hex(8)}/"
    conn = Connection(name="zapier-finance", provider="zapier")
    conn.secrets = {"hook_url": hook(zapier, path)}
    conn.save()
    return SimpleNamespace(connection=conn, path=path)


def context(**overrides):
    values = {
        "execution": SimpleNamespace(public_id="exe_zap"),
        "node_id": "zap",
        "path": "zap",
        "attempt": 1,
        "timezone": None,
        "now": None,
    }
    return ActionContext(**{**values, **overrides})


def workflow(config, **node):
    return {
        "name": "Zapier",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "zap", "type": "action", "action": "zapier_event", "config": config, **node}
        ],
        "edges": [{"from": "trigger", "to": "zap"}],
    }


def test_posts_the_event_as_json_to_the_catch_hook(zapier):
    zapier.expect_request(
        "/hooks/catch/123456/abcdef/",
        method="POST",
        headers={"Content-Type": "application/json"},
        json={
            "event": "invoice.overdue",
            "data": {"invoice": "INV-7", "amount": "1250.00"},
            "meta": {"execution": "exe_zap", "step": "zap", "idempotency_key": "exe_zap:zap"},
        },
    ).respond_with_json(ZAPIER_ACCEPTED)

    output = registry.get("zapier_event").run(
        {
            "hook_url": hook(zapier),
            "event": "invoice.overdue",
            "data": {"invoice": "INV-7", "amount": "1250.00"},
        },
        context(),
    )
    assert len(zapier.log) == 1
    assert output == {
        "status": "success",
        "id": ZAPIER_ACCEPTED["id"],
        "request_id": ZAPIER_ACCEPTED["request_id"],
        "attempt": ZAPIER_ACCEPTED["attempt"],
    }


def test_a_hook_kept_in_a_connection_stays_out_of_the_record(
    zapier, secret_hook, run_workflow, caplog
):
    caplog.set_level(logging.DEBUG)
    zapier.expect_request(secret_hook.path, method="POST").respond_with_json(ZAPIER_ACCEPTED)
    execution = run_workflow(
        workflow({"connection": "zapier-finance", "event": "payment.received", "data": {"n": 1}})
    )
    assert execution.status == "completed"
    assert [request.path for request, _ in zapier.log] == [secret_hook.path]
    step = execution.steps.get()
    assert secret_hook.path not in json.dumps([step.input, step.output, step.error])
    assert "POST /(path hidden)" in caplog.text  # urllib3's request line, without the path
    secret = secret_hook.path.strip("/").rsplit("/", 1)[-1]
    # Every log line but the stand-in provider's own access log (werkzeug).
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert ours
    assert secret not in "\n".join(ours)
    secret_hook.connection.refresh_from_db()
    assert secret_hook.connection.last_used_at is not None


@pytest.mark.parametrize(
    "outside",
    [
        "http://127.0.0.1:{port}/elsewhere/",  # another path
        "http://127.0.0.1:{other}/hooks/catch/1/a/",  # another port
        "https://127.0.0.1:{port}/hooks/catch/1/a/",  # another scheme
    ],
)
def test_a_hook_outside_zapier_is_refused_before_sending(zapier, outside):
    hook_url = outside.format(port=zapier.port, other=zapier.port + 1)
    with pytest.raises(ActionError, match="not a Zapier hook URL") as excinfo:
        registry.get("zapier_event").run({"hook_url": hook_url, "event": "x"}, context())
    assert excinfo.value.kind == "invalid_config"
    assert zapier.log == []


def test_the_guard_applies_to_zapier_too(zapier, settings):
    settings.OUTBOUND_ALLOWLIST = []
    with pytest.raises(ActionError) as excinfo:
        registry.get("zapier_event").run({"hook_url": hook(zapier), "event": "x"}, context())
    assert excinfo.value.kind == "refused"
    assert zapier.log == []


def test_a_turned_off_zap_is_a_client_error_not_retried(zapier, run_workflow):
    zapier.expect_request("/hooks/catch/123456/abcdef/").respond_with_data("", status=410)
    execution = run_workflow(workflow({"hook_url": hook(zapier), "event": "x"}, retry=FAST_RETRY))
    assert execution.status == "failed"
    assert execution.error["type"] == "client_error"
    assert "the Zap is off" in execution.error["message"]
    assert len(zapier.log) == 1


@pytest.mark.parametrize(("status", "kind"), [(500, "server_error"), (429, "rate_limited")])
def test_server_errors_and_throttling_are_retried(zapier, run_workflow, status, kind):
    zapier.expect_request("/hooks/catch/123456/abcdef/").respond_with_data("", status=status)
    execution = run_workflow(workflow({"hook_url": hook(zapier), "event": "x"}, retry=FAST_RETRY))
    assert execution.error["type"] == kind
    assert len(zapier.log) == 3
    assert [s for _, s, _ in step_table(execution)] == ["retrying", "retrying", "failed"]


def test_a_secret_hook_in_an_error_is_scrubbed(zapier, secret_hook, run_workflow):
    # A provider that quotes the URL it was called at in its error page.
    zapier.expect_request(secret_hook.path).respond_with_data(
        f"no such hook: {hook(zapier, secret_hook.path)}", status=404
    )
    execution = run_workflow(workflow({"connection": "zapier-finance", "event": "x"}))
    assert execution.status == "failed"
    assert "no such hook: ***" in execution.error["message"]
    assert secret_hook.path not in json.dumps(execution.error)
    secret_hook.connection.refresh_from_db()
    assert secret_hook.path not in secret_hook.connection.last_error


def test_simulate_shows_the_payload_and_hides_a_secret_hook(zapier, secret_hook):
    result = registry.get("zapier_event").simulate(
        {"connection": "zapier-finance", "event": "x", "data": {"a": 1}}, context(is_test=True)
    )
    assert result["request"]["url"] == "***"
    assert result["request"]["json"]["data"] == {"a": 1}
    assert secret_hook.path not in json.dumps(result)
    assert zapier.log == []


def test_a_test_run_sends_nothing(zapier, run_workflow):
    zapier.expect_request("/hooks/catch/123456/abcdef/").respond_with_json(ZAPIER_ACCEPTED)
    execution = run_workflow(
        workflow({"hook_url": hook(zapier), "event": "invoice.sent", "data": {}}), test=True
    )
    assert execution.status == "completed"
    assert zapier.log == []
    assert execution.steps.get().output["request"]["json"]["event"] == "invoice.sent"
