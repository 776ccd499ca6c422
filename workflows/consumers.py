"""The websocket side of live logs: `/ws/executions/<id>/` and `/ws/workflows/<id>/`.

Only logged-in staff users who may view workflows are accepted. On connect the consumer
joins the group first and then sends what already happened, skipping later duplicates by
step id, so a late client misses nothing and sees nothing twice.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import live
from .models import Execution, StepRun, Workflow

FORBIDDEN = 4403
NOT_FOUND = 4404
HISTORY_LIMIT = 500


def may_view(user):
    if not (user and user.is_authenticated and user.is_staff):
        return False
    return user.has_perm("workflows.view_workflow")


class LiveLogConsumer(live.BatchedMessages, AsyncJsonWebsocketConsumer):
    kind = ""  # "execution" or "workflow"

    async def connect(self):
        self.sent_steps = set()
        user = self.scope.get("user")
        if not await database_sync_to_async(may_view)(user):
            await self.close(code=FORBIDDEN)
            return
        public_id = self.scope["url_route"]["kwargs"]["public_id"]
        history = await database_sync_to_async(self.history)(public_id)
        if history is None:
            await self.close(code=NOT_FOUND)
            return
        self.group = (
            live.execution_group(public_id)
            if self.kind == "execution"
            else live.workflow_group(public_id)
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Read again after joining: whatever committed in between is in this read or
        # arrives as a message, and the step ids weed out what is in both.
        for message in await database_sync_to_async(self.history)(public_id):
            await self._send(message)

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def history(self, public_id):
        if self.kind == "execution":
            execution = Execution.objects.select_related("workflow").filter(public_id=public_id)
            executions = list(execution)
            if not executions:
                return None
        else:
            workflow = Workflow.objects.filter(public_id=public_id).first()
            if workflow is None:
                return None
            executions = list(
                Execution.objects.filter(workflow=workflow)
                .select_related("workflow")
                .order_by("-created_at")[:20]
            )
        by_pk = {e.pk: e for e in executions}
        steps = StepRun.objects.filter(execution__in=executions).order_by("id")[:HISTORY_LIMIT]
        messages = [live.step_message(by_pk[s.execution_id], s) for s in steps]
        messages += [live.execution_message(e) for e in reversed(executions)]
        return messages

    async def _send(self, message):
        if message["type"] == "live.step":
            step_id = message["step"]["id"]
            if step_id in self.sent_steps:
                return
            self.sent_steps.add(step_id)
        await self.send_json(
            {k: v for k, v in message.items() if k != "type"}
            | {"event": message["type"].removeprefix("live.")}
        )

    async def live_step(self, message):
        await self._send(message)

    async def live_execution(self, message):
        await self._send(message)


class ExecutionLogConsumer(LiveLogConsumer):
    kind = "execution"


class WorkflowLogConsumer(LiveLogConsumer):
    kind = "workflow"
