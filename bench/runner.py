"""Runs the scenarios, each on each database it supports, and reports.

Every scenario runs in a subprocess of its own (`python -m bench.child`) whose environment
points DATABASE_URL at a database made for it (bench.databases). Why a subprocess rather
than switching `settings.DATABASES` in this process:

- the product reads its configuration (database, broker, channel layer) from the environment
  at start-up, so a fresh interpreter gets exactly the configuration a deployment on that
  database gets, with nothing patched at run time and no connection left over from the
  previous scenario;
- the process that runs `manage.py bench` never opens the user's database at all;
- memory figures (the `scale` scenario) start from a clean process, and a scenario that
  crashes or hangs is killed (with the product processes it started) without taking the
  others along.
"""

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

from . import SCENARIOS
from .databases import ROOT, Databases, base_env, postgres_admin_url, postgres_available
from .harness import Metric, Report, ScenarioResult, machine, progress
from .processes import distributed_env

ENGINES = {"sqlite": ("sqlite",), "postgres": ("postgresql",), "both": ("sqlite", "postgresql")}


def scenario_module(name):
    return importlib.import_module(f"bench.{name}")


def run(names, *, quick=False, database=None, json_path=None, profile=None):
    """Run the named scenarios (all by default); returns the Report.

    `database` is sqlite, postgres or both; by default both, except with `quick`, where each
    scenario runs on its first database only (SQLite for the in-process ones).
    """
    names = list(names) or list(SCENARIOS)
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario(s): {', '.join(unknown)} (known: {', '.join(SCENARIOS)})"
        )
    engines = ENGINES[database or "both"]
    report = Report(quick=quick, machine=machine())
    have_postgres = "postgresql" in engines and postgres_available()
    with Databases() as databases:
        for name in names:
            module = scenario_module(name)
            for engine in module.DATABASES[:1] if quick and database is None else module.DATABASES:
                if engine not in engines:
                    continue
                result = ScenarioResult(name=name, summary=module.SUMMARY, database=engine)
                report.results.append(result)
                if engine == "postgresql" and not have_postgres:
                    result.skipped = f"PostgreSQL is not reachable at {postgres_admin_url()}"
                    progress(f"{name} on {engine}: skipped ({result.skipped})")
                    continue
                progress(f"{name} on {engine}{' (quick)' if quick else ''} ...")
                started = time.monotonic()
                with databases.fresh(engine) as url:
                    _run_child(result, module, url, quick, profile)
                result.seconds = time.monotonic() - started
                outcome = result.skipped or result.error.strip().splitlines()[-1:] or ["done"]
                progress(f"{name} on {engine}: {outcome} in {result.seconds:.0f} s")
            if not any(engine in engines for engine in module.DATABASES):
                result = ScenarioResult(name=name, summary=module.SUMMARY, database=database)
                result.skipped = f"runs on {', '.join(module.DATABASES)} only"
                report.results.append(result)
    if json_path:
        report.write_json(json_path)
    return report


def _run_child(result, module, database_url, quick, profile):
    timeout = module.TIMEOUT[1 if quick else 0]
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    command = [sys.executable, "-m", "bench.child", result.name, result.database, "--out", out_path]
    if quick:
        command.append("--quick")
    if profile:
        os.makedirs(profile, exist_ok=True)
        command += ["--profile", os.path.abspath(profile)]
    # A session of its own: on a timeout the whole group goes, product processes included.
    env = base_env(database_url)
    if getattr(module, "BROKER", "memory") == "redis" and result.database == "postgresql":
        # The scenario process talks to the distributed product's broker and channel layer
        # (on SQLite the product runs embedded: nothing of this benchmark goes to Redis).
        env = distributed_env(env)
    process = subprocess.Popen(  # noqa: S603
        command, cwd=ROOT, env=env, start_new_session=True
    )
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        result.error = f"timed out after {timeout} s"
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        raise
    try:
        with open(out_path) as data:
            outcome = json.load(data)
    except (OSError, ValueError):
        result.error = result.error or f"the scenario process exited with {process.returncode}"
        return
    finally:
        os.unlink(out_path)
    result.metrics = [Metric.from_json(metric) for metric in outcome["metrics"]]
    result.notes = outcome["notes"]
    result.skipped = outcome["skipped"]
    result.error = result.error or outcome["error"]
