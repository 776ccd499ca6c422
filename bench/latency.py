"""latency: how soon the product reacts, in both runtime modes.

On SQLite the product runs embedded (one `manage.py serve` process: daphne, worker and beat,
the in-process broker and channel layer); on PostgreSQL it runs distributed (daphne, a
Celery worker and beat as separate processes over Redis). Two paths, one request at a time
(so that what is measured is reaction time, not queueing):

- event committed -> execution started: a webhook starts a workflow whose one step creates a
  lead; that commit writes `lead.created`, whose dispatch starts a second workflow. Measured
  from the event row's `occurred_at` (stamped inside the committing transaction) to the
  second execution's `started_at`; split at the run's `created_at` into the dispatch
  (broker message, matching, the insert) and the start (broker message, the claim).
- step committed -> websocket frame received: a staff user's websocket on the live log of a
  workflow of three steps; each step frame's arrival (this process's clock) minus the step's
  `finished_at` (stamped inside the checkpoint transaction, just before its commit).

Both clocks are this machine's. Reported: p50 and p95 per round (the median of the rounds
and their spread). Target (issue 6): p95 under 50 ms for each, in each mode.
"""

import itertools
import json
import os
import tempfile
import time
from datetime import UTC, datetime

import requests
from django.db import connection

from . import data
from .definitions import edge, require_actions
from .harness import Skip, Target, chunks, percentile
from .processes import Product, redis_available

SUMMARY = (
    "event -> run started, step -> websocket frame; embedded (SQLite), distributed (PostgreSQL)"
)
DATABASES = ("sqlite", "postgresql")
BROKER = "redis"
IN_PROCESS = False
TIMEOUT = (300, 120)

P95 = Target("<=", 50)


def run(bench):
    mode = "embedded" if connection.vendor == "sqlite" else "distributed"
    if mode == "distributed" and not redis_available():
        raise Skip("Redis is not reachable at 127.0.0.1:6379")
    require_actions("calculate", "transform")
    source, listener = _event_workflows()
    watched = data.workflow(_three_steps(), status="active")
    cookie = data.session_cookie(data.staff_user())
    samples = bench.size(200, 30)
    rounds = bench.size(5, 3)
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as logs,
        Product(mode, os.environ, logs) as product,
    ):
        events, segments = _event_latencies(product, source, listener, samples)
        frames = _frame_latencies(product, watched, cookie, samples)
    for label, values in (("event committed -> run started", events), ("step -> frame", frames)):
        parts = chunks(values, rounds)
        p95s = [percentile(part, 95) for part in parts]
        bench.add(f"{label}: p50", "ms", [percentile(p, 50) for p in parts], mode=mode)
        bench.add(f"{label}: p95", "ms", p95s, mode=mode, target=P95)
        bench.add(f"{label}: max", "ms", [max(values)], mode=mode)
    for label, values in segments.items():
        bench.add(f"  of which {label}: p50", "ms", [percentile(values, 50)], mode=mode)
    bench.note(f"{mode}: {len(events)} events and {len(frames)} step frames, one at a time")


def _webhook(name, nodes, edges):
    return {
        "name": name,
        "trigger": {"type": "webhook", "config": {"respond": "accepted"}},
        "nodes": nodes,
        "edges": edges,
    }


def _event_workflows():
    create_lead = {
        "id": "create",
        "type": "action",
        "action": "create_record",
        "config": {
            "entity": "leads",
            "values": {"name": "Lead {{ body.i }}", "email": "lead{{ body.i }}@example.com"},
        },
    }
    source = data.workflow(
        _webhook("bench: creates a lead", [create_lead], [edge("trigger", "create")])
    )
    listener = data.workflow(
        {
            "name": "bench: on lead.created",
            "trigger": {"type": "event", "event": "lead.created"},
            "nodes": [{"id": "done", "type": "end"}],
            "edges": [edge("trigger", "done")],
        }
    )
    return source, listener


def _three_steps():
    nodes = [
        {
            "id": "compute",
            "type": "action",
            "action": "calculate",
            "config": {"expressions": {"double": "n * 2"}, "inputs": {"n": "{{ body.i }}"}},
            "outputs": ["computed"],
        },
        {
            "id": "shape",
            "type": "action",
            "action": "transform",
            "config": {
                "operations": [
                    {"op": "pick", "value": "{{ body }}", "fields": ["i"], "as": "picked"}
                ]
            },
        },
        {
            "id": "check",
            "type": "condition",
            "condition": {"field": "{{ computed.double }}", "operator": "greater_than", "value": 1},
        },
    ]
    edges = [edge("trigger", "compute"), edge("compute", "shape"), edge("shape", "check")]
    return _webhook("bench: three steps, watched live", nodes, edges)


def _hook_url(product, workflow):
    from triggers.webhooks import endpoint_of

    return f"{product.url}/hooks/{endpoint_of(workflow).token}"


def _event_latencies(product, source, listener, samples):
    from triggers.models import Event
    from workflows.models import Execution

    url = _hook_url(product, source)
    session = requests.Session()
    latencies = []
    segments = {
        "event -> run created (dispatch message, matching)": [],
        "run created -> started (run message, claim)": [],
    }
    for index in range(samples + 3):  # the first three warm the path up
        session.post(url, json={"i": index}, timeout=30).raise_for_status()
        run = _wait(
            lambda: (
                Execution.objects.filter(workflow=listener, started_at__isnull=False)
                .exclude(trigger_key__in=_seen)
                .first()
            )
        )
        _seen.add(run.trigger_key)
        event = Event.objects.get(public_id=run.trigger_key)
        if index >= 3:
            latencies.append(_ms(run.started_at - event.occurred_at))
            moments = (event.occurred_at, run.created_at, run.started_at)
            for values, (earlier, later) in zip(
                segments.values(), itertools.pairwise(moments), strict=True
            ):
                values.append(_ms(later - earlier))
        time.sleep(0.02)
    return latencies, segments


def _ms(delta):
    return delta.total_seconds() * 1000


_seen: set[str] = set()


def _frame_latencies(product, workflow, cookie, samples):
    from websockets.sync.client import connect

    from workflows.models import StepRun

    url = _hook_url(product, workflow)
    socket_url = f"{product.ws_url}/ws/workflows/{workflow.public_id}/"
    session = requests.Session()
    arrivals: dict[int, float] = {}
    runs = max(1, samples // 3) + 2
    headers = {"Cookie": cookie, "Origin": product.url}
    with connect(socket_url, additional_headers=headers, open_timeout=30) as socket:
        for index in range(runs):
            answer = session.post(url, json={"i": index}, timeout=30).json()
            while True:
                frame = json.loads(socket.recv(timeout=30))
                if frame.get("execution") != answer["execution_id"]:
                    continue
                if frame["event"] == "step" and index >= 2:
                    arrivals[frame["step"]["id"]] = time.time()
                if frame["event"] == "execution" and frame["status"] in ("completed", "failed"):
                    break
            time.sleep(0.02)
    finished = dict(StepRun.objects.filter(pk__in=arrivals).values_list("pk", "finished_at"))
    return [
        (datetime.fromtimestamp(arrivals[pk], UTC) - finished[pk]).total_seconds() * 1000
        for pk in sorted(arrivals)
    ]


def _wait(query, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = query()
        if found is not None:
            return found
        time.sleep(0.002)
    raise AssertionError(f"nothing happened within {timeout} s")
