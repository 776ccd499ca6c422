"""Rounds, warm-up, median and spread; the report as a table and as JSON.

Every figure the benchmark prints is a `Metric`: the values of several rounds (taken after a
warm-up round that is thrown away), summarised as the median and the spread (lowest and
highest round). A metric may carry its target from issue 6; the table says whether the
median meets it. Scenarios build metrics with `Bench.measure` (a function called once per
round) or `Bench.add` (values they collected themselves, e.g. per-round p95s).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


class Skip(Exception):
    """A scenario cannot run here (a service or a feature is missing); the message says why."""


@dataclass(frozen=True)
class Target:
    """`value` with `op` "<=" (at most) or ">=" (at least), e.g. Target("<=", 0.5)."""

    op: str
    value: float

    def met(self, measured):
        if measured is None:
            return None
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self):
        return f"{self.op} {_number(self.value)}"


@dataclass
class Metric:
    scenario: str
    name: str
    unit: str
    values: list[float]
    database: str = ""  # sqlite | postgresql
    mode: str = ""  # in-process | embedded | distributed
    target: Target | None = None
    note: str = ""

    @property
    def median(self):
        return statistics.median(self.values) if self.values else None

    @property
    def low(self):
        return min(self.values) if self.values else None

    @property
    def high(self):
        return max(self.values) if self.values else None

    @property
    def met(self):
        return self.target.met(self.median) if self.target else None

    def to_json(self):
        data = asdict(self)
        data["target"] = {"op": self.target.op, "value": self.target.value} if self.target else None
        data.update(median=self.median, low=self.low, high=self.high, met=self.met)
        return data

    @classmethod
    def from_json(cls, data):
        target = data.get("target")
        return cls(
            scenario=data["scenario"],
            name=data["name"],
            unit=data["unit"],
            values=list(data["values"]),
            database=data.get("database", ""),
            mode=data.get("mode", ""),
            target=Target(target["op"], target["value"]) if target else None,
            note=data.get("note", ""),
        )


@dataclass
class Bench:
    """What a scenario receives: its settings, and where its figures and notes go."""

    scenario: str
    database: str
    quick: bool
    rounds: int = 5
    warmup: int = 1
    profile_dir: str = ""  # --profile: where a scenario may write profiles of its own
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.quick:
            self.rounds = min(self.rounds, 3)

    def size(self, full, quick):
        """A scenario's size: the full one, or the --quick one."""
        return quick if self.quick else full

    def add(self, name, unit, values, *, mode="in-process", target=None, note=""):
        metric = Metric(
            scenario=self.scenario,
            name=name,
            unit=unit,
            values=[float(v) for v in values],
            database=self.database,
            mode=mode,
            target=target,
            note=note,
        )
        self.metrics.append(metric)
        return metric

    def measure(self, round_fn: Callable[[], dict[str, float]], *, rounds=None, warmup=None):
        """Call `round_fn` `warmup` times (thrown away), then `rounds` times; returns
        {figure name: [one value per round]} from the dicts it returns."""
        for _ in range(self.warmup if warmup is None else warmup):
            round_fn()
        collected: dict[str, list[float]] = {}
        for _ in range(self.rounds if rounds is None else rounds):
            for key, value in round_fn().items():
                collected.setdefault(key, []).append(value)
        return collected

    def note(self, text):
        self.notes.append(text)


# -- percentiles ----------------------------------------------------------------------------


def percentile(values, p):
    """Linear interpolation between closest ranks (what the n8n load client uses)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100.0
    lower = int(k)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (k - lower)


def chunks(values, count):
    """`values` split into `count` consecutive parts of (nearly) equal size."""
    size, extra = divmod(len(values), count)
    parts, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        parts.append(values[start:end])
        start = end
    return [part for part in parts if part]


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start


# -- the machine ----------------------------------------------------------------------------


def machine():
    """What the figures came from, and how busy the machine was when they were taken."""
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                "",
            )
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            memory = meminfo.readline().split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgresql": _version(["psql", "--version"]),
        "redis": _version(["redis-server", "--version"]),
        "load_average_at_start": list(os.getloadavg()),
    }


def _version(command):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=5, check=False)  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


# -- the report -----------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    name: str
    summary: str
    database: str
    seconds: float = 0.0
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str = ""
    error: str = ""

    def to_json(self):
        return {
            "name": self.name,
            "summary": self.summary,
            "database": self.database,
            "seconds": round(self.seconds, 1),
            "metrics": [metric.to_json() for metric in self.metrics],
            "notes": self.notes,
            "skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class Report:
    quick: bool
    machine: dict
    results: list[ScenarioResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def to_json(self):
        machine = {**self.machine, "load_average_at_end": list(os.getloadavg())}
        return {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "quick": self.quick,
            "machine": machine,
            "scenarios": [result.to_json() for result in self.results],
        }

    def write_json(self, path):
        with open(path, "w") as out:
            json.dump(self.to_json(), out, indent=1)
            out.write("\n")

    def table(self):
        header = ("scenario", "figure", "db / mode", "median", "spread", "unit", "target", "met")
        rows = []
        for result in self.results:
            if result.skipped or result.error:
                what = "skipped: " + result.skipped if result.skipped else "error: " + result.error
                rows.append((result.name, what.splitlines()[0][:90], result.database, *[""] * 5))
                continue
            for metric in result.metrics:
                where = "/".join(part for part in (metric.database, metric.mode) if part)
                spread = (
                    f"{_number(metric.low)}..{_number(metric.high)}"
                    if len(metric.values) > 1
                    else ""
                )
                met = {True: "yes", False: "NO", None: ""}[metric.met]
                rows.append(
                    (
                        metric.scenario,
                        metric.name,
                        where,
                        _number(metric.median),
                        spread,
                        metric.unit,
                        str(metric.target) if metric.target else "",
                        met,
                    )
                )
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        notes = [
            f"- {result.name} ({result.database}): {note}"
            for result in self.results
            for note in result.notes
        ]
        return "\n".join(lines + (["", "Notes:", *notes] if notes else []))


def _number(value):
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def progress(text):
    """One line on stderr, so stdout stays the table."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)  # noqa: T201
