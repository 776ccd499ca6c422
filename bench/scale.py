"""scale: one run that loops over 100,000 records.

In process, no broker, one execution run inline (as a worker runs it): `query_records` reads
every invoice (100,000; 2,000 with --quick), then a loop visits each with one condition step
(bench.definitions.loop_over_records): 100,002 steps, each a StepRun. Measured: whether it
finishes within the scenario's time budget (and how far it got if not), the steps a second,
how much this process's resident memory grew over the run (sampled every 0.2 s; target under
200 MB), and whether the whole step history was kept (one succeeded StepRun per visit, no
path twice). One round: the run is the measurement. SQLite and PostgreSQL.
"""

import gc
import threading
import time

from . import data
from .definitions import loop_over_records
from .harness import Stopwatch, Target
from .processes import status_bytes, tree_rss

SUMMARY = "a loop over 100,000 records in one run: finishes, memory growth, history kept"
DATABASES = ("sqlite", "postgresql")
TIMEOUT = (480, 120)

MB = 1_000_000


def run(bench):
    import os

    from workflows.engine import run_execution
    from workflows.models import Execution, StepRun
    from workflows.services import start_execution

    records = bench.size(100_000, 2_000)
    budget = bench.size(75.0, 60.0)
    owners = data.customers(100)
    data.invoices(records, owners, prefix="SCL")
    workflow = data.workflow(loop_over_records(), status="active")
    execution = start_execution(workflow)  # pending; run below, in this process
    gc.collect()
    sampler = _Sampler(os.getpid())
    with sampler, Stopwatch() as watch:
        run_execution(execution, deadline=time.monotonic() + budget)
    execution = Execution.objects.get(pk=execution.pk)
    steps = StepRun.objects.filter(execution=execution)
    visits = steps.filter(node_id="check", status="succeeded").count()
    distinct = steps.values("path").distinct().count()
    finished = execution.status == "completed"
    bench.add(
        f"loop over {records:,} records: finished within {budget:.0f} s",
        "yes=1",
        [1 if finished else 0],
        target=Target(">=", 1),
    )
    bench.add("loop: steps/s", "steps/s", [steps.count() / watch.seconds])
    bench.add("loop: items done", "items", [visits])
    bench.add("loop: resident memory growth", "MB", [sampler.growth / MB], target=Target("<=", 200))
    kept = visits == (records if finished else visits) and distinct == steps.count()
    bench.add("loop: every step kept (1 = yes)", "yes=1", [int(kept)], target=Target(">=", 1))
    if not finished:
        rate = visits / watch.seconds
        bench.note(
            f"stopped at the {budget:.0f} s budget after {visits:,} of {records:,} items "
            f"({execution.status}); at {rate:.0f} items/s the whole loop needs "
            f"{records / max(rate, 1e-9):.0f} s"
        )


class _Sampler:
    """Peak resident memory of this process over a block, minus what it was before.

    Linux keeps the peak itself (VmHWM), which this resets at the start of the block
    (`clear_refs`), so a spike between two samples is not missed: sampling every 0.2 s
    missed the end of the loop, whose peak was 360 MB while the samples said 232. Where
    the kernel cannot do that, the samples are all there is."""

    def __init__(self, pid):
        self.pid = pid
        self.growth = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, tree_rss(self.pid))

    def __enter__(self):
        self.before = self.peak = tree_rss(self.pid)
        self.kernel_peak = _reset_peak(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))
        if self.kernel_peak:
            self.peak = max(self.peak, _kernel_peak(self.pid))
        self.growth = self.peak - self.before


def _reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current resident size
    except OSError:
        return False
    return _kernel_peak(pid) > 0


def _kernel_peak(pid):
    return status_bytes(pid, "VmHWM")
