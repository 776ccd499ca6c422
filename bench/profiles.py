"""Profiles of the product's own processes (py-spy), for `manage.py bench --profile DIR`.

The scenario process is profiled with pyinstrument (bench.child); the web processes of the
distributed product are other processes, so py-spy samples them from outside while the load
runs. `record()` writes py-spy's collapsed stacks (flamegraph input) and a summary of the
functions where the samples were, by inclusive share, so the cause of a miss reads in a
terminal.
"""

import collections
import re
import subprocess
import sys
from pathlib import Path

SPY = Path(sys.executable).parent / "py-spy"


def record(pid, seconds, directory, name):
    """Start sampling `pid` and its children (gunicorn's workers) for `seconds`; returns a
    function that waits and summarises."""
    raw = Path(directory) / f"{name}.collapsed"
    command = [str(SPY), "record", "--pid", str(pid), "--duration", str(int(seconds))]
    command += ["--subprocesses", "--gil"]
    command += ["--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"]
    process = subprocess.Popen(  # noqa: S603
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def finish():
        process.wait()
        if raw.exists():
            summary = Path(directory) / f"{name}.txt"
            summary.write_text(summarise(raw.read_text()))
            return summary
        return None

    return finish


def summarise(collapsed, top=60):
    """Inclusive share of the samples per function (line numbers dropped), largest first."""
    inclusive: collections.Counter = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        seen = set()
        for frame in stack.split(";"):
            key = re.sub(r":\d+\)$", ")", frame)
            if key not in seen:
                seen.add(key)
                inclusive[key] += int(count)
    lines = [f"{total} samples; share of samples in which each function is on the stack"]
    lines += [
        f"{count / total * 100:5.1f}%  {name}"
        for name, count in inclusive.most_common(top)
        if total and not name.startswith(("thread (", "process "))
    ]
    return "\n".join(lines) + "\n"
