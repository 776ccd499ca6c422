"""A run killed for real in the middle (SIGKILL) resumes without repeating a step."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm.models import Lead
from workflows.models import Execution, StepRun

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 1500

DEFINITION = {
    "id": "wf_durable",
    "name": "Create one lead per item",
    "trigger": {"type": "manual"},
    "nodes": [
        {
            "id": "each",
            "type": "loop",
            "collection": "{{ people }}",
            "item_variable": "person",
            "body": ["create"],
        },
        {
            "id": "create",
            "type": "action",
            "action": "create_record",
            "config": {
                "entity": "leads",
                "values": {"name": "{{ person.name }}", "email": "{{ person.email }}"},
            },
        },
        {
            "id": "count",
            "type": "action",
            "action": "query_records",
            "config": {"entity": "leads", "limit": 1},
        },
    ],
    "edges": [
        {"from": "trigger", "to": "each"},
        {"from": "each", "to": "create"},
        {"from": "each", "to": "count"},
    ],
}


def manage(*args, env, **kwargs):
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_repeats_no_step(subprocess_env, tmp_path):
    definition_file = tmp_path / "durable.json"
    definition_file.write_text(json.dumps(DEFINITION))
    people = [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(ITEMS)]
    process = manage(
        "workflow",
        "run",
        str(definition_file),
        "--input",
        json.dumps({"people": people}),
        env=subprocess_env,
    )
    # Kill it once it is well into the loop, at whatever instruction it is executing.
    deadline = time.monotonic() + 120
    while StepRun.objects.count() < 200:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    execution = Execution.objects.get()
    assert execution.status == "running"  # what a dead worker leaves behind
    done_before = StepRun.objects.count()
    assert 200 <= done_before < ITEMS, "killed too late to prove anything"

    resumed = manage("workflow", "resume", execution.public_id, env=subprocess_env)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    execution.refresh_from_db()
    assert execution.status == "completed", execution.error

    # Every visit recorded exactly once, and every lead created exactly once.
    paths = list(StepRun.objects.values_list("path", flat=True))
    assert len(paths) == len(set(paths)) == 1 + ITEMS + 1
    assert Lead.objects.count() == ITEMS
    assert Lead.objects.values("email").distinct().count() == ITEMS
    assert execution.steps_total == len(paths)
