"""send_push against a local server standing in for a browser's push service.

The browser side is played for real: each subscription has its own P-256 key and auth
secret, so the test decrypts what arrived (RFC 8291) and verifies the VAPID signature.
"""

import base64
import json
import os
import threading
import time
from types import SimpleNamespace

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import Group, User
from jsonschema import Draft202012Validator
from py_vapid import Vapid
from werkzeug import Response

from actions.models import Connection, PushSubscription
from actions.registry import registry
from tests.support.steps import one_step_workflow, run_step, step_context, step_failure
from workflows.validation.action_nodes import ConfigValidator

pytestmark = pytest.mark.django_db

SUBJECT = "mailto:ops@example.com"
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.01, "jitter": False}


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_bytes(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


VAPID_KEY = ec.generate_private_key(ec.SECP256R1())
VAPID_PRIVATE = b64url(VAPID_KEY.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = b64url(public_bytes(VAPID_KEY))


@pytest.fixture(autouse=True)
def _local_push_service(settings):
    settings.OUTBOUND_ALLOWLIST = ["127.0.0.1", "localhost"]


@pytest.fixture
def webpush_connection():
    connection = Connection(
        name="webpush", provider="webpush", config={"subject": SUBJECT, "public_key": VAPID_PUBLIC}
    )
    connection.secrets = {"private_key": VAPID_PRIVATE}
    connection.save()
    return connection


@pytest.fixture
def browser(httpserver):
    """browser(user, path) -> a PushSubscription at httpserver's `path`, with its keys."""
    keys = {}

    def subscribe(user, path):
        key, auth = ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        subscription = PushSubscription.objects.create(
            user=user,
            endpoint=httpserver.url_for(path),
            p256dh=b64url(public_bytes(key)),
            auth=b64url(auth),
        )
        keys[path] = (key, auth)
        return subscription

    subscribe.keys = keys
    return subscribe


@pytest.fixture
def people():
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    collections = Group.objects.create(name="Collections")
    bob.groups.add(collections)
    return SimpleNamespace(ann=ann, bob=bob)


def context(**extra):
    return step_context("push", **extra)


def send(config, **extra):
    return run_step("send_push", "push", config, **extra)


def failure(config, **extra):
    return step_failure("send_push", "push", config, **extra)


def one_step(config, **node):
    return one_step_workflow("Push", "push", "send_push", config, **node)


PUSH = {
    "connection": "webpush",
    "users": ["ann"],
    "title": "INV-7 is overdue",
    "body": "Acme owes 1250.00",
    "url": "/invoices/7",
}


# -- what the push service receives ------------------------------------------------------------


def test_posts_an_encrypted_vapid_signed_message(httpserver, webpush_connection, browser, people):
    browser(people.ann, "/push/ann-laptop")
    httpserver.expect_request("/push/ann-laptop", method="POST").respond_with_data("", 201)
    result = send({**PUSH, "urgency": "high", "topic": "inv-7", "ttl": 600})

    request, _ = httpserver.log[0]
    assert (request.method, request.path) == ("POST", "/push/ann-laptop")
    assert request.headers["Content-Encoding"] == "aes128gcm"
    assert (request.headers["TTL"], request.headers["Urgency"]) == ("600", "high")
    assert request.headers["Topic"] == "inv-7"
    # RFC 8292: "vapid t=<JWT signed with our key>, k=<our public key>", for this origin.
    scheme, params = request.headers["Authorization"].split(" ", 1)
    token = dict(part.split("=", 1) for part in params.split(","))
    assert (scheme, token["k"]) == ("vapid", VAPID_PUBLIC)
    assert Vapid.verify(request.headers["Authorization"])
    claims = json.loads(base64.urlsafe_b64decode(token["t"].split(".")[1] + "=="))
    assert claims["sub"] == SUBJECT
    assert claims["aud"] == httpserver.url_for("/").rstrip("/")
    # Only the subscriber's key opens the body (RFC 8291).
    key, auth = browser.keys["/push/ann-laptop"]
    plain = http_ece.decrypt(request.get_data(), private_key=key, auth_secret=auth)
    assert json.loads(plain) == {
        "title": "INV-7 is overdue",
        "body": "Acme owes 1250.00",
        "url": "/invoices/7",
    }
    assert result == {"sent": 1, "removed": 0, "failed": 0, "recipients": 1, "failures": []}
    assert PushSubscription.objects.get().last_used_at is not None


def test_expired_subscriptions_are_removed(httpserver, webpush_connection, browser, people):
    browser(people.ann, "/push/ann-phone")
    gone = browser(people.ann, "/push/ann-old-laptop")
    missing = browser(people.bob, "/push/bob-old")
    browser(people.bob, "/push/bob-phone")
    httpserver.expect_request("/push/ann-phone").respond_with_data("", 201)
    httpserver.expect_request("/push/ann-old-laptop").respond_with_data("expired", 410)
    httpserver.expect_request("/push/bob-old").respond_with_data("not found", 404)
    httpserver.expect_request("/push/bob-phone").respond_with_data("", 201)

    result = send({**PUSH, "users": [people.ann.pk], "groups": ["Collections"]})

    assert (result["sent"], result["removed"], result["failed"]) == (2, 2, 0)
    assert result["recipients"] == 2
    assert len(httpserver.log) == 4
    remaining = set(PushSubscription.objects.values_list("pk", flat=True))
    assert gone.pk not in remaining
    assert missing.pk not in remaining
    assert len(remaining) == 2


def test_users_without_subscriptions_get_nothing_and_that_is_fine(
    httpserver, webpush_connection, people
):
    result = send(PUSH)
    assert result == {"sent": 0, "removed": 0, "failed": 0, "recipients": 1, "failures": []}
    assert httpserver.log == []


def test_a_partial_failure_is_reported_not_retried(httpserver, webpush_connection, browser, people):
    browser(people.ann, "/push/a")
    failing = browser(people.ann, "/push/b")
    httpserver.expect_request("/push/a").respond_with_data("", 201)
    httpserver.expect_request("/push/b").respond_with_data("busy", 503)
    result = send(PUSH)
    assert (result["sent"], result["removed"], result["failed"]) == (1, 0, 1)
    assert result["failures"] == [
        {
            "subscription": failing.pk,
            "user": "ann",
            "push_service": httpserver.url_for("/").rstrip("/"),
            "kind": "server_error",
            "status": 503,
            "reason": result["failures"][0]["reason"],
        }
    ]
    assert PushSubscription.objects.count() == 2  # a 503 is not a reason to forget a browser


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "client_error"),
        (403, "client_error"),
        (413, "client_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (503, "server_error"),
    ],
)
def test_when_nothing_is_delivered_the_step_fails(
    httpserver, webpush_connection, browser, people, status, kind
):
    browser(people.ann, "/push/a")
    httpserver.expect_request("/push/a").respond_with_data("no", status)
    error = failure(PUSH)
    assert error.kind == kind
    assert error.message.startswith("no push notification was delivered (1 failed; http://")
    assert f"answered {status}" in error.message


def test_a_push_service_on_a_private_address_is_refused(
    settings, httpserver, webpush_connection, browser, people
):
    settings.OUTBOUND_ALLOWLIST = []
    browser(people.ann, "/push/a")
    error = failure(PUSH)
    assert error.kind == "refused"
    assert httpserver.log == []
    assert PushSubscription.objects.count() == 1


def test_a_slow_push_service_is_a_timeout(httpserver, webpush_connection, browser, people):
    released = threading.Event()

    def slow(request):
        released.wait(5)
        return Response("", status=201)

    browser(people.ann, "/push/a")
    httpserver.expect_request("/push/a").respond_with_handler(slow)
    error = failure(PUSH, timeout_seconds=0.2)
    released.set()
    deadline = time.monotonic() + 5
    while not httpserver.log and time.monotonic() < deadline:
        time.sleep(0.01)
    assert error.kind == "timeout"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": {"subject": "ops@example.com"}}, "config.subject must be a mailto: or https:"),
        ({"secrets": {}}, "has no 'private_key' secret set"),
        ({"secrets": {"private_key": "not a key"}}, "private_key is not a VAPID (P-256) private"),
        (
            {
                "config": {
                    "subject": SUBJECT,
                    "public_key": b64url(public_bytes(ec.generate_private_key(ec.SECP256R1()))),
                }
            },
            "private_key does not match config.public_key",
        ),
    ],
)
def test_a_broken_connection_is_a_clear_error(webpush_connection, people, change, message):
    if "config" in change:
        webpush_connection.config = change["config"]
    if "secrets" in change:
        webpush_connection.secrets = change["secrets"]
    webpush_connection.save()
    error = failure(PUSH)
    assert error.kind == "invalid_config"
    assert message in error.message
    assert "not a key" not in error.message  # a key's text is never quoted back


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({**PUSH, "users": ["nobody"]}, "not_found", "no such recipient: nobody"),
        (
            {**PUSH, "users": [], "groups": ["Ghosts"]},
            "not_found",
            "no such recipient: group Ghosts",
        ),
        ({**PUSH, "users": []}, "invalid_config", "give at least one user or group"),
        ({**PUSH, "urgency": "asap"}, "invalid_config", "urgency: 'asap' is not one of"),
        ({**PUSH, "body": "x" * 4000}, "invalid_config", "push services take at most 3993"),
    ],
)
def test_refuses_bad_config(httpserver, webpush_connection, people, config, kind, message):
    error = failure(config)
    assert (error.kind, message in error.message) == (kind, True), error.message


# -- inside a workflow: retries and test mode ---------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "run_status", "requests"),
    [([400], "failed", 1), ([429, 201], "completed", 2), ([503, 503, 503], "failed", 3)],
)
def test_retries_follow_the_answer(
    httpserver, webpush_connection, browser, people, run_workflow, statuses, run_status, requests
):
    browser(people.ann, "/push/a")
    for status in statuses:
        httpserver.expect_ordered_request("/push/a").respond_with_data("", status)
    execution = run_workflow(one_step(PUSH, retry=FAST_RETRY))
    assert execution.status == run_status
    assert len(httpserver.log) == requests
    stored = json.dumps([[s.input, s.output, s.error] for s in execution.steps.all()])
    assert VAPID_PRIVATE not in stored


def test_test_mode_sends_nothing_and_removes_nothing(
    httpserver, webpush_connection, browser, people, run_workflow
):
    subscription = browser(people.ann, "/push/a")
    execution = run_workflow(one_step(PUSH), test=True)
    assert execution.status == "completed"
    assert httpserver.log == []
    output = execution.steps.get().output
    assert output == {
        "simulated": True,
        "recipients": 1,
        "requests": [
            {
                "method": "POST",
                "url": subscription.endpoint,
                "user": "ann",
                "headers": {
                    "Urgency": "normal",
                    "TTL": "86400",
                    "Content-Encoding": "aes128gcm",
                    "Authorization": f"vapid t=(JWT for {SUBJECT}), k={VAPID_PUBLIC}",
                },
                "payload": {"title": PUSH["title"], "body": PUSH["body"], "url": PUSH["url"]},
            }
        ],
    }
    assert VAPID_PRIVATE not in json.dumps(output)
    assert PushSubscription.objects.get().last_used_at is None


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("send_push")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
