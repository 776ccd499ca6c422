"""Admin pages of the triggers app: the event log, webhook endpoints, schedules, and the
django-celery-beat alarms behind the schedules.

All of it is the record of what the product did or will do, so it is read-only here: events
are facts, endpoints and schedules follow their workflow (activate or pause the workflow to
change them). The one write is rotating a webhook's signing secret, through
`triggers.webhooks.rotate_secret`; the new secret is shown once, in the message after it.
"""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from workflows.admin import pretty_json

from . import schedules
from .models import Event, WebhookEndpoint, WorkflowSchedule
from .schedule_times import as_zone
from .webhooks import WebhookError, rotate_secret, webhook_url


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DispatchedFilter(admin.SimpleListFilter):
    title = "dispatched"
    parameter_name = "dispatched"

    def lookups(self, request, model_admin):
        return [("yes", "Dispatched"), ("no", "Waiting in the outbox")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.undispatched()
        if self.value() == "yes":
            return queryset.filter(dispatched_at__isnull=False)
        return queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "name", "record", "occurred_at", "dispatched_at", "caused_by"]
    list_filter = ["name", DispatchedFilter, "record_type", "occurred_at"]
    # "invoice 42": the record's type and id, as the list shows them.
    search_fields = ["=record_id", "record_type", "public_id", "occasion"]
    list_select_related = ["caused_by"]
    date_hierarchy = "occurred_at"
    fields = [
        "public_id",
        "name",
        "record",
        "occurred_at",
        "dispatched_at",
        "caused_by",
        "occasion",
        "payload_json",
    ]
    readonly_fields = fields

    @admin.display(description="Record", ordering="record_type")
    def record(self, event):
        return f"{event.record_type}:{event.record_id}"

    @admin.display(description="Payload")
    def payload_json(self, event):
        return pretty_json(event.payload)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The URL is what a sender is given; signing secrets are never shown, only counted."""

    # The URL is on each endpoint's page: building it costs a query per row.
    list_display = ["workflow", "signing", "created_at"]
    search_fields = ["workflow__name", "workflow__public_id"]
    list_select_related = ["workflow"]
    fields = ["workflow", "url", "signing", "created_at"]
    readonly_fields = fields
    actions = ["rotate"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("secrets")

    def has_add_permission(self, request):
        # An endpoint comes with its workflow's activation (triggers.webhooks.endpoint_of).
        return False

    @admin.display(description="URL")
    def url(self, endpoint):
        # Relative unless PUBLIC_BASE_URL is set; None once the trigger is no longer a webhook.
        return webhook_url(endpoint.workflow) or "— (the workflow is not triggered by a webhook)"

    @admin.display(description="Signing")
    def signing(self, endpoint):
        now = timezone.now()
        live = [s for s in endpoint.secrets.all() if s.expires_at is None or s.expires_at > now]
        if not live:
            return "unsigned (the URL alone admits)"
        return f"{len(live)} secret(s) accepted, newest from {live[0].created_at:%Y-%m-%d %H:%M}"

    @admin.action(description="Rotate the signing secret (shown once)", permissions=["change"])
    def rotate(self, request, queryset):
        for endpoint in queryset.select_related("workflow"):
            workflow = endpoint.workflow
            try:
                secret = rotate_secret(workflow)
            except WebhookError as exc:
                messages.error(request, f"{workflow.public_id}: {exc}")
                continue
            messages.warning(
                request,
                format_html(
                    "New signing secret of {} — copy it now, it is not shown again: "
                    "<code>{}</code>. The previous ones stay valid for a day.",
                    workflow,
                    secret,
                ),
            )


@admin.register(WorkflowSchedule)
class WorkflowScheduleAdmin(ReadOnlyAdmin):
    list_display = ["workflow", "schedule", "next_fire", "last_fired", "timezone"]
    search_fields = ["workflow__name", "workflow__public_id"]
    list_select_related = ["workflow"]
    fields = ["workflow", "schedule", "timezone", "next_fire", "last_fired", "periodic_task"]
    readonly_fields = fields

    @admin.display(description="Schedule")
    def schedule(self, schedule):
        return schedules.describe_schedule(schedule.spec, schedule.timezone)

    @admin.display(description="Next run (local time)", ordering="next_fire_at")
    def next_fire(self, schedule):
        return _local(schedule.next_fire_at, schedule.timezone) or "not scheduled"

    @admin.display(description="Last run (local time)", ordering="last_fired_at")
    def last_fired(self, schedule):
        return _local(schedule.last_fired_at, schedule.timezone) or "never"


def _local(instant, zone_name):
    """An instant as the schedule's own clock reads it: 09:00 in New York is 09:00 EST/EDT."""
    if instant is None:
        return None
    return f"{instant.astimezone(as_zone(zone_name)):%a %Y-%m-%d %H:%M %Z}"


# -- django-celery-beat ---------------------------------------------------------------------


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class WorkflowAwarePeriodicTaskAdmin(PeriodicTaskAdmin):
    """django-celery-beat's own page, with the workflows' alarms readable and left alone.

    A workflow's alarm (`workflow:<id>`) follows its WorkflowSchedule, which is the truth
    (see triggers.schedules): an alarm edited, enabled or "run" by hand would fire an instant
    the schedule does not expect, or be overwritten at the next firing. So those rows are
    read-only and the bulk actions skip them; every other periodic task is as the package
    made it.
    """

    list_display = ["name", "enabled", "scheduler", "description", "last_run_at", "one_off"]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.task == schedules.TASK:
            return False
        return super().has_change_permission(request, obj)

    def _without_alarms(self, request, queryset):
        alarms = queryset.filter(task=schedules.TASK).count()
        if alarms:
            messages.warning(
                request,
                f"{alarms} workflow alarm(s) left as they are: they follow their workflow "
                "(activate or pause the workflow instead).",
            )
        return queryset.exclude(task=schedules.TASK)

    @admin.action(description="Enable selected tasks")
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, self._without_alarms(request, queryset))

    @admin.action(description="Disable selected tasks")
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, self._without_alarms(request, queryset))

    @admin.action(description="Toggle activity of selected tasks")
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, self._without_alarms(request, queryset))

    @admin.action(description="Run selected tasks")
    def run_tasks(self, request, queryset):
        remaining = self._without_alarms(request, queryset)
        if remaining.exists():
            return super().run_tasks(request, remaining)
        return None
