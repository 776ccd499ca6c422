"""create_notification: in-app notifications, stored per user and pushed live.

A notification is a row first and a websocket frame second. The rows are written inside the
step's checkpoint transaction (the action is transactional), so a retried or resumed step
never notifies twice; the live frames go out only after that transaction commits, to one
Channels group per user (`notifications.<user id>`) that `actions.consumers` joins. A user
who is offline simply finds the unread rows on the next visit.

Recipients are named as users (ids or usernames) and groups (names); `send_push` names its
recipients the same way and resolves them with `resolve_recipients`.
"""

import logging
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from workflows import live

from .models import Notification
from .registry import ActionError, ActionType

logger = logging.getLogger(__name__)

USERS_SCHEMA = {
    "type": ["array", "integer", "string"],
    "items": {"type": ["integer", "string"]},
    "title": "Users",
    "description": "User ids or usernames (one, or a list); all digits is read as an id.",
    "templated": True,
}
GROUPS_SCHEMA = {
    "type": ["array", "string"],
    "items": {"type": "string"},
    "title": "Groups",
    "description": "Names of user groups: every active member is a recipient.",
    "templated": True,
}


def user_group(user_id):
    return f"notifications.{user_id}"


def _as_list(value):
    if value in (None, "", []):
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def resolve_recipients(users, groups):
    """The active users named by id, username or group, each once, in a stable order.

    A name that matches nobody is an error rather than a silent skip: a typo in a
    workflow would otherwise mean that nobody ever hears about it.
    """
    user_model = get_user_model()
    wanted_users, wanted_groups = _as_list(users), _as_list(groups)
    if not wanted_users and not wanted_groups:
        raise ActionError("give at least one user or group", kind="invalid_config")
    ids, usernames = set(), set()
    for item in wanted_users:
        if isinstance(item, dict) and "id" in item:  # a user record from an earlier step
            item = item["id"]
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ActionError(
                f"users: {item!r} is neither a user id nor a username", kind="invalid_config"
            )
        if isinstance(item, int) or item.strip().isdigit():
            ids.add(int(item))
        else:
            usernames.add(item.strip())
    found = list(user_model._default_manager.filter(pk__in=ids)) if ids else []
    if usernames:
        found += user_model._default_manager.filter(
            **{f"{user_model.USERNAME_FIELD}__in": usernames}
        )
    missing = sorted(str(i) for i in ids - {u.pk for u in found})
    missing += sorted(usernames - {u.get_username() for u in found})
    group_names = {str(name).strip() for name in wanted_groups}
    known_groups = set(Group.objects.filter(name__in=group_names).values_list("name", flat=True))
    missing += [f"group {name}" for name in sorted(group_names - known_groups)]
    if missing:
        raise ActionError(f"no such recipient: {', '.join(missing)}", kind="not_found")
    if known_groups:
        found += user_model._default_manager.filter(groups__name__in=known_groups)
    unique = {user.pk: user for user in found if user.is_active}
    return [unique[pk] for pk in sorted(unique)]


def _link(value):
    link = str(value or "").strip()
    # The bell menu renders the link as an href: only our own paths and web URLs, never
    # `javascript:` or `data:` schemes that would run in the reader's session.
    allowed = link.startswith(("https://", "http://")) or (
        # "//host" and "/\host" (browsers read a backslash as "/") leave the site.
        link.startswith("/") and not link.startswith(("//", "/\\"))
    )
    if link and not allowed:
        raise ActionError(
            f"link: '{link}' must be a path on this site (/...) or an http(s) URL",
            kind="invalid_config",
        )
    return link[:500]


def _fields(config):
    title = str(config.get("title") or "").strip()
    if not title:
        raise ActionError("title: a notification needs a title", kind="invalid_config")
    level = config.get("level") or Notification.Level.INFO
    if level not in Notification.Level.values:
        raise ActionError(
            f"level: '{level}' is not one of {', '.join(Notification.Level.values)}",
            kind="invalid_config",
        )
    data = config.get("data") or {}
    if not isinstance(data, dict):
        raise ActionError("data: must be an object", kind="invalid_config")
    return {
        "title": title[:200],
        "body": str(config.get("body") or ""),
        "link": _link(config.get("link")),
        "level": level,
        "data": data,
    }


def as_json(notification):
    return {
        "id": notification.pk,
        "title": notification.title,
        "body": notification.body,
        "link": notification.link,
        "level": notification.level,
        "data": notification.data,
        "created_at": notification.created_at.isoformat() if notification.created_at else None,
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
    }


def send_to_user(user_id, message):
    """One Channels message to a user's group, from any thread; never fails the caller."""
    live.group_send(user_group(user_id), message)


def _publish(notifications):
    for notification in notifications:
        send_to_user(
            notification.recipient_id,
            {"type": "notification.created", "notification": as_json(notification)},
        )


def mark_read(recipient, ids=None, *, now=None):
    """Mark the recipient's unread notifications read (all of them, or only `ids`).

    Returns the ids that changed, so a caller can tell the user's other open tabs.
    """
    unread = Notification.objects.filter(recipient=recipient, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=[int(i) for i in ids])
    changed = list(unread.values_list("pk", flat=True))
    unread.filter(pk__in=changed).update(read_at=now or timezone.now())
    return changed


def unread_count(recipient):
    return Notification.objects.filter(recipient=recipient, read_at__isnull=True).count()


class CreateNotification(ActionType):
    """Show an in-app notification to users and groups: stored unread, pushed live."""

    key = "create_notification"
    label = "Create notification"
    category = "communication"
    icon = "bell"
    color = "#0891b2"
    outputs = ["count", "recipients", "ids"]
    retry = {"max_attempts": 3}
    # The rows commit with the step, so a retried or resumed step never duplicates them.
    transactional = True
    config_schema = {
        "type": "object",
        "required": ["title"],
        "anyOf": [{"required": ["users"]}, {"required": ["groups"]}],
        "additionalProperties": False,
        "properties": {
            "users": USERS_SCHEMA,
            "groups": GROUPS_SCHEMA,
            "title": {
                "type": "string",
                "title": "Title",
                "minLength": 1,
                "maxLength": 200,
                "templated": True,
            },
            "body": {"type": "string", "title": "Message", "templated": True},
            "link": {
                "type": "string",
                "title": "Link",
                "description": "Opened when the notification is clicked: /path or http(s) URL.",
                "maxLength": 500,
                "templated": True,
            },
            "level": {
                "type": "string",
                "title": "Level",
                "enum": list(Notification.Level.values),
                "default": Notification.Level.INFO,
            },
            "data": {
                "type": "object",
                "title": "Extra data",
                "description": "Stored with the notification for the client to use.",
                "default": {},
                "templated": True,
            },
        },
    }
    examples = [
        {
            "users": ["ops-lead"],
            "title": "Invoice {{ invoice.number }} is {{ invoice.days_overdue }} days late",
            "body": "{{ invoice.customer.name }} owes {{ invoice.amount }}.",
            "link": "/admin/crm/invoice/{{ invoice.id }}/change/",
            "level": "warning",
        },
        {"groups": ["Collections"], "title": "New escalation", "data": {"ticket": 42}},
    ]

    def run(self, config, context):
        fields = _fields(config)
        recipients = resolve_recipients(config.get("users"), config.get("groups"))
        execution_id = getattr(context.execution, "pk", None)
        rows = [Notification(recipient=u, execution_id=execution_id, **fields) for u in recipients]
        created = Notification.objects.bulk_create(rows, batch_size=500)
        # After commit: a frame for a row that a rollback erased would show a ghost.
        transaction.on_commit(partial(_publish, created))
        return {
            "count": len(created),
            "recipients": [user.get_username() for user in recipients],
            "ids": [n.pk for n in created],
        }

    def simulate(self, config, context):
        fields = _fields(config)
        recipients = resolve_recipients(config.get("users"), config.get("groups"))
        return {
            "simulated": True,
            "count": len(recipients),
            "recipients": [user.get_username() for user in recipients],
            "would_create": fields,
        }
