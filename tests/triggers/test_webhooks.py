"""Webhooks end to end through `/hooks/<token>`, and manual runs.

The module runs on a transactional database: the view works in autocommit as in production,
so the run dispatched after commit (Celery is eager here) and the inline on_completion run
both happen inside the request, as they would for a real sender.
"""

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from standardwebhooks.webhooks import Webhook

from tests.support.definitions import chain, definition, probe
from triggers import views, webhooks
from triggers.models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from triggers.webhook_signatures import generate_secret
from workflows.models import Execution
from workflows.services import ExecutionRefused, recover
from workflows.services import run as run_execution_by_id

pytestmark = pytest.mark.django_db(transaction=True)

REPLY = definition(
    [
        probe("first", value="{{ body.invoice }}"),
        probe("reply", value='{{ query.ref | default("none") }}'),
    ],
    chain("first", "reply"),
    trigger={"type": "webhook"},
)


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


@pytest.fixture
def hook(make_workflow):
    """hook(definition=REPLY, signed=False, **trigger_config) -> (workflow, url, secret)."""

    def make(body=REPLY, *, signed=False, **config):
        body = {**body, "trigger": {"type": "webhook", "config": config}}
        workflow = make_workflow(body, status="active")
        secret = webhooks.rotate_secret(workflow) if signed else None
        return workflow, webhooks.webhook_url(workflow), secret

    return make


def signed_headers(secret, body, *, msg_id="msg_1", at=None):
    """Headers as a Standard Webhooks sender (the reference package) would send them."""
    at = int(time.time()) if at is None else at
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(at, tz=UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


def post(client, url, body=b'{"invoice": 42}', *, content_type="application/json", **headers):
    return client.post(url, data=body, content_type=content_type, headers=headers)


def nothing_created():
    return not Execution.objects.exists() and not WebhookDelivery.objects.exists()


# -- a run starts ------------------------------------------------------------------------------


def test_a_signed_webhook_starts_a_run_with_the_exact_trigger_data(client, hook):
    workflow, url, secret = hook(signed=True)
    body = b'{"invoice": 42, "lines": [{"amount": "1250.00"}]}'
    sent = signed_headers(secret, body)

    response = post(client, f"{url}?ref=INV-42&tag=a&tag=b", body, **sent, x_request_source="crm")

    assert response.status_code == 202
    execution = Execution.objects.get()
    assert response.json() == {"execution_id": execution.public_id, "status": "pending"}
    assert execution.workflow == workflow
    assert execution.trigger_type == "webhook"
    assert execution.trigger_key == "webhook:msg_1"
    assert execution.trigger_data == {
        "body": {"invoice": 42, "lines": [{"amount": "1250.00"}]},
        "headers": {
            "content-length": str(len(body)),
            "content-type": "application/json",
            "webhook-id": "msg_1",
            "webhook-timestamp": sent["webhook-timestamp"],
            "x-request-source": "crm",
        },
        "query": {"ref": "INV-42", "tag": ["a", "b"]},
        "method": "POST",
    }
    # Dispatched after commit, and the run saw the data.
    assert execution.status == "completed"
    assert [s.output["value"] for s in execution.steps.order_by("id")] == [42, "INV-42"]
    assert WebhookDelivery.objects.get().execution == execution


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b'["a", 1]', ["a", 1]),
        ("application/cloudevents+json", b'{"id": "e1"}', {"id": "e1"}),
        ("application/json; charset=utf-8", '{"name": "Zoë"}'.encode(), {"name": "Zoë"}),
        ("text/plain", b"hello", "hello"),
        ("application/x-www-form-urlencoded", b"a=1&b=2", "a=1&b=2"),
        # (the test client re-encodes UTF-8 bytes to the declared charset: latin-1 is sent)
        ("text/plain; charset=latin-1", "Zoë".encode(), "Zoë"),
        ("application/octet-stream", b"\xff\xfe", "\ufffd\ufffd"),
        ("application/json", b"", ""),
        # What neither database can store in JSON is replaced, the same on both.
        ("application/json", b'{"note": "a\\u0000b"}', {"note": "a\ufffdb"}),
        ("text/plain", b"a\x00b", "a\ufffdb"),
        ("application/json", b'{"half": "\\ud800"}', {"half": "?"}),
    ],
)
def test_a_json_body_is_parsed_and_any_other_body_is_text(
    client, hook, content_type, body, expected
):
    _, url, _ = hook()
    response = post(client, url, body, content_type=content_type)
    assert response.status_code == 202, response.content
    assert Execution.objects.get().trigger_data["body"] == expected


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"a": NaN}', b'{"a": Infinity}', b"[" * 5000 + b"]" * 5000]
)
def test_a_json_content_type_with_a_body_that_is_not_json_is_a_400(client, hook, body):
    _, url, _ = hook()
    response = post(client, url, body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")
    assert nothing_created()


def test_secrets_never_reach_the_trigger_data(client, hook):
    _, url, secret = hook(signed=True)
    body = b"{}"
    response = post(
        client,
        url,
        body,
        **signed_headers(secret, body),
        authorization="Bearer s3cret",
        proxy_authorization="Basic eA==",
        cookie="sessionid=abc",
        x_api_key="k",
        x_hub_signature_256="sha256=00",
        x_webhook_secret="s",
        x_auth_token="t",
        x_trace="keep-me",
    )
    assert response.status_code == 202
    headers = Execution.objects.get().trigger_data["headers"]
    assert set(headers) == {
        "content-length",
        "content-type",
        "webhook-id",
        "webhook-timestamp",
        "x-trace",
    }
    assert "s3cret" not in json.dumps(headers)


def test_the_url_works_with_a_trailing_slash(client, hook):
    _, url, _ = hook()
    assert post(client, url + "/").status_code == 202


# -- refused, and nothing created ---------------------------------------------------------------

BODY = b'{"invoice": 42}'


def _unsigned(secret):
    return {}


def _wrong_secret(secret):
    return signed_headers(generate_secret(), BODY)


def _tampered_body(secret):
    return signed_headers(secret, b'{"invoice": 43}')


def _too_old(secret):
    return signed_headers(secret, BODY, at=int(time.time()) - 301)


def _too_new(secret):
    return signed_headers(secret, BODY, at=int(time.time()) + 301)


def _garbled(secret):
    return {**signed_headers(secret, BODY), "webhook-signature": "v1 nonsense,,"}


def _no_id(secret):
    headers = signed_headers(secret, BODY)
    del headers["webhook-id"]
    return headers


def _non_numeric_timestamp(secret):
    return {**signed_headers(secret, BODY), "webhook-timestamp": "yesterday"}


@pytest.mark.parametrize(
    "make_headers",
    [
        _unsigned,
        _wrong_secret,
        _tampered_body,
        _too_old,
        _too_new,
        _garbled,
        _no_id,
        _non_numeric_timestamp,
    ],
)
def test_a_signed_endpoint_refuses_bad_requests_with_401_and_creates_nothing(
    client, hook, make_headers
):
    _, url, secret = hook(signed=True)
    response = post(client, url, BODY, **make_headers(secret))
    assert response.status_code == 401
    assert response.json()["error"].startswith("signature refused")
    assert nothing_created()


@pytest.mark.parametrize("status", ["paused", "archived"])
def test_a_workflow_that_is_not_active_answers_404(client, hook, status):
    workflow, url, _ = hook()
    workflow.change_status(status)
    response = post(client, url)
    assert response.status_code == 404
    assert response.json() == {"error": "no active webhook at this address"}
    assert nothing_created()


def test_a_draft_and_an_unknown_token_answer_404(client, make_workflow):
    draft = make_workflow({**REPLY, "trigger": {"type": "webhook"}})
    assert post(client, webhooks.webhook_url(draft)).status_code == 404
    assert post(client, "/hooks/not-a-token").status_code == 404
    assert nothing_created()


def test_an_active_workflow_whose_trigger_is_no_longer_a_webhook_answers_404(client, hook):
    workflow, url, _ = hook()
    workflow.save_definition({**REPLY, "trigger": {"type": "manual"}})
    assert workflow.status == "active"
    assert post(client, url).status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_methods_other_than_post_answer_405(client, hook, method):
    _, url, _ = hook()
    response = getattr(client, method)(url)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "POST" in response.json()["error"]
    assert nothing_created()


def test_a_declared_body_over_the_limit_answers_413(client, hook, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 100
    _, url, _ = hook()
    assert post(client, url, b'{"a": "' + b"x" * 100 + b'"}').status_code == 413
    assert post(client, url, b'{"a": "' + b"x" * 80 + b'"}').status_code == 202


def test_a_body_over_the_limit_is_refused_even_when_its_length_is_not_declared(hook, settings):
    """ASGI hands the whole body over whatever Content-Length says (or without one)."""
    from django.core.handlers.asgi import ASGIRequest

    settings.WEBHOOK_MAX_BODY_BYTES = 100
    workflow, _, _ = hook()
    token = WebhookEndpoint.objects.get(workflow=workflow).token

    def send(body, declared):
        headers = [(b"content-type", b"text/plain")]
        if declared is not None:
            headers.append((b"content-length", str(declared).encode()))
        scope = {"type": "http", "method": "POST", "path": f"/hooks/{token}", "headers": headers}
        return views.receive_webhook(ASGIRequest(scope, io.BytesIO(body)), token)

    assert send(b"x" * 101, None).status_code == 413
    assert send(b"x" * 101, 5).status_code == 413
    assert nothing_created()
    assert send(b"x" * 100, None).status_code == 202


def test_a_webhook_id_that_is_unusable_answers_400(client, hook):
    _, url, _ = hook()
    assert post(client, url, **{"webhook-id": "x" * 193}).status_code == 400
    assert nothing_created()


# -- redelivery ---------------------------------------------------------------------------------


def test_a_redelivery_is_answered_with_the_first_execution_and_creates_nothing(client, hook):
    _, url, secret = hook(signed=True)
    first = post(client, url, BODY, **signed_headers(secret, BODY, msg_id="msg_7"))
    # Senders sign each attempt anew: same id, later timestamp.
    again = post(
        client, url, BODY, **signed_headers(secret, BODY, msg_id="msg_7", at=int(time.time()) + 5)
    )

    execution = Execution.objects.get()
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {
        "execution_id": execution.public_id,
        "status": "completed",
        "duplicate": True,
    }
    assert WebhookDelivery.objects.count() == 1


def test_concurrent_deliveries_of_one_id_start_one_run(hook):
    """Senders retry on timeouts, so the same id can arrive twice at once."""
    _, url, secret = hook(signed=True)
    barrier, statuses = threading.Barrier(6), []

    def deliver():
        try:
            barrier.wait()
            headers = signed_headers(secret, BODY, msg_id="msg_race")
            statuses.append(post(Client(), url, BODY, **headers).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200] * 5 + [202]
    assert Execution.objects.count() == 1
    assert WebhookDelivery.objects.get().execution == Execution.objects.get()


def test_a_redelivery_with_a_bad_signature_is_still_refused(client, hook):
    _, url, secret = hook(signed=True)
    post(client, url, BODY, **signed_headers(secret, BODY, msg_id="msg_7"))
    forged = {**signed_headers(secret, BODY, msg_id="msg_7"), "webhook-signature": "v1,AAAA"}
    assert post(client, url, BODY, **forged).status_code == 401


def test_without_secrets_any_request_is_accepted_and_webhook_id_still_dedupes(client, hook):
    _, url, _ = hook()
    post(client, url, **{"webhook-id": "a"})
    duplicate = post(client, url, **{"webhook-id": "a"})
    post(client, url, **{"webhook-id": "b"})
    post(client, url)
    post(client, url)
    assert duplicate.status_code == 200
    assert duplicate.json()["duplicate"] is True
    assert Execution.objects.count() == 4  # a, b and two without an id
    assert set(WebhookDelivery.objects.values_list("delivery_id", flat=True)) == {"a", "b"}


# -- respond: on_completion ---------------------------------------------------------------------


def test_on_completion_answers_200_with_the_response_nodes_output(client, hook):
    _, url, _ = hook(respond="on_completion", response_node="first")
    response = post(client, url + "?ref=R1")
    execution = Execution.objects.get()
    assert response.status_code == 200
    assert response.json() == {"value": 42, "tag": "first"}
    assert response["Workflow-Execution-Id"] == execution.public_id
    assert response["Workflow-Execution-Status"] == "completed"


def test_on_completion_without_a_response_node_answers_with_the_last_steps_output(client, hook):
    _, url, _ = hook(respond="on_completion")
    response = post(client, url + "?ref=R1")
    assert response.status_code == 200
    assert response.json() == {"value": "R1", "tag": "reply"}


def test_on_completion_answers_202_when_the_run_waits(client, hook):
    waits = definition(
        [probe("first"), {"id": "later", "type": "delay", "duration": {"hours": 1}}],
        chain("first", "later"),
    )
    _, url, _ = hook(waits, respond="on_completion", timeout_seconds=10)
    started = time.monotonic()
    response = post(client, url)
    execution = Execution.objects.get()
    assert response.status_code == 202
    assert response.json() == {"execution_id": execution.public_id, "status": "waiting"}
    assert time.monotonic() - started < 5  # answered when the run parked, not at the deadline


def test_on_completion_answers_200_with_the_error_when_the_run_failed(client, hook):
    fails = definition([probe("boom", crash=True)], chain("boom"))
    _, url, _ = hook(fails, respond="on_completion")
    response = post(client, url)
    execution = Execution.objects.get()
    assert response.status_code == 200
    assert response.json() == {
        "execution_id": execution.public_id,
        "status": "failed",
        "error": {"type": "internal", "message": "RuntimeError: an unexpected bug", "node": "boom"},
    }
    assert response["Workflow-Execution-Status"] == "failed"


@pytest.mark.parametrize(
    ("timeout_seconds", "cap"),
    [
        (1, 30),  # the workflow's own timeout
        (600, 0.2),  # capped by WEBHOOK_MAX_WAIT_SECONDS
    ],
)
def test_on_completion_answers_202_at_the_deadline_and_hands_the_run_over(
    client, hook, settings, monkeypatch, timeout_seconds, cap
):
    settings.WEBHOOK_MAX_WAIT_SECONDS = cap
    slow = definition([probe("slow", sleep=1.2), probe("after")], chain("slow", "after"))
    _, url, _ = hook(slow, respond="on_completion", timeout_seconds=timeout_seconds)
    woken = []  # wake-ups a worker would receive, instead of eager runs in this request
    monkeypatch.setattr("workflows.services._wake", woken.append)

    response = post(client, url)

    execution = Execution.objects.get()
    assert response.status_code == 202
    assert response.json() == {"execution_id": execution.public_id, "status": "running"}
    assert list(execution.steps.values_list("node_id", flat=True)) == ["slow"]
    assert execution.pk in woken
    # A worker carries on where the request stopped (at the latest once the lease has run
    # out: the runner's hand-over currently renews the lease it means to give up).
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1)):
        assert run_execution_by_id(execution.pk).status == "completed"


def test_on_completion_wakes_no_worker_when_the_run_finishes_here(client, hook, monkeypatch):
    _, url, _ = hook(respond="on_completion")
    woken = []
    monkeypatch.setattr("workflows.services._wake", woken.append)
    response = post(client, url)
    assert response.status_code == 200
    assert Execution.objects.get().status == "completed"
    assert woken == []  # born claimed by the request: no message, no second claim


def test_on_completion_answers_from_the_run_it_just_did_without_reading_steps_back(client, hook):
    _, url, _ = hook(respond="on_completion", response_node="first")
    with CaptureQueriesContext(connection) as queries:
        response = post(client, url)
    assert response.json() == {"value": 42, "tag": "first"}
    reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert not [sql for sql in reads if '"workflows_steprun"' in sql.split("WHERE")[0]]


def test_an_unsigned_endpoint_costs_no_query_for_secrets(client, hook):
    _, url, _ = hook()
    with CaptureQueriesContext(connection) as queries:
        assert post(client, url).status_code == 202
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    # (the endpoint's own query asks whether secrets exist, in a subquery)
    secret_reads = [sql for sql in selects if "triggers_webhookendpoint" not in sql]
    assert not [sql for sql in secret_reads if '"triggers_webhooksecret"' in sql]


def test_an_on_completion_run_whose_process_died_is_recovered_when_its_lease_expires(
    client, hook, monkeypatch
):
    _, url, _ = hook(respond="on_completion")
    monkeypatch.setattr(webhooks, "_run_until", lambda execution, deadline: None)  # died
    response = post(client, url)
    execution = Execution.objects.get()
    assert response.status_code == 202
    assert execution.status == "running"
    woken = []
    monkeypatch.setattr("workflows.services._wake", woken.append)
    assert recover() == 0  # its lease still holds
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1)):
        assert recover() == 1
        assert woken == [execution.pk]
        assert run_execution_by_id(execution.pk).status == "completed"


def test_a_duplicate_on_completion_delivery_answers_as_a_duplicate(client, hook):
    _, url, _ = hook(respond="on_completion")
    post(client, url, **{"webhook-id": "once"})
    response = post(client, url, **{"webhook-id": "once"})
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert Execution.objects.count() == 1


# -- URL and secrets ----------------------------------------------------------------------------


def test_the_url_stays_the_same_across_pause_activate_and_edits(hook, settings):
    settings.PUBLIC_BASE_URL = "https://automation.example.com/"
    workflow, url, _ = hook()
    token = WebhookEndpoint.objects.get(workflow=workflow).token
    assert url == f"https://automation.example.com/hooks/{token}"
    workflow.change_status("paused")
    workflow.change_status("active")
    workflow.save_definition({**REPLY, "name": "Renamed"})
    assert webhooks.webhook_url(workflow) == url
    assert WebhookEndpoint.objects.count() == 1


def test_the_url_is_absolute_for_a_request_and_none_for_other_triggers(
    hook, make_workflow, settings
):
    settings.ALLOWED_HOSTS = ["auto.example"]
    workflow, _, _ = hook()
    request = RequestFactory().get("/", secure=True, HTTP_HOST="auto.example")
    token = WebhookEndpoint.objects.get(workflow=workflow).token
    assert webhooks.webhook_url(workflow, request) == f"https://auto.example/hooks/{token}"
    manual = make_workflow(definition([probe("a")], chain("a")))
    assert webhooks.webhook_url(manual) is None
    with pytest.raises(webhooks.WebhookError, match="not triggered by a webhook"):
        webhooks.rotate_secret(manual)
    assert not WebhookEndpoint.objects.filter(workflow=manual).exists()


def test_secret_rotation_keeps_the_old_secret_valid_for_its_grace_period(client, hook):
    workflow, url, old = hook(signed=True)
    new = webhooks.rotate_secret(workflow)
    assert new != old
    assert new.startswith("whsec_")

    for n, secret in enumerate([old, new]):
        headers = signed_headers(secret, BODY, msg_id=f"m{n}")
        assert post(client, url, BODY, **headers).status_code == 202

    with time_machine.travel(datetime.now(UTC) + timedelta(hours=24, minutes=1), tick=False):
        assert post(client, url, BODY, **signed_headers(old, BODY, msg_id="m3")).status_code == 401
        assert post(client, url, BODY, **signed_headers(new, BODY, msg_id="m4")).status_code == 202
        # The next rotation clears what has expired.
        webhooks.rotate_secret(workflow)
    assert WebhookSecret.objects.count() == 2


def test_an_endpoint_whose_secrets_all_expired_refuses_everything(client, hook):
    _, url, secret = hook(signed=True)
    WebhookSecret.objects.update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert post(client, url, BODY, **signed_headers(secret, BODY)).status_code == 401
    assert post(client, url, BODY).status_code == 401
    assert nothing_created()


def test_a_secret_the_sender_generated_can_be_adopted_and_is_stored_encrypted(client, hook):
    workflow, url, _ = hook()
    given = "whsec_" + "c2VuZGVyLWdlbmVyYXRlZC1zZWNyZXQtb2YtMzItYnl0ZXM="
    assert webhooks.rotate_secret(workflow, secret=given) == given
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM triggers_webhooksecret")
        (stored,) = cursor.fetchone()
    assert given not in stored
    assert post(client, url, BODY, **signed_headers(given, BODY)).status_code == 202
    with pytest.raises(webhooks.WebhookError, match="not a usable secret"):
        webhooks.rotate_secret(workflow, secret="whsec_short")


# -- manual runs --------------------------------------------------------------------------------


def test_start_manual_dispatches_a_run_with_the_input_data(make_workflow, probe_actions):
    workflow = make_workflow(definition([probe("a", value="{{ customer }}")], chain("a")))
    execution = webhooks.start_manual(workflow, {"customer": "Acme"})
    execution.refresh_from_db()
    assert execution.trigger_type == "manual"
    assert execution.trigger_data == {"customer": "Acme"}
    assert execution.status == "completed"  # dispatched after commit (eager here)
    assert probe_actions.calls[0]["config"] == {"value": "Acme"}


def test_start_manual_refuses_an_archived_workflow(make_workflow):
    workflow = make_workflow(definition([probe("a")], chain("a")), status="archived")
    with pytest.raises(ExecutionRefused, match="is archived; restore it"):
        webhooks.start_manual(workflow, {})
    assert not Execution.objects.exists()


def test_start_manual_checks_the_users_permission_and_the_input(make_workflow):
    workflow = make_workflow(definition([probe("a")], chain("a")))
    user = User.objects.create_user("ann")
    with pytest.raises(PermissionDenied):
        webhooks.start_manual(workflow, {}, user=user)
    user.user_permissions.add(Permission.objects.get(codename="execute_workflow"))
    user = User.objects.get(pk=user.pk)  # permissions are cached per instance
    with pytest.raises(ExecutionRefused, match="JSON object"):
        webhooks.start_manual(workflow, ["not", "an", "object"], user=user)
    assert webhooks.start_manual(workflow, None, user=user).trigger_data == {}
