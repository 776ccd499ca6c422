"""A process-local doorbell: callers ring it with an item in microseconds; one daemon
thread per process collects what was rung and sends it on in batches.

The outbox rings it after each commit with the event's id, and its thread sends one
`triggers.dispatch_events` message per batch instead of one Celery message per event (a
publish costs the caller hundreds of microseconds; ringing costs a `deque.append` and an
`Event.set`). Under load many events share one message; one event alone goes out at once.

Nothing here is needed for durability: the event row is committed with the business write
before the bell rings, and the outbox sweep (`triggers.dispatch.dispatch_pending`)
dispatches whatever a process died (or failed to publish) before sending. The thread is
started lazily, again in a forked child (a fork copies no threads: state is reset there,
and items rung in the parent stay the parent's to send). At exit, what is still queued is
sent (for up to `EXIT_TIMEOUT` seconds), so a short script's events go out without
waiting for the sweep.
"""

import atexit
import collections
import logging
import os
import threading
import time

logger = logging.getLogger(__name__)

EXIT_TIMEOUT = 2.0


class _Flush:
    """A marker rung like an item: the thread sends what was rung before it, then sets it."""

    __slots__ = ("done",)

    def __init__(self):
        self.done = threading.Event()


class _State:
    __slots__ = ("bell", "pid", "queue", "thread", "urgent")

    def __init__(self):
        self.pid = os.getpid()
        self.queue = collections.deque()
        self.bell = threading.Event()  # something was rung
        self.urgent = threading.Event()  # a flush waits: no pacing
        self.thread = None


class Doorbell:
    """`Doorbell(send, name=...)`; `ring(item)` from any thread; `send(list_of_items)` is
    called from the doorbell's thread with at most `batch_size` items at a time.

    `interval` (seconds) paces the sends: at most one per interval. A ring after a quiet
    spell is sent at once; rings that come while the last send is younger than `interval`
    wait for the rest of it and go out together (under load: fewer, bigger batches, each
    item delayed by at most `interval`). A `send` that
    raises is logged and its items are dropped (whoever rings must have a way to recover
    them; the outbox has its sweep)."""

    def __init__(self, send, *, name, batch_size=100, interval=0.0):
        self.send = send
        self.name = name
        self.batch_size = batch_size
        self.interval = interval
        self._state = None
        self._lock = threading.Lock()
        self._exit_registered = False
        os.register_at_fork(after_in_child=self._after_fork)

    def ring(self, item):
        state = self._state
        if state is None or state.pid != os.getpid():
            state = self._start()
        state.queue.append(item)
        # Already set: the thread has not cleared it since, so it will drain this item too
        # (it clears before it drains). Event.set takes a lock and notifies: 1 us a ring.
        if not state.bell.is_set():
            state.bell.set()

    def flush(self, timeout=5.0):
        """Wait until everything rung so far in this process has been handed to `send`;
        False if that took longer than `timeout` seconds."""
        state = self._state
        if state is None or state.pid != os.getpid():
            return True
        marker = _Flush()
        state.queue.append(marker)
        state.urgent.set()
        state.bell.set()
        return marker.done.wait(timeout)

    def pending(self):
        """How many items wait in this process's queue (not counting a batch being sent)."""
        state = self._state
        if state is None or state.pid != os.getpid():
            return 0
        return sum(1 for item in list(state.queue) if not isinstance(item, _Flush))

    # -- the thread ------------------------------------------------------------------------

    def _start(self):
        with self._lock:
            state = self._state
            if state is not None and state.pid == os.getpid():
                return state  # another thread started it meanwhile
            state = _State()
            state.thread = threading.Thread(
                target=self._run, args=(state,), name=f"doorbell-{self.name}", daemon=True
            )
            state.thread.start()
            self._state = state  # published only once its thread runs
            if not self._exit_registered:
                atexit.register(self._at_exit)
                self._exit_registered = True
            return state

    def _after_fork(self):
        # The child has no thread of ours, and a lock held by another thread at the fork
        # would stay held: start afresh.
        self._lock = threading.Lock()
        self._state = None

    def _run(self, state):
        queue, bell, urgent = state.queue, state.bell, state.urgent
        last = float("-inf")
        while True:
            bell.wait()
            early = last + self.interval - time.monotonic()
            if early > 0:
                urgent.wait(early)
            urgent.clear()
            bell.clear()
            last = time.monotonic()
            try:
                self._drain(queue)
            except Exception:  # never let the thread die; the items are the sweep's now
                logger.exception("doorbell %s: collecting the queue failed", self.name)

    def _drain(self, queue):
        batch = []
        while True:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if isinstance(item, _Flush):
                self._send(batch)
                batch = []
                item.done.set()
                continue
            batch.append(item)
            if len(batch) >= self.batch_size:
                self._send(batch)
                batch = []
        self._send(batch)

    def _send(self, batch):
        if not batch:
            return
        try:
            self.send(batch)
        except Exception:
            logger.warning(
                "doorbell %s: sending %d item(s) failed; they are left to the sweep",
                self.name,
                len(batch),
                exc_info=True,
            )

    def _at_exit(self):
        try:
            self.flush(EXIT_TIMEOUT)
        except Exception:  # pragma: no cover - never fail an exiting interpreter
            logger.warning("doorbell %s: flushing at exit failed", self.name, exc_info=True)
