"""The product as separate processes, in either runtime mode, for end-to-end tests.

embedded: one `manage.py serve` process (ASGI server, worker and beat in one process, the
in-process broker). distributed: daphne, a `celery worker` and a `celery beat`, each its
own process, over Redis (broker and channel layer) and the test's PostgreSQL database.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_BROKER = "redis://127.0.0.1:6379/15"
REDIS_LAYER = "redis://127.0.0.1:6379/14"

# Short lease, grace and sweep intervals so that recovery happens within a test's patience.
FAST_RUNTIME = {
    "WORKFLOW_LEASE_SECONDS": "2",
    "WORKFLOW_RECOVER_INTERVAL": "1",
    "WORKFLOW_PENDING_GRACE": "1",
    "WORKFLOW_OUTBOX_SWEEP_INTERVAL": "1",
    "PYTHONUNBUFFERED": "1",
}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_available():
    try:
        import redis

        redis.Redis.from_url(REDIS_BROKER, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


class Product:
    def __init__(self, mode, env, log_dir):
        self.mode = mode
        self.port = free_port()
        # Distributed as the Procfile deploys it: gunicorn (HTTP) and daphne (websockets).
        self.ws_port = free_port() if mode == "distributed" else self.port
        self.env = {**env, **FAST_RUNTIME}
        if mode == "distributed":
            self.env.update(CELERY_BROKER_URL=REDIS_BROKER, REDIS_URL=REDIS_LAYER)
        self.log_dir = Path(log_dir)
        self.processes = {}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def commands(self):
        if self.mode == "embedded":
            return {
                "web": [sys.executable, "manage.py", "serve", "--port", str(self.port)],
            }
        return {
            "web": [
                str(BIN / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "automation.wsgi:application",
            ],
            "ws": [
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(self.ws_port),
                "automation.asgi:application",
            ],
            "worker": [
                str(BIN / "celery"),
                "-A",
                "automation",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "--loglevel=WARNING",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            "beat": [
                str(BIN / "celery"),
                "-A",
                "automation",
                "beat",
                "--loglevel=WARNING",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--schedule",
                str(self.log_dir / "beat.db"),
            ],
        }

    def start(self, *names):
        commands = self.commands()
        for name in names or commands:
            log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
            self.processes[name] = (
                subprocess.Popen(
                    commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
                ),
                log,
            )
        if "web" in (names or commands):
            self.wait_http()
        if "ws" in (names or commands):
            self.wait_port(self.ws_port)
        if self.mode == "distributed" and "worker" in (names or commands):
            time.sleep(2)  # the worker connects to the broker
        return self

    def wait_http(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/admin/login/", timeout=5)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.mode} product did not start:\n{self.logs()}")

    def wait_port(self, port, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing listens on {port}:\n{self.logs()}")

    def kill(self, name):
        process, log = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()
        log.close()

    def stop(self):
        for name in list(self.processes):
            process, log = self.processes.pop(name)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    def logs(self):
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def wait_for(predicate, timeout=30, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


__all__ = ["Product", "os", "redis_available", "wait_for"]
