"""Webhook and manual triggers: the use cases behind `/hooks/<token>` and the Run buttons.

A webhook-triggered workflow owns one WebhookEndpoint whose random token is its URL. The
endpoint is created when the workflow is activated (or its URL first asked for) and never
removed on pause or edit, so the URL a sender was given stays valid; `receive()` refuses a
workflow that is not active. Signing is optional: an endpoint without secrets trusts its
unguessable URL; once it has one, every request must carry a valid Standard Webhooks signature
(webhook_signatures.py) and a refused request writes nothing at all.

Deliveries are deduplicated by `webhook-id`: a sender that retries gets the first execution
back with a 2xx, so it stops retrying, and no second run starts.

Response contract of `receive()` (every body is JSON):

- 202 `{"execution_id", "status"}`: `respond: "accepted"` (the default), at once; the run is
  handed to a worker after commit. Also `on_completion` when the run is still running or
  waiting at its deadline.
- 200 with the output of `response_node` (or, without one, of the last step that succeeded;
  `null` when that node never ran): `on_completion` and the run completed.
- 200 `{"execution_id", "status": "failed" | "cancelled", "error": {"type", "message",
  "node"}}`: `on_completion` and the run did not complete. Not a 5xx: the request was
  received and acted on; a sender retrying on 5xx would only be answered "duplicate".
- 200 `{"execution_id", "status", "duplicate": true}`: a `webhook-id` seen before.
- 400 (a JSON content type with a body that is not JSON, an unusable `webhook-id`),
  401 (signature), 404 (workflow not active), 405 (not POST), 409 (the run was refused):
  `{"error": "..."}`.

`on_completion` responses also carry `Workflow-Execution-Id` and `Workflow-Execution-Status`
headers, so a caller can tell a run's answer from an error envelope.
"""

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_header_parameters

from workflows.engine.runner import Runner
from workflows.models import Execution, StepRun, Workflow
from workflows.services import ExecutionRefused, start_execution
from workflows.trigger_hooks import TriggerInstaller, register_installer

from .models import WebhookDelivery, WebhookEndpoint, WebhookSecret
from .webhook_signatures import SignatureError, decode_secret, generate_secret, verify

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_WAIT_SECONDS = 10
DEFAULT_MAX_WAIT_SECONDS = 30
DEFAULT_SECRET_GRACE_SECONDS = 24 * 60 * 60
# WebhookDelivery.delivery_id and Execution.trigger_key are 200 characters; the key adds
# "webhook:".
MAX_DELIVERY_ID_LENGTH = 192
TRIGGER_TYPE = "webhook"

# Header names (or parts of names) that carry credentials: they never reach trigger data,
# where templates, step logs and exports could show them.
SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
SECRET_HEADER_PARTS = ("signature", "secret", "token", "api-key", "apikey", "password", "session")


class WebhookError(ValueError):
    """A webhook use case cannot be carried out; the message says why."""


@dataclass(frozen=True)
class WebhookResult:
    """What to answer: an HTTP status, a JSON body (any JSON value) and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def max_body_bytes():
    return int(getattr(settings, "WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


# -- installing ---------------------------------------------------------------------------------


class WebhookInstaller(TriggerInstaller):
    """Activation gives the workflow its URL; pausing and editing keep it (see module doc)."""

    trigger_type = TRIGGER_TYPE

    def install(self, workflow):
        endpoint_of(workflow)

    def uninstall(self, workflow):
        # Called for every workflow on every pause and edit: no query. The endpoint stays so
        # that the URL survives; receive() refuses workflows that are not active.
        pass


def register():
    register_installer(WebhookInstaller())


# -- endpoints and secrets -------------------------------------------------------------------


def endpoint_of(workflow) -> WebhookEndpoint:
    """The workflow's endpoint, created on first use; its token never changes."""
    endpoint, _ = WebhookEndpoint.objects.get_or_create(workflow=workflow)
    return endpoint


def webhook_url(workflow, request=None):
    """The workflow's webhook URL (absolute with a request or PUBLIC_BASE_URL), or None when
    its trigger is not a webhook."""
    if workflow.trigger_type != TRIGGER_TYPE:
        return None
    path = reverse("triggers:webhook", kwargs={"token": endpoint_of(workflow).token})
    if request is not None:
        return request.build_absolute_uri(path)
    return getattr(settings, "PUBLIC_BASE_URL", "").rstrip("/") + path


def rotate_secret(workflow, *, secret=None) -> str:
    """Add a signing secret and return it (shown once; it is stored encrypted).

    The secrets already there stay valid for WEBHOOK_SECRET_GRACE_SECONDS (24 hours), time
    for the sender to switch; secrets already past their grace are deleted. `secret` adopts
    one the sender generated; by default a new one is made.
    """
    if workflow.trigger_type != TRIGGER_TYPE:
        raise WebhookError(f"workflow {workflow.public_id} is not triggered by a webhook")
    if secret is None:
        secret = generate_secret()
    else:
        try:
            decode_secret(secret)
        except SignatureError as exc:
            raise WebhookError(f"not a usable secret: {exc}") from None
    grace = getattr(settings, "WEBHOOK_SECRET_GRACE_SECONDS", DEFAULT_SECRET_GRACE_SECONDS)
    now = timezone.now()
    until = now + timedelta(seconds=int(grace))
    with transaction.atomic():
        endpoint = endpoint_of(workflow)
        # Serialises rotations of one endpoint, so two at once cannot both stay unexpiring.
        WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        endpoint.secrets.filter(expires_at__lte=now).delete()
        endpoint.secrets.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=until)).update(
            expires_at=until
        )
        WebhookSecret.objects.create(endpoint=endpoint, secret=secret, created_at=now)
    logger.info("webhook secret of %s rotated", workflow.public_id)
    return secret


# -- manual runs ------------------------------------------------------------------------------


def start_manual(workflow, input_data=None, *, user=None, test=False, inline=False):
    """Start a manual run with `input_data` as its trigger data; returns the execution.

    The admin button, the API and the CLI all come here. A `user` must hold the
    `workflows.execute_workflow` permission (PermissionDenied otherwise); the CLI passes
    none. The run goes to a worker after commit, or happens here with `inline=True`.
    """
    if user is not None and not user.has_perm("workflows.execute_workflow"):
        raise PermissionDenied(f"{user} may not run workflows")
    if workflow.status == Workflow.Status.ARCHIVED:
        raise ExecutionRefused(
            f"workflow '{workflow.name}' ({workflow.public_id}) is archived; "
            "restore it before running it"
        )
    if input_data is not None and not isinstance(input_data, dict):
        raise ExecutionRefused("input data must be a JSON object")
    execution = start_execution(
        workflow, trigger_data=input_data or {}, trigger_type="manual", test=test, inline=inline
    )
    logger.info("manual run %s of %s by %s", execution.public_id, workflow.public_id, user)
    return execution


# -- receiving --------------------------------------------------------------------------------


def receive(endpoint, *, method, body: bytes, headers, query) -> WebhookResult:
    """Authenticate a request to `endpoint`, start its run once, and say what to answer."""
    workflow = endpoint.workflow
    if method.upper() != "POST":
        return _error(405, "only POST is accepted here")
    if workflow.status != Workflow.Status.ACTIVE or workflow.trigger_type != TRIGGER_TYPE:
        return _error(404, "no active webhook at this address")
    headers = {str(name).lower(): value for name, value in headers.items()}
    try:
        delivery_id = _authenticate(endpoint, body, headers)
    except SignatureError as exc:
        logger.info("webhook of %s refused: %s", workflow.public_id, exc)
        return _error(401, f"signature refused: {exc}")
    if delivery_id is not None:
        problem = _delivery_id_problem(delivery_id)
        if problem:
            return _error(400, problem)
        seen = endpoint.deliveries.filter(delivery_id=delivery_id).first()
        if seen:
            return _duplicate(seen)
    try:
        trigger_data = webhook_trigger_data(method, body, headers, query)
    except WebhookError as exc:
        return _error(400, str(exc))
    config = workflow.trigger.get("config") or {}
    on_completion = config.get("respond") == "on_completion"
    wait = _wait_seconds(config) if on_completion else None
    try:
        execution, runner = _start(endpoint, trigger_data, delivery_id, wait)
    except _AlreadyDelivered:
        return _duplicate(endpoint.deliveries.get(delivery_id=delivery_id))
    except ExecutionRefused as exc:
        return _error(409, str(exc))
    if on_completion:
        return _outcome(execution, config, runner)
    return _accepted(execution)


def _authenticate(endpoint, body, headers):
    """The delivery id (None without one); SignatureError when the endpoint signs and the
    request is not signed by one of its live secrets."""
    stored = list(endpoint.secrets.all()) if getattr(endpoint, "signs", True) else []
    if not stored:
        return headers.get("webhook-id") or None
    now = timezone.now()
    # Expired secrets still count as "this endpoint signs": an endpoint whose every secret
    # expired refuses everything rather than silently accepting unsigned requests.
    live = [s.secret for s in stored if s.expires_at is None or s.expires_at > now]
    if not live:
        raise SignatureError("every signing secret of this webhook has expired")
    return verify(body, headers, live, now=now.timestamp())


def _delivery_id_problem(delivery_id):
    if len(delivery_id) > MAX_DELIVERY_ID_LENGTH:
        return f"webhook-id is longer than {MAX_DELIVERY_ID_LENGTH} characters"
    if not delivery_id.isprintable():
        return "webhook-id holds control characters"
    return None


class _AlreadyDelivered(Exception):
    """Another request with the same webhook-id got there first (raised to roll back)."""


def _start(endpoint, trigger_data, delivery_id, wait):
    """Record the delivery (if the request has an id) and start the run in one transaction;
    returns the execution and the Runner that advanced it here (None when it did not run
    here).

    With `wait` (on_completion) the run is created claimed by this thread and advanced here
    right after commit, up to the deadline, when it hands the rest to a worker; no worker is
    woken otherwise (if this process dies first, the sweeper wakes one once the lease runs
    out). Inside an outer transaction (not a request's) the run waits for its commit and the
    answer is 202.
    """
    if delivery_id is None and not transaction.get_connection().in_atomic_block:
        # The run's row is all there is to write: one INSERT, committed by itself, costs no
        # BEGIN and COMMIT round trips around it.
        execution = start_execution(
            endpoint.workflow,
            trigger_type=TRIGGER_TYPE,
            trigger_data=trigger_data,
            run_here=wait is not None,
        )
        if wait is None or execution.status != Execution.Status.RUNNING:
            return execution, None
        return execution, _run_until(execution, time.monotonic() + wait)
    started, ran = [], []

    def run_here():
        if started:
            ran.append(_run_until(started[0], time.monotonic() + wait))

    with transaction.atomic():
        if wait is not None:
            transaction.on_commit(run_here)
        delivery = None
        if delivery_id is not None:
            delivery, created = WebhookDelivery.objects.get_or_create(
                endpoint=endpoint, delivery_id=delivery_id
            )
            if not created:
                raise _AlreadyDelivered
        execution = start_execution(
            endpoint.workflow,
            trigger_type=TRIGGER_TYPE,
            trigger_data=trigger_data,
            trigger_key=f"webhook:{delivery_id}" if delivery_id else "",
            run_here=wait is not None,
        )
        if delivery is not None:
            delivery.execution = execution
            delivery.save(update_fields=["execution"])
        started.append(execution)
    return execution, (ran[0] if ran else None)


def _run_until(execution, deadline):
    """Advance the run here until it finishes, parks or passes `deadline`; the Runner, or
    None if it crashed (the sweeper carries the run on once its lease expires)."""
    try:
        runner = Runner(execution)
        runner.run(deadline=deadline)
    except Exception:
        logger.exception("inline webhook run %s stopped", execution.public_id)
        return None
    return runner


def _wait_seconds(config):
    cap = float(getattr(settings, "WEBHOOK_MAX_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS))
    try:
        wanted = float(config.get("timeout_seconds", DEFAULT_WAIT_SECONDS))
    except (TypeError, ValueError):
        wanted = DEFAULT_WAIT_SECONDS
    return min(max(wanted, 0.0), cap)


# -- trigger data ------------------------------------------------------------------------------


def webhook_trigger_data(method, body, headers, query):
    """`{"body", "headers", "query", "method"}` as DEFINITION.md describes it.

    A JSON content type (`application/json`, `*+json`) with a body that does not parse is a
    WebhookError (answered 400): the sender learns at once instead of the run failing later.
    An empty body is `""` whatever its type. Strings lose what the database cannot store
    (NUL characters, lone surrogates) so that SQLite and PostgreSQL keep the same data.
    """
    headers = {str(name).lower(): value for name, value in headers.items()}
    kept = {name: value for name, value in headers.items() if not _is_secret_header(name)}
    params = {str(name): _one_or_many(values) for name, values in query.items()}
    try:
        return _clean(
            {"body": _body(body, headers), "headers": kept, "query": params, "method": method}
        )
    except RecursionError:
        raise WebhookError("the body is nested too deeply") from None


def _one_or_many(values):
    """`?a=1` gives "1", `?a=1&a=2` gives ["1", "2"] (QueryDict.lists() hands lists)."""
    if isinstance(values, list | tuple):
        return values[0] if len(values) == 1 else list(values)
    return values


def _is_secret_header(name):
    return name in SECRET_HEADERS or any(part in name for part in SECRET_HEADER_PARTS)


def _body(body, headers):
    if not body:
        return ""
    media_type, params = parse_header_parameters(headers.get("content-type") or "")
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            # Bytes in: json detects UTF-8/16/32 and a BOM itself.
            return json.loads(bytes(body), parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise WebhookError(f"the body is not valid JSON ({exc})") from None
    try:
        return bytes(body).decode(params.get("charset") or "utf-8", errors="replace")
    except LookupError:
        return bytes(body).decode("utf-8", errors="replace")


def _no_constants(name):
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not a JSON value")


def _clean(value):
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace").decode("utf-8").replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


# -- answers -----------------------------------------------------------------------------------


def _error(status, message):
    return WebhookResult(status, {"error": message})


def _execution_headers(execution):
    return {
        "Workflow-Execution-Id": execution.public_id,
        "Workflow-Execution-Status": execution.status,
    }


def _accepted(execution):
    return WebhookResult(
        202,
        {"execution_id": execution.public_id, "status": execution.status},
        _execution_headers(execution),
    )


def _duplicate(delivery):
    execution = delivery.execution  # loaded now, so its status is current
    if execution is None:  # deleted since; the delivery itself is still answered once
        return WebhookResult(200, {"execution_id": None, "status": None, "duplicate": True})
    return WebhookResult(
        200,
        {"execution_id": execution.public_id, "status": execution.status, "duplicate": True},
        _execution_headers(execution),
    )


def _outcome(execution, config, runner=None):
    if execution.status not in Execution.FINISHED:
        # Not finished by the run here (handed over, parked, or run elsewhere): what the
        # database says now. A fresh instance, not refresh_from_db(): django-fsm's refresh
        # briefly unprotects the status field class-wide, which races with other threads.
        execution = Execution.objects.get(pk=execution.pk)
    headers = _execution_headers(execution)
    if execution.status == Execution.Status.COMPLETED:
        node_id = config.get("response_node")
        if runner is not None and runner.ran_from_start and runner.execution is execution:
            output = runner.output_of(node_id)  # the whole run happened here: no read back
        else:
            output = _response_output(execution, node_id)
        return WebhookResult(200, output, headers)
    if execution.status in Execution.FINISHED:
        error = execution.error or {}
        return WebhookResult(
            200,
            {
                "execution_id": execution.public_id,
                "status": execution.status,
                "error": {key: error.get(key) for key in ("type", "message", "node")},
            },
            headers,
        )
    return _accepted(execution)


def _response_output(execution, node_id):
    steps = execution.steps.filter(status=StepRun.Status.SUCCEEDED)
    if node_id:
        steps = steps.filter(node_id=node_id)
    step = steps.order_by("-finished_at", "-id").first()
    return step.output if step else None
