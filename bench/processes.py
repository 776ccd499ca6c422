"""The product as separate processes, for the scenarios that measure the whole system.

embedded: one `manage.py serve` process (daphne, a Celery worker and beat in one process,
the in-process broker and channel layer), as `bin/start` runs it.

distributed: as the Procfile deploys it, each its own process, over Redis (broker on db
12, channel layer on db 13: the tests use 14 and 15) and the scenario's database: gunicorn
serving HTTP through WSGI (`web` worker processes under one master, on a socket the
benchmark binds and hands over), daphne serving the websockets on a second port, Celery
worker processes and one beat.

`rss()` reads each process's resident memory (and its children's) from /proc.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .databases import ROOT

BIN = Path(sys.executable).parent
REDIS_BROKER = "redis://127.0.0.1:6379/12"
REDIS_LAYER = "redis://127.0.0.1:6379/13"
WSGI_APP = "automation.wsgi:application"
ASGI_APP = "automation.asgi:application"


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def redis_available():
    try:
        import redis

        redis.Redis.from_url(REDIS_BROKER, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def flush_redis():
    import redis

    for url in (REDIS_BROKER, REDIS_LAYER):
        redis.Redis.from_url(url).flushdb()


def distributed_env(env):
    return {**env, "CELERY_BROKER_URL": REDIS_BROKER, "REDIS_URL": REDIS_LAYER}


def embedded_env(env):
    env = {key: value for key, value in env.items() if key != "REDIS_URL"}
    return {**env, "CELERY_BROKER_URL": "memory://"}


class Product:
    """`with Product("distributed", env, log_dir, web=2) as product: product.url ...`"""

    def __init__(self, mode, env, log_dir, *, web=1, workers=1, threads=4, beat=True):
        self.mode = mode
        self.env = distributed_env(env) if mode == "distributed" else embedded_env(env)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.web, self.workers, self.threads, self.with_beat = web, workers, threads, beat
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs = []
        self._socket = None
        self.port = None
        self.ws_port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.ws_port}"

    # -- starting and stopping -------------------------------------------------------------

    def start(self):
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        if self.mode == "embedded":
            self._socket.close()  # serve binds its own port
            self.ws_port = self.port
            command = [sys.executable, "manage.py", "serve", "--port", str(self.port)]
            self._spawn("serve", command)
        else:
            if redis_available():
                flush_redis()
            self._socket.listen(1024)
            fd = self._socket.fileno()
            self._spawn("web", self._web_command(fd), pass_fds=(fd,))
            self.ws_port = _free_port()
            self._spawn("ws", [str(BIN / "daphne"), "-p", str(self.ws_port), ASGI_APP])
            for index in range(self.workers):
                self._spawn(f"worker{index + 1}", self._worker_command(index))
            if self.with_beat:
                self._spawn("beat", self._beat_command())
        self._wait_http()
        if self.mode == "distributed" and self.workers:
            self._wait_workers()
        return self

    def _web_command(self, fd):
        return [
            str(BIN / "gunicorn"),
            "--bind",
            f"fd://{fd}",
            "--workers",
            str(self.web),
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--log-level",
            "warning",
            WSGI_APP,
        ]

    def _worker_command(self, index):
        return [
            str(BIN / "celery"),
            "-A",
            "automation",
            "worker",
            "--pool=threads",
            f"--concurrency={self.threads}",
            "--loglevel=WARNING",
            f"--hostname=bench{index + 1}@%h",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ]

    def _beat_command(self):
        return [
            str(BIN / "celery"),
            "-A",
            "automation",
            "beat",
            "--loglevel=WARNING",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
            "--schedule",
            str(self.log_dir / "beat-schedule.db"),
        ]

    def _spawn(self, name, command, pass_fds=()):
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, pass_fds=pass_fds
        )

    def _wait_http(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                requests.get(self.url + "/admin/login/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"the {self.mode} product did not answer HTTP:\n{self.logs()}")

    def _wait_workers(self, timeout=60):
        from django.conf import settings

        from automation.celery import app

        if settings.CELERY_BROKER_URL != REDIS_BROKER:
            raise RuntimeError("the scenario process must run with BROKER = 'redis'")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if len(app.control.ping(timeout=0.5) or []) >= self.workers:
                return
        raise RuntimeError(f"the Celery workers did not answer a ping:\n{self.logs()}")

    def _check_alive(self):
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"product process(es) exited: {dead}\n{self.logs()}")

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._socket is not None:
            self._socket.close()
        if self.mode == "distributed" and redis_available():
            flush_redis()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    # -- looking at them ---------------------------------------------------------------------

    def pids(self):
        return {name: process.pid for name, process in self.processes.items()}

    def rss(self):
        """Resident memory in bytes per process (children included)."""
        return {name: tree_rss(pid) for name, pid in self.pids().items()}

    def logs(self, tail=3000):
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def tree_rss(pid):
    return sum(_rss(p) for p in [pid, *_descendants(pid)])


def _rss(pid):
    return status_bytes(pid, "VmRSS")


def status_bytes(pid, name):
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM...) in bytes; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(f"{name}:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _descendants(pid):
    found = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found.append(int(child))
        found.extend(_descendants(int(child)))
    return found


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its live children (gunicorn's workers)."""
    return sum(_cpu_seconds(p) for p in [pid, *_descendants(pid)])


def _cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
