"""The benchmark command runs end to end (CI's smoke test): it never gates on times.

`manage.py bench engine --quick --database sqlite --json FILE` in a subprocess, exactly as a
person runs it: it makes and drops its own database, and the JSON holds the scenario with a
number for each figure. How fast the figures are is the benchmark's business, not CI's.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_quick_engine_benchmark_writes_its_figures(tmp_path):
    report = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "bench",
            "engine",
            "--quick",
            "--database",
            "sqlite",
            "--json",
            str(report),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert data["quick"] is True
    assert data["machine"]["cpus"] >= 1
    (engine,) = [s for s in data["scenarios"] if s["name"] == "engine"]
    assert engine["database"] == "sqlite"
    assert not engine["error"], engine["error"]
    assert not engine["skipped"]
    names = [metric["name"] for metric in engine["metrics"]]
    assert any("per step" in name for name in names), names
    for metric in engine["metrics"]:
        assert metric["values"], metric
        assert all(isinstance(v, int | float) and math.isfinite(v) for v in metric["values"])
        assert metric["median"] is not None
    # The table went to stdout with the same figures.
    assert "per step" in result.stdout
