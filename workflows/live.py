"""Live logs: each committed step change is published to Channels groups.

Two groups per change: the execution's (`execution.<id>`) and its workflow's
(`workflow.<id>`). Publishing happens after commit (the signals are sent on commit), so a
client never sees a step that a rollback erased.

Channels' in-memory layer (embedded mode) is bound to the server's event loop and is not
thread-safe: from a worker thread the message is scheduled onto that loop (`serve` hands it
over with `use_event_loop`). Other layers (Redis) are fed through a doorbell
(`automation.doorbell`): a step never waits for the network, its one thread sends in the
order given, and messages that piled up meanwhile go as one `live.batch` per group (a
checkpoint of many steps costs two sends, not two per step).
"""

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from automation.doorbell import Doorbell

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
            publisher.ring((layer, group, message))
        elif _server_loop is not None and _server_loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _server_loop)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        logger.exception("could not publish a live message to %s", group)


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


def _send_live(items):
    """On the publisher's thread: its own event loop, one send per group."""
    loop = getattr(_thread, "loop", None)
    if loop is None:
        loop = _thread.loop = asyncio.new_event_loop()
    loop.run_until_complete(_send_batched(items))


_thread = threading.local()
publisher = Doorbell(_send_live, name="live", batch_size=200)


def drain(timeout=5.0):
    """Block until this process's live messages are sent; True when they are."""
    return publisher.flush(timeout)


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
