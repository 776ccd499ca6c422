"""A workflow and its numbered, immutable versions."""

import hashlib
import json

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, FloatField, Max, Q
from django.db.models.functions import Cast, NullIf
from django_fsm import FSMField, transition

from .. import trigger_hooks
from ..ids import new_workflow_id
from .fsm import ProtectedStateMixin

# Keys of an exported definition that belong to the workflow row, not to a version.
ROW_KEYS = ("id", "version", "status")


class ImmutableVersionError(Exception):
    """A saved WorkflowVersion was about to be changed or deleted."""


def definition_checksum(body):
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _run_aggregates(prefix=""):
    """The run statistics as aggregates over executions, `prefix` leading to them ("" from
    Execution, "executions__" from Workflow). Only live runs count; a test-mode run is a
    simulation, not part of the record."""
    live = Q(**{f"{prefix}mode": "live"})
    return {
        "run_count": Count(f"{prefix}id", filter=live),
        "last_run": Max(f"{prefix}created_at", filter=live),
        "completed_runs": Count(f"{prefix}id", filter=live & Q(**{f"{prefix}status": "completed"})),
        "finished_runs": Count(
            f"{prefix}id",
            filter=live & Q(**{f"{prefix}status__in": ["completed", "failed", "cancelled"]}),
        ),
    }


def _success_percent(completed, finished):
    """What with_run_stats() computes in SQL (completed * 100.0 / finished, in doubles)."""
    return None if not finished else float(completed) * 100.0 / float(finished)


class WorkflowQuerySet(models.QuerySet):
    def with_run_stats(self):
        """Annotated with `run_count`, `last_run`, `completed_runs`, `finished_runs` and
        `success_percent` (completed of finished, None before a run finished), computed by
        the database in the query that lists them: a page costs one query, not one per row.
        Only live runs count; a test-mode run is a simulation, not part of the record.

        The aggregation covers every workflow the queryset matches, before any slicing:
        use it to order or filter by a statistic (the admin's sortable columns). A page of
        already fetched workflows is cheaper with attach_run_stats()."""
        return self.annotate(**_run_aggregates("executions__")).annotate(
            success_percent=Cast("completed_runs", FloatField())
            * 100.0
            / NullIf(Cast("finished_runs", FloatField()), 0.0)
        )

    @staticmethod
    def attach_run_stats(workflows):
        """Set the figures of with_run_stats() (same names, same values) on `workflows`,
        instances already fetched (a page of them), and return them.

        One aggregate query over the executions of just these workflows (an index range per
        workflow), whatever the number of workflows and executions in the database; none for
        an empty page."""
        workflows = list(workflows)
        if not workflows:
            return workflows
        from .execution import Execution

        rows = (
            Execution.objects.filter(workflow_id__in={workflow.pk for workflow in workflows})
            .order_by()
            .values("workflow_id")
            .annotate(**_run_aggregates())
        )
        stats = {row.pop("workflow_id"): row for row in rows}
        for workflow in workflows:
            found = stats.get(workflow.pk, {})
            workflow.run_count = found.get("run_count", 0)
            workflow.last_run = found.get("last_run")
            workflow.completed_runs = found.get("completed_runs", 0)
            workflow.finished_runs = found.get("finished_runs", 0)
            workflow.success_percent = _success_percent(
                workflow.completed_runs, workflow.finished_runs
            )
        return workflows

    def active(self):
        return self.filter(status=Workflow.Status.ACTIVE)

    def listening_for(self, event_name):
        """Active workflows whose event trigger names this event (an indexed lookup)."""
        return self.active().filter(trigger_type="event", trigger_event=event_name)


class Workflow(ProtectedStateMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        ACTIVE = "active"
        PAUSED = "paused"
        ARCHIVED = "archived"

    public_id = models.CharField(
        max_length=64, unique=True, default=new_workflow_id, editable=False
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = FSMField(default=Status.DRAFT, choices=Status.choices, protected=True)
    # Copied from the current version so that trigger matching is one indexed query.
    trigger_type = models.CharField(max_length=20, default="manual")
    trigger_event = models.CharField(max_length=100, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    status_reason = models.TextField(
        blank=True, help_text="Why the workflow was last paused or archived"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkflowQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("execute_workflow", "Can execute workflow")]
        indexes = [
            # Lists in their order (name, then id): a page is a range of this index.
            models.Index(fields=["name", "id"], name="wf_name_order"),
            # Matching an event: active workflows by trigger type and event name.
            models.Index(
                fields=["status", "trigger_type", "trigger_event"], name="wf_trigger_lookup"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.public_id})"

    # -- definition ------------------------------------------------------------------------

    @property
    def definition(self):
        """The current definition in its exported form (with id, version and status)."""
        body = self.current_version.definition if self.current_version else {}
        return {
            "id": self.public_id,
            "version": self.current_version.number if self.current_version else 0,
            "status": self.status,
            **body,
        }

    @property
    def trigger(self):
        return (self.current_version.definition if self.current_version else {}).get(
            "trigger", {"type": "manual"}
        )

    def save_definition(self, definition, *, user=None):
        """Validate and store a definition; a changed one becomes a new numbered version.

        Returns the current version. Raises DefinitionInvalid with every error at once, and
        writes nothing in that case.
        """
        from ..validation import validate_or_raise

        validate_or_raise(definition)
        body = {key: value for key, value in definition.items() if key not in ROW_KEYS}
        checksum = definition_checksum(body)
        with transaction.atomic():
            if self.pk is None:
                self.save()
            else:
                # Two concurrent edits must not both take the next version number.
                locked = Workflow.objects.select_for_update().get(pk=self.pk)
                self.current_version_id = locked.current_version_id
            if self.current_version and self.current_version.checksum == checksum:
                return self.current_version
            last = self.versions.aggregate(n=Max("number"))["n"] or 0
            version = WorkflowVersion.objects.create(
                workflow=self, number=last + 1, definition=body, checksum=checksum, created_by=user
            )
            self._adopt(version)
            if self.status == self.Status.ACTIVE:
                trigger_hooks.uninstall(self)
                trigger_hooks.install(self)
        return version

    def restore_version(self, number, *, user=None):
        """Restoring makes a new version with the old content; history is never rewritten."""
        old = self.versions.get(number=number)
        return self.save_definition(old.definition, user=user)

    def _adopt(self, version):
        body = version.definition
        trigger = body.get("trigger") or {"type": "manual"}
        self.current_version = version
        self.name = body.get("name", self.name)
        self.description = body.get("description", "")
        self.timezone = body.get("timezone", "")
        self.trigger_type = trigger.get("type", "manual")
        self.trigger_event = trigger.get("event", "") if self.trigger_type == "event" else ""
        self.save()

    # -- life cycle (django-fsm; state is never assigned directly) --------------------------

    @transition(field=status, source=[Status.DRAFT, Status.PAUSED], target=Status.ACTIVE)
    def activate(self):
        """Only a valid definition can be activated; activation installs the trigger."""
        from ..validation import validate_or_raise

        if not self.current_version:
            from ..validation import DefinitionInvalid

            raise DefinitionInvalid([{"node": None, "field": None, "message": "no definition"}])
        validate_or_raise(self.definition)
        self.status_reason = ""
        trigger_hooks.install(self)

    @transition(field=status, source=Status.ACTIVE, target=Status.PAUSED)
    def pause(self, reason=""):
        self.status_reason = reason
        trigger_hooks.uninstall(self)

    @transition(
        field=status, source=[Status.DRAFT, Status.ACTIVE, Status.PAUSED], target=Status.ARCHIVED
    )
    def archive(self, reason=""):
        self.status_reason = reason
        trigger_hooks.uninstall(self)

    def change_status(self, target, *, reason=""):
        """Apply a requested status through the transitions, atomically with the save."""
        transitions = {
            self.Status.ACTIVE: self.activate,
            self.Status.PAUSED: lambda: self.pause(reason),
            self.Status.ARCHIVED: lambda: self.archive(reason),
        }
        if target == self.status:
            return
        if target not in transitions:
            from django_fsm import TransitionNotAllowed

            raise TransitionNotAllowed(f"cannot move a {self.status} workflow to {target}")
        with transaction.atomic():
            transitions[target]()
            self.save()

    @property
    def can_execute_manually(self):
        return self.status != self.Status.ARCHIVED


class WorkflowVersion(models.Model):
    """An immutable snapshot of a definition; executions point at the one they ran."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    checksum = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="one_version_number"),
        ]

    def __str__(self):
        return f"{self.workflow.public_id} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableVersionError(f"version {self.number} is immutable; save a new one")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableVersionError(f"version {self.number} is immutable and cannot be deleted")
