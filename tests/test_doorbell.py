"""The doorbell: rings cost the caller next to nothing, one thread per process sends them on
in batches (a lone ring at once, a burst together), nothing rung is lost or sent twice by a
failing send, a fork, or the interpreter exiting."""

import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from automation.doorbell import Doorbell

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """A `send` that records its batches (and can be told to fail)."""

    def __init__(self):
        self.batches = []
        self.failing = False
        self.sent = threading.Event()

    def __call__(self, batch):
        if self.failing:
            raise ConnectionError("the broker is down")
        self.batches.append(list(batch))
        self.sent.set()

    @property
    def items(self):
        return [item for batch in self.batches for item in batch]


def test_a_lone_ring_is_sent_at_once_even_when_sends_are_paced():
    recorder = Recorder()
    bell = Doorbell(recorder, name="test-lone", interval=30)  # paced, but nothing was sent

    began = time.monotonic()
    bell.ring("a")

    assert recorder.sent.wait(10)
    assert time.monotonic() - began < 5  # not after the 30 s interval
    assert recorder.batches == [["a"]]


def test_a_burst_of_rings_shares_few_sends_and_loses_nothing():
    recorder = Recorder()
    bell = Doorbell(recorder, name="test-burst", interval=0.5, batch_size=1000)

    for item in range(300):
        bell.ring(item)
    assert bell.flush(10)

    assert recorder.items == list(range(300))  # each once, in order
    assert len(recorder.batches) <= 3  # the first ring at once, the rest together
    assert bell.pending() == 0


def test_a_batch_holds_at_most_batch_size_items():
    recorder = Recorder()
    gate = threading.Event()

    def slow_send(batch):
        gate.wait(10)  # the first send is held up while the rest is rung
        recorder(batch)

    bell = Doorbell(slow_send, name="test-size", batch_size=10)
    bell.ring(-1)
    for item in range(45):
        bell.ring(item)
    gate.set()
    assert bell.flush(10)

    assert recorder.items == [-1, *range(45)]
    assert max(len(batch) for batch in recorder.batches) == 10


def test_rings_from_many_threads_are_all_sent_once():
    recorder = Recorder()
    bell = Doorbell(recorder, name="test-threads", interval=0.01)

    def ring(offset):
        for item in range(offset, offset + 200):
            bell.ring(item)

    threads = [threading.Thread(target=ring, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert bell.flush(10)

    expected = sorted(n * 1000 + i for n in range(8) for i in range(200))
    assert sorted(recorder.items) == expected


def test_a_failing_send_is_logged_and_the_doorbell_keeps_working(caplog):
    recorder = Recorder()
    bell = Doorbell(recorder, name="test-failing")
    recorder.failing = True

    with caplog.at_level(logging.WARNING, logger="automation.doorbell"):
        bell.ring("lost")
        assert bell.flush(10)
    recorder.failing = False
    bell.ring("sent")
    assert bell.flush(10)

    assert recorder.items == ["sent"]  # the failed one is left to the caller's sweep
    assert "sending 1 item(s) failed" in caplog.text


def test_flush_with_nothing_rung_returns_at_once():
    bell = Doorbell(Recorder(), name="test-idle")
    assert bell.flush(0.01)
    assert bell.pending() == 0


def _ring_in_child(bell, results):
    bell.ring("from the child")
    bell.flush(10)
    results.put(sorted(thread.name for thread in threading.enumerate()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_thread_and_only_its_own_rings():
    parent_items = []
    child_items = multiprocessing.get_context("fork").Queue()

    def send(batch):
        if os.getpid() == parent:
            gate.wait(10)
            parent_items.extend(batch)
        else:
            for item in batch:
                child_items.put(item)

    parent = os.getpid()
    gate = threading.Event()
    bell = Doorbell(send, name="test-fork")
    bell.ring("from the parent")  # its send is held up while the child is forked

    threads = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_ring_in_child, args=(bell, threads))
    child.start()
    names = threads.get(timeout=20)
    child.join(20)
    gate.set()
    assert bell.flush(10)

    assert child.exitcode == 0
    assert "doorbell-test-fork" in names  # started afresh in the child
    assert child_items.get(timeout=5) == "from the child"
    assert child_items.empty()  # the parent's ring is not sent by the child
    assert parent_items == ["from the parent"]


def test_what_is_still_queued_at_exit_is_sent():
    script = (
        "import sys, time\n"
        "from automation.doorbell import Doorbell\n"
        "def send(batch):\n"
        "    time.sleep(0.2)\n"
        "    print('sent', *batch, flush=True)\n"
        "bell = Doorbell(send, name='exit', interval=60)\n"
        "bell.ring(1)\n"
        "time.sleep(0.05)\n"
        "bell.ring(2)\n"  # paced behind the first send by 60 s: only the exit sends it
        "bell.ring(3)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["sent 1", "sent 2 3"]
