"""The after-commit dispatch message: committed events reach the broker through the outbox's
doorbell, many to a message; a rolled-back write sends nothing; an event whose message was
never sent is dispatched by the sweep; a batch dispatches every event it carries, hands
what it has no time for to other workers, and the single-event message still works."""

import logging
import threading
from datetime import timedelta

import pytest
from celery.signals import after_task_publish
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from automation.celery import app
from crm.models import Lead
from triggers import dispatch, outbox
from triggers.models import Event
from triggers.tasks import events as tasks
from workflows.models import Execution

END = {"nodes": [{"id": "done", "type": "end"}], "edges": [{"from": "trigger", "to": "done"}]}


@pytest.fixture
def on_lead_created(make_workflow):
    workflow = make_workflow({**END, "trigger": {"type": "event", "event": "lead.created"}})
    workflow.change_status("active")
    return workflow


@pytest.fixture
def published():
    """The messages this process hands to the broker: [(task name, args)]; tasks are not
    run in place (as in a web process), and the in-process broker's queue is emptied
    afterwards."""
    messages = []

    def record(sender=None, body=None, **kwargs):
        messages.append((sender, body[0]))

    outbox.doorbell.flush(10)  # nothing of an earlier test
    previous = app.conf.broker_url
    app.conf.broker_url = "memory://localhost/"
    app._pool = None
    app.conf.task_always_eager = False
    after_task_publish.connect(record, weak=False)
    try:
        yield messages
    finally:
        outbox.doorbell.flush(10)
        after_task_publish.disconnect(record)
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("celery")
        app.conf.broker_url = previous
        app._pool = None


def event_messages(messages):
    return [args for name, args in messages if name.startswith("triggers.dispatch_event")]


def lead_events():
    return list(Event.objects.filter(name="lead.created").order_by("pk"))


def test_a_burst_of_committed_events_reaches_the_broker_in_fewer_messages(
    transactional_db, published
):
    for n in range(40):
        Lead.objects.create(name=f"Lead {n}")  # each its own transaction
    assert outbox.doorbell.flush(10)

    messages = event_messages(published)
    assert {name for name, _ in published} == {"triggers.dispatch_events"}
    sent = [event_id for (ids,) in messages for event_id in ids]
    assert sorted(sent) == sorted(event.pk for event in lead_events())  # each once
    assert len(messages) < 40


def test_the_committing_caller_does_not_publish(transactional_db, published, monkeypatch):
    """The publish happens on the doorbell's thread, not in the save."""
    publishers = []

    def send(event_ids):
        publishers.append(threading.current_thread().name)
        outbox._send_dispatch(event_ids)

    monkeypatch.setattr(outbox.doorbell, "send", send)

    Lead.objects.create(name="Ada")
    assert outbox.doorbell.flush(10)

    assert publishers == ["doorbell-events"]
    assert len(event_messages(published)) == 1


def save_then_fail():
    with transaction.atomic():
        Lead.objects.create(name="Ghost")
        raise RuntimeError("the business write fails")


def test_a_rolled_back_write_sends_no_message(transactional_db, published):
    with pytest.raises(RuntimeError):
        save_then_fail()
    assert outbox.doorbell.flush(10)

    assert event_messages(published) == []
    assert not Event.objects.exists()


def test_an_event_whose_message_was_never_sent_is_dispatched_by_the_sweep(
    transactional_db, published, on_lead_created, monkeypatch, caplog
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("the broker is down")

    monkeypatch.setattr(tasks.dispatch_events_task, "apply_async", broker_down)
    with caplog.at_level(logging.WARNING, logger="automation.doorbell"):
        lead = Lead.objects.create(name="Ada")  # committed; its message fails
        assert outbox.doorbell.flush(10)
    assert "left to the sweep" in caplog.text
    (event,) = lead_events()
    assert event.dispatched_at is None
    assert not Execution.objects.exists()

    later = timezone.now() + timedelta(seconds=dispatch.PENDING_GRACE_SECONDS + 1)
    assert dispatch.dispatch_pending(now=later) == 1

    event.refresh_from_db()
    assert event.dispatched_at is not None
    (execution,) = Execution.objects.filter(workflow=on_lead_created)
    assert execution.subject == f"lead:{lead.pk}"


def test_eager_tasks_dispatch_in_the_commit_as_before(
    on_lead_created, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Lead.objects.create(name="Ada")

    (event,) = lead_events()
    assert event.dispatched_at is not None  # no thread to wait for
    (execution,) = Execution.objects.filter(workflow=on_lead_created)
    assert execution.status == Execution.Status.COMPLETED


def test_eager_tasks_switched_on_in_the_settings_dispatch_in_the_commit(
    transactional_db, published, on_lead_created, monkeypatch
):
    """What the settings say is read once, and again after a setting changes: the app's
    own switch (here taken away) and override_settings both count."""
    monkeypatch.delitem(app.conf.changes, "task_always_eager")
    Lead.objects.create(name="Ada")  # the settings' False, now known
    assert outbox.doorbell.flush(10)

    with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
        Lead.objects.create(name="Bob")
        assert Event.objects.get(payload__lead__name="Bob").dispatched_at is not None

    Lead.objects.create(name="Cy")
    assert outbox.doorbell.flush(10)
    assert Event.objects.get(payload__lead__name="Cy").dispatched_at is None  # a message, sent
    sent = [event_id for (ids,) in event_messages(published) for event_id in ids]
    assert sorted(sent) == sorted(
        Event.objects.filter(payload__lead__name__in=["Ada", "Cy"]).values_list("pk", flat=True)
    )


@pytest.fixture
def headers():
    """The headers of the dispatch messages this process publishes."""
    seen = []

    def record(sender=None, headers=None, **kwargs):
        if sender == "triggers.dispatch_events":
            seen.append(headers)

    after_task_publish.connect(record, weak=False)
    try:
        yield seen
    finally:
        after_task_publish.disconnect(record)


@pytest.mark.parametrize("count", [3, 400])
def test_a_dispatch_message_shows_its_ids_as_celery_would(
    transactional_db, published, headers, count
):
    from celery.utils.saferepr import saferepr

    ids = list(range(1_000_000, 1_000_000 + count))  # 400 of them: longer than Celery shows
    outbox._send_dispatch(ids)

    (sent,) = headers
    assert sent["argsrepr"] == saferepr((ids,), app.amqp.argsrepr_maxsize)
    assert sent["kwargsrepr"] == saferepr({}, app.amqp.kwargsrepr_maxsize)


# -- the batch task ---------------------------------------------------------------------------


@pytest.fixture
def three_events(on_lead_created, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # written, not dispatched
        for name in ("Ada", "Bob", "Cy"):
            Lead.objects.create(name=name)
    return lead_events()


def test_a_batch_dispatches_each_of_its_events(three_events, on_lead_created):
    tasks.dispatch_events_task.delay([event.pk for event in three_events])

    assert not Event.objects.undispatched().exists()
    assert Execution.objects.filter(workflow=on_lead_created).count() == 3


def test_one_failing_event_does_not_stop_the_rest_of_its_batch(
    three_events, on_lead_created, monkeypatch, caplog
):
    original = dispatch.dispatch_event
    bad = three_events[1].pk

    def dispatch_event(event_id):
        if event_id == bad:
            raise RuntimeError("this one fails")
        return original(event_id)

    monkeypatch.setattr(dispatch, "dispatch_event", dispatch_event)
    with caplog.at_level(logging.ERROR, logger="triggers.dispatch"):
        tasks.dispatch_events_task.delay([event.pk for event in three_events])

    assert list(Event.objects.undispatched().values_list("pk", flat=True)) == [bad]  # swept later
    assert Execution.objects.filter(workflow=on_lead_created).count() == 2
    assert f"dispatching event {bad} failed" in caplog.text


def test_a_batch_out_of_time_hands_the_rest_to_other_workers(three_events, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks, "BATCH_SECONDS", -1)  # out of time after its first event
    original = tasks.dispatch_events_task.delay

    def delay(event_ids):
        sent.append(list(event_ids))
        return original(event_ids)

    monkeypatch.setattr(tasks.dispatch_events_task, "delay", delay)
    ids = [event.pk for event in three_events]

    tasks.dispatch_events_task(ids)

    assert sent[:2] == [[ids[1]], [ids[2]]]  # the rest, split for two workers
    assert not Event.objects.undispatched().exists()


def test_a_message_of_the_single_event_task_is_still_understood(three_events, on_lead_created):
    assert {"triggers.dispatch_event", "triggers.dispatch_events"} <= set(app.tasks)

    app.tasks["triggers.dispatch_event"].delay(three_events[0].pk)

    assert Execution.objects.filter(workflow=on_lead_created).count() == 1
