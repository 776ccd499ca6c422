"""create_notification: one unread row per recipient, committed with the step, then pushed
live to the recipient's websocket; and the consumer that serves `/ws/notifications/`."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group, User
from django.db import transaction
from jsonschema import Draft202012Validator

from actions import notifications
from actions.consumers import NotificationConsumer
from actions.models import Notification
from actions.notifications import mark_read
from actions.registry import ActionContext, ActionError, registry
from workflows.validation.action_nodes import ConfigValidator

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    settings.CHANNEL_LAYERS = IN_MEMORY


@pytest.fixture
def people(db):
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    cleo = User.objects.create_user("cleo")
    gone = User.objects.create_user("gone", is_active=False)
    collections = Group.objects.create(name="Collections")
    for user in (bob, cleo, gone):
        user.groups.add(collections)
    return SimpleNamespace(ann=ann, bob=bob, cleo=cleo, gone=gone)


@pytest.fixture
def published(monkeypatch):
    """The live frames sent, as (user id, message), instead of a channel layer."""
    frames = []
    monkeypatch.setattr(notifications, "send_to_user", lambda uid, msg: frames.append((uid, msg)))
    return frames


def context(**overrides):
    values = {
        "execution": SimpleNamespace(public_id="exe_notify"),
        "node_id": "notify",
        "path": "notify",
        "attempt": 1,
        "timezone": UTC,
        "now": datetime(2026, 11, 26, 9, tzinfo=UTC),
    }
    return ActionContext(**{**values, **overrides})


def create(config, **overrides):
    return registry.get("create_notification").run(config, context(**overrides))


def one_step(config):
    return {
        "name": "Notify",
        "trigger": {"type": "manual"},
        "nodes": [
            {"id": "notify", "type": "action", "action": "create_notification", "config": config}
        ],
        "edges": [{"from": "trigger", "to": "notify"}],
    }


NOTE = {
    "users": ["ann"],
    "groups": ["Collections"],
    "title": "INV-7 is 12 days overdue",
    "body": "Acme owes 1250.00",
    "link": "/admin/crm/invoice/7/change/",
    "level": "warning",
    "data": {"invoice": 7},
}


# -- rows ----------------------------------------------------------------------------------------


def test_one_unread_row_per_recipient(people, run_workflow, published):
    execution = run_workflow(one_step({**NOTE, "users": ["ann", people.bob.pk]}))
    assert execution.status == "completed"
    rows = Notification.objects.order_by("recipient__username")
    # Bob is named twice (by id and by group) and gets one; inactive users get none.
    assert [(n.recipient.username, n.read_at) for n in rows] == [
        ("ann", None),
        ("bob", None),
        ("cleo", None),
    ]
    assert {(n.title, n.body, n.link, n.level, n.execution_id) for n in rows} == {
        (NOTE["title"], NOTE["body"], NOTE["link"], "warning", execution.pk)
    }
    assert rows[0].data == {"invoice": 7}
    assert execution.steps.get().output == {
        "count": 3,
        "recipients": ["ann", "bob", "cleo"],
        "ids": sorted(n.pk for n in rows),
    }


def test_test_mode_writes_and_publishes_nothing(people, run_workflow, published):
    execution = run_workflow(one_step(NOTE), test=True)
    assert execution.status == "completed"
    assert not Notification.objects.exists()
    assert published == []
    assert execution.steps.get().output == {
        "simulated": True,
        "count": 3,
        "recipients": ["ann", "bob", "cleo"],
        "would_create": {
            "title": NOTE["title"],
            "body": NOTE["body"],
            "link": NOTE["link"],
            "level": "warning",
            "data": {"invoice": 7},
        },
    }


@pytest.mark.parametrize(
    ("config", "kind", "message"),
    [
        ({"users": ["nobody"], "title": "x"}, "not_found", "no such recipient: nobody"),
        ({"users": [999999], "title": "x"}, "not_found", "no such recipient: 999999"),
        ({"groups": ["Ghosts"], "title": "x"}, "not_found", "no such recipient: group Ghosts"),
        ({"title": "x"}, "invalid_config", "give at least one user or group"),
        ({"users": [True], "title": "x"}, "invalid_config", "users: True is neither"),
        ({"users": ["ann"], "title": "  "}, "invalid_config", "title: a notification needs"),
        ({"users": ["ann"], "title": "x", "level": "loud"}, "invalid_config", "level: 'loud'"),
        ({"users": ["ann"], "title": "x", "link": "javascript:alert(1)"}, "invalid_config", "link"),
        ({"users": ["ann"], "title": "x", "link": "//evil.example/"}, "invalid_config", "link"),
        ({"users": ["ann"], "title": "x", "link": "/\\evil.example/"}, "invalid_config", "link"),
        ({"users": ["ann"], "title": "x", "data": [1]}, "invalid_config", "data: must be an"),
    ],
)
def test_refuses(people, published, config, kind, message):
    for method in ("run", "simulate"):
        with pytest.raises(ActionError) as excinfo:
            getattr(registry.get("create_notification"), method)(config, context())
        assert (excinfo.value.kind, message in excinfo.value.message) == (kind, True)
    assert not Notification.objects.exists()
    assert published == []


def test_a_single_user_and_a_user_record_are_accepted(people, published):
    assert create({"users": "ann", "title": "x"})["recipients"] == ["ann"]
    assert create({"users": {"id": people.bob.pk}, "title": "x"})["recipients"] == ["bob"]
    assert create({"users": [{"id": people.cleo.pk}], "title": "x"})["recipients"] == ["cleo"]


# -- live frames after commit -------------------------------------------------------------------


def test_frames_go_out_only_after_the_commit(people, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        result = create({"users": ["ann", "bob"], "title": "Hello"})
        assert published == []  # the rows are not committed yet
    assert [(uid, msg["type"]) for uid, msg in published] == [
        (people.ann.pk, "notification.created"),
        (people.bob.pk, "notification.created"),
    ]
    assert [msg["notification"]["id"] for _, msg in published] == result["ids"]


def test_a_rolled_back_step_publishes_nothing(
    people, published, django_capture_on_commit_callbacks
):
    def failing_checkpoint():
        with transaction.atomic():
            create({"users": ["ann"], "title": "Hello"})
            raise RuntimeError("the checkpoint failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        failing_checkpoint()
    assert published == []
    assert not Notification.objects.exists()


def connect(user):
    communicator = WebsocketCommunicator(NotificationConsumer.as_asgi(), "/ws/notifications/")
    communicator.scope["user"] = user
    return communicator


@pytest.mark.django_db(transaction=True)
def test_a_connected_browser_receives_the_notification_live(people, run_workflow):
    Notification.objects.create(recipient=people.ann, title="Older")
    definition = one_step({"users": ["ann"], "title": "INV-7 is overdue", "link": "/inv/7"})

    async def scenario():
        ann, bob = connect(people.ann), connect(people.bob)
        assert (await ann.connect())[0]
        assert (await bob.connect())[0]
        snapshot = await ann.receive_json_from()
        assert (snapshot["event"], snapshot["count"]) == ("unread", 1)
        assert [n["title"] for n in snapshot["notifications"]] == ["Older"]
        assert (await bob.receive_json_from())["count"] == 0

        status = await sync_to_async(lambda: run_workflow(definition).status)()
        assert status == "completed"

        frame = await ann.receive_json_from(timeout=2)
        row = await sync_to_async(Notification.objects.get)(title="INV-7 is overdue")
        assert frame == {
            "event": "notification",
            "notification": {
                "id": row.pk,
                "title": "INV-7 is overdue",
                "body": "",
                "link": "/inv/7",
                "level": "info",
                "data": {},
                "created_at": row.created_at.isoformat(),
                "read_at": None,
            },
        }
        assert await bob.receive_nothing(timeout=0.2)  # only the recipient's group hears it
        await ann.disconnect()
        await bob.disconnect()

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_anonymous_sockets_are_refused():
    async def scenario():
        communicator = connect(AnonymousUser())
        connected, code = await communicator.connect()
        assert (connected, code) == (False, 4403)

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_marking_read_over_the_socket_tells_every_tab(people):
    first = Notification.objects.create(recipient=people.ann, title="one")
    Notification.objects.create(recipient=people.ann, title="two")
    others = Notification.objects.create(recipient=people.bob, title="bob's")

    async def scenario():
        tab1, tab2 = connect(people.ann), connect(people.ann)
        for tab in (tab1, tab2):
            assert (await tab.connect())[0]
            assert (await tab.receive_json_from())["count"] == 2
        await tab1.send_json_to({"action": "mark_read", "ids": [first.pk, others.pk]})
        for tab in (tab1, tab2):
            assert await tab.receive_json_from() == {
                "event": "read",
                "ids": [first.pk],
                "unread": 1,
            }
        await tab1.send_json_to({"action": "mark_read", "ids": ["1; drop"]})
        assert (await tab1.receive_json_from())["event"] == "error"
        await tab1.send_json_to({"action": "mark_read"})
        assert (await tab2.receive_json_from())["unread"] == 0
        await tab1.disconnect()
        await tab2.disconnect()

    async_to_sync(scenario)()
    others.refresh_from_db()
    assert others.read_at is None  # someone else's notification is never touched


# -- mark_read -----------------------------------------------------------------------------------


def test_mark_read_marks_only_the_recipients_unread(people):
    mine = [Notification.objects.create(recipient=people.ann, title=t) for t in "abc"]
    theirs = Notification.objects.create(recipient=people.bob, title="d")
    assert mark_read(people.ann, [mine[0].pk, theirs.pk]) == [mine[0].pk]
    assert mark_read(people.ann, [mine[0].pk]) == []  # already read
    assert sorted(mark_read(people.ann)) == [mine[1].pk, mine[2].pk]
    assert Notification.objects.filter(read_at__isnull=True).get() == theirs


# -- the catalog entry ------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example(db):
    action = registry.get("create_notification")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    for example in action.examples:
        assert list(ConfigValidator(action.config_schema).iter_errors(example)) == []
    assert action.transactional
