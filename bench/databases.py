"""The benchmark's own databases: never the user's.

Each scenario runs against a database made for it and thrown away after it: a temporary
SQLite file, or a fresh PostgreSQL database `bench_<pid>_<n>` on BENCH_POSTGRES_URL
(postgres://postgres@127.0.0.1:5432 by default), dropped afterwards. Migrating takes about
two seconds, so each engine is migrated once into a template (a file, or a database
`bench_<pid>`) and every scenario gets a copy of it (an SQLite backup, or PostgreSQL's
`CREATE DATABASE ... TEMPLATE`, a fraction of a second).

Migrations run in a `manage.py migrate` subprocess with DATABASE_URL pointing at the
template, like every scenario (see bench.runner for why scenarios run in subprocesses).
"""

import contextlib
import itertools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"

# Variables of the product that the scenarios set themselves: whatever the user's shell
# says about their database, broker, channel layer or email provider never reaches a
# benchmark process.
PRODUCT_VARIABLES = (
    "DATABASE_URL",
    "SQLITE_PATH",
    "SQLITE_TEST_PATH",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "EMAIL_BACKEND",
    "CONN_MAX_AGE",
)


def postgres_admin_url():
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES)


def postgres_available():
    try:
        import psycopg

        with psycopg.connect(postgres_admin_url(), connect_timeout=2):
            return True
    except Exception:
        return False


def base_env(database_url):
    """The environment of every benchmark process: its own database, the in-process broker
    and channel layer, and no email leaving the machine."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in PRODUCT_VARIABLES and not key.startswith("ANYMAIL_")
    }
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL="memory://",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        DJANGO_SETTINGS_MODULE="automation.settings",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "ERROR"),
    )
    return env


def migrate(database_url):
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=base_env(database_url),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrating {_safe(database_url)} failed:\n{result.stderr[-3000:]}")


class Databases:
    """Fresh migrated databases on demand: `with databases.fresh("sqlite") as url: ...`."""

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="bench-"))
        self.prefix = f"bench_{os.getpid()}"
        self._templates: dict[str, str] = {}
        self._counter = itertools.count(1)

    def fresh(self, engine):
        if engine == "sqlite":
            return self._fresh_sqlite()
        if engine == "postgresql":
            return self._fresh_postgres()
        raise ValueError(f"unknown database engine {engine!r}")

    @contextlib.contextmanager
    def _fresh_sqlite(self):
        if "sqlite" not in self._templates:
            template = self.directory / "template.sqlite3"
            migrate(f"sqlite:///{template}")
            self._templates["sqlite"] = str(template)
        path = self.directory / f"scenario_{next(self._counter)}.sqlite3"
        source = sqlite3.connect(self._templates["sqlite"])
        target = sqlite3.connect(path)
        with target:
            source.backup(target)
        source.close()
        target.close()
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    @contextlib.contextmanager
    def _fresh_postgres(self):
        if "postgresql" not in self._templates:
            self._create(self.prefix)
            migrate(_with_database(postgres_admin_url(), self.prefix))
            self._templates["postgresql"] = self.prefix
        name = f"{self.prefix}_{next(self._counter)}"
        self._create(name, template=self.prefix)
        try:
            yield _with_database(postgres_admin_url(), name)
        finally:
            self._drop(name)

    def _admin(self, statement):
        import psycopg

        with psycopg.connect(postgres_admin_url(), autocommit=True) as connection:
            connection.execute(statement)

    def _create(self, name, template=None):
        clause = f" TEMPLATE {template}" if template else ""
        self._admin(f"CREATE DATABASE {name}{clause}")

    def _drop(self, name):
        # FORCE: a product process that is still shutting down must not keep it alive.
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self):
        try:
            if "postgresql" in self._templates:
                self._drop(self._templates.pop("postgresql"))
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _with_database(url, name):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _safe(url):
    """A URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)
