"""webhook: the whole system under the n8n peer's load, side by side with n8n.

Distributed mode on PostgreSQL and Redis, as the Procfile deploys it (bench.processes):
gunicorn's WSGI workers serving HTTP, daphne serving websockets (idle here, but counted), a
Celery worker process and beat, each its own process. The workflow is the n8n peer's
(../shared/peers/n8n/workflow.json) in ours (bench.definitions.order_webhook): webhook ->
amount with tax (calculate) -> the order's fields and a summary string (transform) -> if
amount > 1000 -> an email payload (transform), else a no-op; it answers on completion, so
each 200 is a completed execution with every step persisted (checked in the database
afterwards). The load is the peer's own client (../shared/peers/n8n/loadgen.py, imported
from there): closed loop, loopback, 200 warm-up requests at concurrency 4, then 2,000
requests at concurrency 1 and 5,000 at concurrency 16, each split into rounds (a phase
starts no new round after 60 s, BENCH_PHASE_SECONDS, so that a slow product cannot stretch
the run without end; the table then says how many were sent).

Reported: completed executions a second, p50/p95/p99 from request to answer, the CPU the
product's processes spent per run, and their resident memory (web, worker, beat; not
PostgreSQL or Redis) idle and at its peak under load. Targets (issue 6): at least 200
executions a second at concurrency 16, p95 at most 15 ms at concurrency 1, under 600 MiB.
n8n 2.8.4 on this kind of machine: 74/s at c=1 (p95 20 ms), 88/s at c=16 (p95 238 ms),
560 MiB idle and 900 to 960 MiB under load.
"""

import asyncio
import importlib.util
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from . import data
from .anatomy import anatomy
from .databases import ROOT
from .definitions import order_webhook, require_actions
from .harness import Skip, Target, chunks, percentile
from .processes import Product, cpu_seconds, redis_available

SUMMARY = "executions/s and latency of the n8n-equivalent webhook, distributed (PostgreSQL, Redis)"
DATABASES = ("postgresql",)
BROKER = "redis"
IN_PROCESS = False  # with --profile, py-spy samples the web processes at c=16
TIMEOUT = (420, 150)

MIB = 1024 * 1024
# The longest a load phase may run before no further round starts (the mandated counts take
# 35 s at the target rate; a product far off it would otherwise take many minutes).
PHASE_SECONDS = float(os.environ.get("BENCH_PHASE_SECONDS", "60"))
STEPS_PER_RUN = 4
N8N = (
    "n8n 2.8.4 on this kind of machine: 74/s at c=1 (p95 20 ms), 88/s at c=16 (p95 238 ms), "
    "560 MiB idle, 900-960 MiB under load"
)


def loadgen():
    """The n8n peer's load client, imported from shared/ (it is not copied here)."""
    directory = Path(os.environ.get("BENCH_N8N_PEER", ROOT.parent / "shared" / "peers" / "n8n"))
    path = directory / "loadgen.py"
    if not path.exists():
        raise Skip(f"the n8n peer's load client is not at {path} (set BENCH_N8N_PEER)")
    spec = importlib.util.spec_from_file_location("n8n_loadgen", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def web_processes():
    return int(os.environ.get("BENCH_WEB_PROCESSES", "2"))


def run(bench):
    if not redis_available():
        raise Skip("Redis is not reachable at 127.0.0.1:6379")
    require_actions("calculate", "transform")
    client = loadgen()
    from triggers.webhooks import endpoint_of

    workflow = data.workflow(order_webhook(), status="active")
    token = endpoint_of(workflow).token
    loads = [(bench.size(2_000, 60), 1), (bench.size(5_000, 160), 16)]
    rounds = bench.size(4, 3)
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as logs:
        product = Product("distributed", os.environ, logs, web=web_processes(), workers=1)
        with product:
            url = f"{product.url}/hooks/{token}"
            idle = product.rss()
            bench.add(
                "resident memory, idle (web + worker + beat)",
                "MiB",
                [_mib(idle)],
                mode="distributed",
            )
            _load(client, url, bench.size(200, 20), 4, 10_000_000)  # warm-up
            sent = bench.size(200, 20)
            for requests, concurrency in loads:
                sent += _measure(bench, client, product, url, requests, concurrency, rounds, sent)
            failures = _errors_in_logs(product)
        _check_database(bench, workflow, sent)
        _request_anatomy(bench, token)
    bench.note(
        f"gunicorn with {web_processes()} WSGI worker(s) of 8 threads, daphne for websockets, "
        "1 Celery worker (4 threads), beat"
    )
    bench.note(N8N)
    if failures:
        bench.note(f"errors in the product's logs: {failures}")


def _measure(bench, client, product, url, requests, concurrency, rounds, offset):
    """Send `requests` in `rounds`; past PHASE_SECONDS no new round starts (after two), so
    a slow product cannot stretch the run without end. Returns the requests sent."""
    per_round = [len(part) for part in chunks(list(range(requests)), rounds)]
    rates, p50s, p95s, p99s, cpu_ms, peaks = [], [], [], [], [], []
    begun, sent = time.monotonic(), 0
    for count in per_round:
        spent = time.monotonic() - begun
        if len(rates) >= 2 and spent + spent / len(rates) > PHASE_SECONDS:
            bench.note(
                f"c={concurrency}: stopped after {sent:,} of {requests:,} requests "
                f"({len(rates)} of {rounds} rounds), past the {PHASE_SECONDS:.0f} s budget"
            )
            break
        sent += count
        profiling = _profile_web(bench, product, concurrency) if not rates else None
        sampler = _RssSampler(product)
        cpu_before = sum(cpu_seconds(pid) for pid in product.pids().values())
        with sampler:
            latencies, errors, wall = _load(client, url, count, concurrency, offset)
        offset += count
        if profiling is not None:
            bench.note(f"py-spy profile of the web processes at c={concurrency}: {profiling()}")
        if errors:
            raise AssertionError(f"{len(errors)} requests failed, e.g. {errors[:3]}")
        cpu = sum(cpu_seconds(pid) for pid in product.pids().values()) - cpu_before
        milliseconds = [value * 1000 for value in latencies]
        rates.append(len(latencies) / wall)
        p50s.append(percentile(milliseconds, 50))
        p95s.append(percentile(milliseconds, 95))
        p99s.append(percentile(milliseconds, 99))
        cpu_ms.append(cpu * 1000 / count)
        peaks.append(sampler.peak / MIB)
    label = f"{sent:,} requests at c={concurrency}"
    rate_target = Target(">=", 200) if concurrency == 16 else None
    p95_target = Target("<=", 15) if concurrency == 1 else None
    bench.add(f"{label}: executions/s", "/s", rates, mode="distributed", target=rate_target)
    bench.add(f"{label}: p50", "ms", p50s, mode="distributed")
    bench.add(f"{label}: p95", "ms", p95s, mode="distributed", target=p95_target)
    bench.add(f"{label}: p99", "ms", p99s, mode="distributed")
    bench.add(f"{label}: CPU of the product per run", "ms", cpu_ms, mode="distributed")
    bench.add(
        f"{label}: resident memory, peak",
        "MiB",
        peaks,
        mode="distributed",
        target=Target("<=", 600),
    )
    return sent


def _profile_web(bench, product, concurrency):
    if not bench.profile_dir or concurrency != 16:
        return None
    from .profiles import record

    return record(product.pids()["web"], 15, bench.profile_dir, "webhook-web-c16")


def _load(client, url, count, concurrency, start_index):
    latencies, errors, wall, _ = asyncio.run(client.run(url, count, concurrency, start_index))
    return latencies, errors, wall


def _check_database(bench, workflow, sent):
    """Every answered request is a completed execution with all its steps persisted."""
    from workflows.models import Execution, StepRun

    runs = Execution.objects.filter(workflow=workflow)
    completed = runs.filter(status="completed").count()
    steps = StepRun.objects.filter(execution__workflow=workflow, status="succeeded").count()
    if completed != sent or steps != sent * STEPS_PER_RUN:
        bench.note(
            f"expected {sent} completed runs and {sent * STEPS_PER_RUN} steps; found "
            f"{completed} completed of {runs.count()}, {steps} steps"
        )
    else:
        bench.note(f"all {sent} requests are completed executions with {steps} StepRuns")


def _request_anatomy(bench, token):
    """Round trips of one webhook request, served in this process by Django's test client
    (same settings as the web processes: PostgreSQL, Redis channel layer and broker)."""
    from django.test import Client

    client = Client()
    body = json.dumps(_sample_body())
    client.post(f"/hooks/{token}", body, content_type="application/json")  # warm
    with anatomy() as counts:
        answer = client.post(f"/hooks/{token}", body, content_type="application/json")
    if answer.status_code != 200:
        bench.note(f"in-process request answered {answer.status_code}")
    label = "one request"
    bench.add(f"{label}: queries", "queries", [counts.queries], mode="distributed")
    bench.add(f"{label}: commits", "commits", [counts.commits], mode="distributed")
    bench.add(
        f"{label}: live-log messages (each to 2 groups)",
        "messages",
        [counts.live_messages],
        mode="distributed",
    )


def _sample_body():
    return {
        "orderId": "ORD-ANATOMY",
        "customer": {"name": "Customer 1", "email": "c1@example.com"},
        "amount": 1500,
        "currency": "EUR",
    }


def _errors_in_logs(product):
    text = product.logs(tail=20000)
    return sum(text.count(word) for word in ("Traceback", "ERROR"))


def _mib(rss):
    return sum(rss.values()) / MIB


class _RssSampler:
    """The peak of the product's total resident memory, sampled every 0.2 s."""

    def __init__(self, product):
        self.product = product
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, sum(self.product.rss().values()))

    def __enter__(self):
        self.peak = sum(self.product.rss().values())
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, sum(self.product.rss().values()))
