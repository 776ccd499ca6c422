"""Live logs: each committed step change is published to Channels groups.

Two groups per change: the execution's (`execution.<id>`) and its workflow's
(`workflow.<id>`). Publishing happens after commit (the signals are sent on commit), so a
client never sees a step that a rollback erased.

Channels' in-memory layer (embedded mode) is bound to the server's event loop and is not
thread-safe: from a worker thread the message is scheduled onto that loop (`serve` hands it
over with `use_event_loop`). Other layers (Redis) are fed by one publisher thread per
process: a step never waits for the network, and messages that pile up while it sends go
out as one `live.batch` per group (a checkpoint of many steps costs two sends, not two
per step). Order is kept: one thread sends everything, in the order it was given.
"""

import asyncio
import atexit
import logging
import os
import queue
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from .models import Execution, StepRun
from .signals import execution_status_changed, step_recorded
from .summaries import step_summary

logger = logging.getLogger(__name__)

_server_loop = None


def use_event_loop(loop):
    """Publish through this loop (the ASGI server's) from any thread."""
    global _server_loop
    _server_loop = loop


def execution_group(public_id):
    return f"execution.{public_id}"


def workflow_group(public_id):
    return f"workflow.{public_id}"


def step_message(execution, step):
    return {
        "type": "live.step",
        "execution": execution.public_id,
        "workflow": execution.workflow.public_id,
        "step": {"id": step.pk, **step_summary(step)},
    }


def execution_message(execution):
    return {
        "type": "live.execution",
        "execution": execution.public_id,
        "workflow": execution.workflow.public_id,
        "status": execution.status,
        "steps_total": execution.steps_total,
        "steps_completed": execution.steps_completed,
        "error": execution.error,
    }


def group_send(group, message):
    """Send one Channels message from any thread; never fails the caller.

    A live view is a convenience: losing a frame must never fail a run (the page shows the
    stored truth on its next load)."""
    layer = get_channel_layer()
    if layer is None or _nobody_listens(layer, group):
        return
    try:
        if not isinstance(layer, InMemoryChannelLayer):
            _publisher().put(layer, group, message)
        elif _server_loop is not None and _server_loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _server_loop)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("could not publish a live message to %s", group)


class Publisher:
    """A daemon thread with its own event loop that sends what it is given, in order."""

    BATCH = 200

    def __init__(self):
        self.queue = queue.SimpleQueue()
        self.loop = asyncio.new_event_loop()
        self.idle = threading.Event()
        self.idle.set()
        self.thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
        self.thread.start()

    def put(self, layer, group, message):
        self.idle.clear()
        self.queue.put((layer, group, message))

    def drain(self, timeout):
        """Wait until everything given so far is sent (at exit, and in tests)."""
        return self.idle.wait(timeout)

    def _run(self):
        while True:
            items = [self.queue.get()]
            while len(items) < self.BATCH:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.loop.run_until_complete(_send_batched(items))
            except Exception:
                logger.exception("could not publish %d live message(s)", len(items))
            if self.queue.empty():
                self.idle.set()


async def _send_batched(items):
    by_group = {}
    for layer, group, message in items:
        by_group.setdefault((layer, group), []).append(message)
    for (layer, group), messages in by_group.items():
        if len(messages) == 1:
            await layer.group_send(group, messages[0])
        else:
            await layer.group_send(group, {"type": "live.batch", "messages": messages})


class BatchedMessages:
    """For a consumer of groups that `group_send` feeds: unpacks a `live.batch` into the
    messages it carries, each to its own handler."""

    async def live_batch(self, message):
        for one in message["messages"]:
            await self.dispatch(one)


_publishers = {}
_publishers_lock = threading.Lock()


def _publisher():
    """This process's publisher (a forked child starts its own: threads do not survive)."""
    pid = os.getpid()
    publisher = _publishers.get(pid)
    if publisher is None:
        with _publishers_lock:
            publisher = _publishers.get(pid)
            if publisher is None:
                publisher = _publishers[pid] = Publisher()
                atexit.register(publisher.drain, 2.0)
    return publisher


def drain(timeout=5.0):
    """Block until this process's live messages are sent; True when they are."""
    publisher = _publishers.get(os.getpid())
    return publisher is None or publisher.drain(timeout)


def _nobody_listens(layer, group):
    """The in-memory layer knows its groups: a send to a group without members (a CLI run,
    a run in a process without websocket clients) would only cost the step a blocking
    round trip through async_to_sync, which measured more than half of a step's time.
    The Redis layer cannot tell cheaply, so its sends always go."""
    return isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(group)


def publish(message):
    group_send(execution_group(message["execution"]), message)
    group_send(workflow_group(message["workflow"]), message)


def _on_step(sender, execution, step, **kwargs):
    publish(step_message(execution, step))


def _on_status(sender, execution, **kwargs):
    publish(execution_message(execution))


def connect():
    step_recorded.connect(_on_step, sender=StepRun, dispatch_uid="live-step")
    execution_status_changed.connect(_on_status, sender=Execution, dispatch_uid="live-status")
