"""The websocket side of in-app notifications: `/ws/notifications/`.

A logged-in user's browser joins that user's group (`notifications.<user id>`) and nothing
else: the group name comes from the session, never from the URL, so nobody can listen to
someone else's notifications. On connect the consumer joins first and then sends the unread
count and the latest unread rows, so a notification committed in between is not missed (at
worst it arrives twice, and the client keys rows by id).

The client may send `{"action": "mark_read", "ids": [..]}` (or without ids: all); every open
tab of that user then hears which ids were read.
"""

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workflows.live import BatchedMessages

from .models import Notification
from .notifications import as_json, mark_read, unread_count, user_group

FORBIDDEN = 4403
UNREAD_ON_CONNECT = 20


def _is_id_list(value):
    return isinstance(value, list) and all(type(i) is int for i in value)


class NotificationConsumer(BatchedMessages, AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        if not (self.user and self.user.is_authenticated):
            await self.close(code=FORBIDDEN)
            return
        self.group = user_group(self.user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await database_sync_to_async(self._snapshot)())

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    def _snapshot(self):
        unread = Notification.objects.filter(recipient=self.user, read_at__isnull=True)
        return {
            "event": "unread",
            "count": unread.count(),
            "notifications": [as_json(n) for n in unread[:UNREAD_ON_CONNECT]],
        }

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("action") != "mark_read":
            await self.send_json({"event": "error", "message": "unknown action"})
            return
        ids = content.get("ids")
        if ids is not None and not _is_id_list(ids):
            await self.send_json({"event": "error", "message": "ids must be a list of integers"})
            return
        changed, count = await database_sync_to_async(self._mark_read)(ids)
        await self.channel_layer.group_send(
            self.group, {"type": "notification.read", "ids": changed, "unread": count}
        )

    def _mark_read(self, ids):
        return mark_read(self.user, ids), unread_count(self.user)

    async def notification_created(self, message):
        await self.send_json({"event": "notification", "notification": message["notification"]})

    async def notification_read(self, message):
        await self.send_json({"event": "read", "ids": message["ids"], "unread": message["unread"]})
