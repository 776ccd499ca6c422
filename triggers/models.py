"""The event outbox, webhook endpoints and deliveries, and workflow schedules."""

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone

from automation.encryption import EncryptedTextField
from workflows.ids import new_public_id
from workflows.models.fields import FastJSONField


def new_event_id():
    return new_public_id("evt")


def new_webhook_token():
    return secrets.token_urlsafe(32)


class EventQuerySet(models.QuerySet):
    def undispatched(self):
        return self.filter(dispatched_at__isnull=True)


class Event(models.Model):
    """A business event, written in the same transaction as the change that caused it.

    Dispatch (matching workflows and creating their executions) happens after commit and
    marks the row; a row left undispatched by a crash is picked up by the outbox sweep.
    """

    public_id = models.CharField(max_length=64, unique=True, default=new_event_id, editable=False)
    name = models.CharField(max_length=100)
    record_type = models.CharField(max_length=100)
    record_id = models.CharField(max_length=64)
    payload = FastJSONField()
    occurred_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    caused_by = models.ForeignKey(
        "workflows.Execution",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # a partial index below
    )
    # Time-based events fire once per record and occasion ("invoice.overdue:42:2026-11-10").
    # NULL, not "", for none: the unique index below holds only the rows that have one.
    occasion = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            # The outbox sweep's question: what was never dispatched, oldest first.
            models.Index(
                fields=["occurred_at"],
                name="event_undispatched",
                condition=Q(dispatched_at__isnull=True),
            ),
            # No index on (record_type, record_id): no query asks for a record's events
            # (the admin's search ORs its fields, which no index serves), and every save
            # of a record pays for each index of this table (SQLite: ~15 us a save).
            # Most events have neither a causing run nor an occasion: partial indexes hold
            # only the rows that have one, and a save's event row touches two B-trees fewer
            # (SQLite: an event INSERT and its commit 102 -> 79 us).
            models.Index(
                fields=["caused_by"],
                name="event_caused_by",
                condition=Q(caused_by__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["occasion"],
                name="event_once_per_occasion",
                condition=Q(occasion__isnull=False),
            ),
        ]

    def __str__(self):
        return f"{self.name} {self.record_type}:{self.record_id}"


class WebhookEndpoint(models.Model):
    """The unguessable URL of a webhook-triggered workflow."""

    workflow = models.OneToOneField(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="webhook"
    )
    token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"webhook of {self.workflow.public_id}"


class WebhookSecret(models.Model):
    """A signing secret (`whsec_...`); several are accepted while one is being rotated."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="secrets")
    secret = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"secret of {self.endpoint}"


class WebhookDelivery(models.Model):
    """A delivery id seen once; a retried delivery is answered with its first execution."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    delivery_id = models.CharField(max_length=200)
    execution = models.ForeignKey(
        "workflows.Execution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "delivery_id"], name="one_delivery_per_id"),
        ]

    def __str__(self):
        return self.delivery_id


class WorkflowSchedule(models.Model):
    """An active scheduled workflow's next fire time, kept beside its beat PeriodicTask.

    The next instant is computed with zoneinfo in the schedule's timezone and stored in UTC,
    which is what makes 09:00 mean 09:00 local time on both daylight-saving change days.
    """

    workflow = models.OneToOneField(
        "workflows.Workflow", on_delete=models.CASCADE, related_name="schedule"
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    spec = models.JSONField(help_text="The trigger's config")
    timezone = models.CharField(max_length=64)
    next_fire_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["next_fire_at"], name="schedule_next_fire")]

    def __str__(self):
        return f"schedule of {self.workflow.public_id}"
