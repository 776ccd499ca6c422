"""The event log, webhook endpoints (rotate the secret), schedules and beat's periodic tasks."""

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.admin.support import end_definition, messages_of, offered_actions, post_action, url
from triggers import schedules
from triggers.models import Event, WebhookEndpoint, WebhookSecret, WorkflowSchedule
from triggers.webhook_signatures import decode_secret

WEBHOOK = end_definition("Hooked", trigger={"type": "webhook"})
# 09:00 every day in New York, where clocks move on 2026-03-08.
DAILY_NY = end_definition(
    "Morning report",
    trigger={"type": "schedule", "config": {"daily": {"at": "09:00"}}},
    timezone="America/New_York",
)


def make_event(name="invoice.created", record_id="42", dispatched=True, **extra):
    return Event.objects.create(
        name=name,
        record_type=name.split(".")[0],
        record_id=record_id,
        payload={"event": name, "invoice": {"id": record_id, "number": "INV-" + record_id}},
        dispatched_at=datetime.now(UTC) if dispatched else None,
        **extra,
    )


# -- the event log ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_event_log_lists_filters_and_searches_by_record(staff):
    sent = make_event("invoice.sent", record_id="424242")
    waiting = make_event("invoice.created", record_id="707070", dispatched=False)
    client = staff("triggers.view_event")
    changelist = url(Event, "changelist")

    def listed(**params):
        response = client.get(changelist, params)
        assert response.status_code == 200
        return {event.public_id for event in response.context["cl"].result_list}

    assert listed() == {sent.public_id, waiting.public_id}
    assert listed(name="invoice.sent") == {sent.public_id}
    assert listed(dispatched="no") == {waiting.public_id}
    assert listed(dispatched="yes") == {sent.public_id}
    assert listed(q="707070") == {waiting.public_id}
    assert listed(q="invoice") == {sent.public_id, waiting.public_id}


@pytest.mark.django_db
def test_an_event_is_read_only_with_its_payload_readable(staff):
    event = make_event()
    client = staff("triggers.view_event", "triggers.change_event", "triggers.delete_event")

    response = client.get(url(Event, "change", event.pk))

    html = response.content.decode()
    assert "&quot;number&quot;: &quot;INV-42&quot;" in html
    assert 'name="_save"' not in html
    assert client.post(url(Event, "change", event.pk), {"name": "x"}).status_code == 403
    assert client.get(url(Event, "add")).status_code == 403
    assert client.get(url(Event, "delete", event.pk)).status_code == 403


# -- webhooks -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_endpoint_shows_its_url_and_rotating_shows_the_new_secret_once(staff, make_workflow):
    workflow = make_workflow(WEBHOOK, status="active")
    endpoint = WebhookEndpoint.objects.get(workflow=workflow)
    client = staff("triggers.view_webhookendpoint", "triggers.change_webhookendpoint")
    page = client.get(url(WebhookEndpoint, "change", endpoint.pk)).content.decode()
    assert f"/hooks/{endpoint.token}" in page
    assert "unsigned" in page

    response = post_action(client, WebhookEndpoint, "rotate", [endpoint])

    [text] = messages_of(response)
    secret = re.search(r"<code>(whsec_[^<]+)</code>", text).group(1)
    decode_secret(secret)  # a usable Standard Webhooks secret
    assert WebhookSecret.objects.get(endpoint=endpoint).secret == secret
    for page_url in (
        url(WebhookEndpoint, "changelist"),
        url(WebhookEndpoint, "change", endpoint.pk),
    ):
        html = client.get(page_url).content.decode()
        assert secret not in html
        assert secret.removeprefix("whsec_") not in html
    assert "1 secret(s) accepted" in html


@pytest.mark.django_db
def test_rotating_needs_change_permission(staff, make_workflow):
    endpoint = WebhookEndpoint.objects.get(workflow=make_workflow(WEBHOOK, status="active"))
    viewer = staff("triggers.view_webhookendpoint")

    assert offered_actions(viewer, WebhookEndpoint) == set()
    post_action(viewer, WebhookEndpoint, "rotate", [endpoint])
    assert not WebhookSecret.objects.exists()


@pytest.mark.django_db
def test_rotating_for_a_workflow_no_longer_on_a_webhook_is_refused(staff, make_workflow):
    workflow = make_workflow(WEBHOOK, status="active")
    workflow.save_definition(end_definition("Hooked"))  # now manual; the endpoint stays
    endpoint = WebhookEndpoint.objects.get(workflow=workflow)
    client = staff("triggers.view_webhookendpoint", "triggers.change_webhookendpoint")

    response = post_action(client, WebhookEndpoint, "rotate", [endpoint])

    assert "is not triggered by a webhook" in messages_of(response)[0]
    assert not WebhookSecret.objects.exists()


# -- schedules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "next_utc", "shown"),
    [
        # The day before the United States move their clocks: 09:00 is 14:00 UTC.
        (datetime(2026, 3, 7, 12, 0, tzinfo=UTC), (3, 7, 14), "Sat 2026-03-07 09:00 EST"),
        # The switch day itself: 09:00 is 13:00 UTC, and still reads 09:00.
        (datetime(2026, 3, 8, 12, 0, tzinfo=UTC), (3, 8, 13), "Sun 2026-03-08 09:00 EDT"),
    ],
)
@pytest.mark.django_db
def test_a_schedule_shows_its_next_run_in_its_own_local_time(
    staff, make_workflow, now, next_utc, shown
):
    client = staff("triggers.view_workflowschedule")
    with time_machine.travel(now, tick=False):
        make_workflow(DAILY_NY, status="active")
    schedule = WorkflowSchedule.objects.get()
    month, day, hour = next_utc
    assert schedule.next_fire_at == datetime(2026, month, day, hour, tzinfo=UTC)

    listing = client.get(url(WorkflowSchedule, "changelist")).content.decode()
    page = client.get(url(WorkflowSchedule, "change", schedule.pk)).content.decode()

    assert "every day at 09:00 (America/New_York)" in listing
    assert shown in listing
    assert shown in page
    assert "never" in page  # not fired yet
    assert 'name="_save"' not in page


@pytest.mark.django_db
def test_schedules_cannot_be_added_or_edited_here(staff, make_workflow):
    client = staff(
        "triggers.view_workflowschedule",
        "triggers.add_workflowschedule",
        "triggers.change_workflowschedule",
    )
    make_workflow(DAILY_NY, status="active")
    schedule = WorkflowSchedule.objects.get()

    assert client.get(url(WorkflowSchedule, "add")).status_code == 403
    assert client.post(url(WorkflowSchedule, "change", schedule.pk), {}).status_code == 403


# -- django-celery-beat -----------------------------------------------------------------------


BEAT_VIEW = "django_celery_beat.view_periodictask"
BEAT_CHANGE = "django_celery_beat.change_periodictask"


@pytest.mark.django_db
def test_beat_lists_the_workflow_alarms_with_their_schedule_in_words(staff, make_workflow):
    make_workflow(DAILY_NY, status="active")
    alarm = PeriodicTask.objects.get(task=schedules.TASK)
    client = staff(BEAT_VIEW)

    listing = client.get(url(PeriodicTask, "changelist"))
    page = client.get(url(PeriodicTask, "change", alarm.pk))

    assert listing.status_code == page.status_code == 200
    html = listing.content.decode()
    assert alarm.name in html
    assert "Morning report: every day at 09:00 (America/New_York). Next run:" in html


@pytest.mark.django_db
def test_workflow_alarms_are_read_only_and_left_out_of_bulk_actions(staff, make_workflow):
    make_workflow(DAILY_NY, status="active")
    alarm = PeriodicTask.objects.get(task=schedules.TASK)
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.HOURS)
    other = PeriodicTask.objects.create(
        name="cleanup", task="celery.backend_cleanup", interval=hourly
    )
    client = staff(BEAT_VIEW, BEAT_CHANGE)

    page = client.get(url(PeriodicTask, "change", alarm.pk)).content.decode()
    assert 'name="_save"' not in page
    assert client.post(url(PeriodicTask, "change", alarm.pk), {}).status_code == 403
    assert client.get(url(PeriodicTask, "change", other.pk)).status_code == 200

    response = post_action(client, PeriodicTask, "disable_tasks", [alarm, other])

    alarm.refresh_from_db()
    other.refresh_from_db()
    assert (alarm.enabled, other.enabled) == (True, False)
    assert any("1 workflow alarm(s) left as they are" in t for t in messages_of(response))
