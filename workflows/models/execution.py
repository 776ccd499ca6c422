"""Executions (one run of one version), their variables and their step runs."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, transition

from ..ids import new_execution_id
from .fields import BulkJSONField, FastJSONField
from .fsm import ProtectedStateMixin


class ExecutionQuerySet(models.QuerySet):
    def due(self, now=None):
        """Waiting executions whose resume time has come."""
        return self.filter(status=Execution.Status.WAITING, resume_at__lte=now or timezone.now())

    def unfinished(self):
        return self.filter(status__in=Execution.UNFINISHED)


class Execution(ProtectedStateMixin, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        WAITING = "waiting"
        COMPLETED = "completed"
        FAILED = "failed"
        RETRYING = "retrying"
        CANCELLED = "cancelled"

    class Mode(models.TextChoices):
        LIVE = "live"
        TEST = "test"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    UNFINISHED = (Status.PENDING, Status.RUNNING, Status.WAITING, Status.RETRYING)

    public_id = models.CharField(
        max_length=64, unique=True, default=new_execution_id, editable=False
    )
    workflow = models.ForeignKey("Workflow", on_delete=models.CASCADE, related_name="executions")
    version = models.ForeignKey("WorkflowVersion", on_delete=models.PROTECT, related_name="+")
    status = FSMField(default=Status.PENDING, choices=Status.choices, protected=True)
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE)
    trigger_type = models.CharField(max_length=20, default="manual")
    trigger_data = FastJSONField(default=dict, blank=True)
    # What is left to run (tokens, loop frames, parallel joins); see workflows.engine.state.
    state = FastJSONField(default=dict, blank=True)
    steps_total = models.PositiveIntegerField(default=0)
    steps_completed = models.PositiveIntegerField(default=0)
    error = FastJSONField(null=True, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    caused_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="caused"
    )
    depth = models.PositiveSmallIntegerField(default=0)
    # What started the run, unique per workflow when set ("evt_...", "schedule:<instant>",
    # "webhook:<delivery id>"): a redelivered trigger can never start a second run.
    trigger_key = models.CharField(max_length=200, blank=True)
    # The record the run is about ("invoice:42"), for loop protection.
    subject = models.CharField(max_length=100, blank=True)
    # A running execution is leased by one worker, which renews the lease as it goes; a
    # sweeper resumes runs whose lease expired (their worker died).
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Lists of runs are ordered newest first, ties broken by id (-created_at, -id):
            # every history, a workflow's and one status's, is a range of one of these three
            # indexes read in order, so a page (and the rows an offset skips) costs an index
            # scan, never a sort of every matching run.
            models.Index(fields=["-created_at", "-id"], name="exec_recent"),
            models.Index(fields=["workflow", "-created_at", "-id"], name="exec_workflow_recent"),
            models.Index(fields=["status", "-created_at", "-id"], name="exec_status_recent"),
            # The resume task's question: waiting executions by resume time.
            models.Index(
                fields=["resume_at"], name="exec_waiting_resume", condition=Q(status="waiting")
            ),
            # The recovery sweep's question: running executions whose lease expired.
            models.Index(
                fields=["lease_expires_at"],
                name="exec_running_lease",
                condition=Q(status="running"),
            ),
            # Loop protection: how often did this workflow fire on this record lately?
            models.Index(
                fields=["workflow", "subject", "created_at"],
                name="exec_subject_time",
                condition=~Q(subject=""),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "trigger_key"],
                name="one_execution_per_trigger",
                condition=~Q(trigger_key=""),
            ),
        ]

    def __str__(self):
        return self.public_id

    @property
    def duration_ms(self):
        if self.started_at and self.completed_at:
            return int((self.completed_at - self.started_at).total_seconds() * 1000)
        return None

    @property
    def is_test(self):
        return self.mode == self.Mode.TEST

    # -- life cycle -------------------------------------------------------------------------

    @transition(field=status, source=[Status.PENDING, Status.RETRYING], target=Status.RUNNING)
    def start(self):
        self.started_at = self.started_at or timezone.now()
        self.resume_at = None

    @transition(field=status, source=Status.WAITING, target=Status.RUNNING)
    def resume(self):
        self.resume_at = None

    @transition(field=status, source=Status.RUNNING, target=Status.WAITING)
    def wait(self, until):
        self.resume_at = until

    @transition(field=status, source=Status.RUNNING, target=Status.COMPLETED)
    def complete(self):
        self.completed_at = timezone.now()
        self.error = None

    @transition(field=status, source=[Status.PENDING, Status.RUNNING], target=Status.FAILED)
    def fail(self, error):
        self.completed_at = timezone.now()
        self.error = error

    @transition(field=status, source=Status.FAILED, target=Status.RETRYING)
    def retry(self):
        self.completed_at = None
        self.error = None

    @transition(
        field=status,
        source=[Status.PENDING, Status.RUNNING, Status.WAITING, Status.RETRYING],
        target=Status.CANCELLED,
    )
    def cancel(self, reason="cancelled"):
        self.completed_at = timezone.now()
        self.resume_at = None
        self.error = {"type": "cancelled", "message": reason, "node": None}


class ExecutionVariable(models.Model):
    """One top-level variable of a run's context.

    Kept as rows so that a checkpoint writes only what a step changed: a 100,000-record query
    result is written once, not rewritten at every step of the loop over it.
    """

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(max_length=200)
    value = BulkJSONField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["execution", "name"], name="one_variable_per_name"),
        ]

    def __str__(self):
        return self.name


class StepRun(models.Model):
    """One attempt of one node visit (a loop visits its body once per item)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        RETRYING = "retrying"
        SKIPPED = "skipped"

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps")
    node_id = models.CharField(max_length=100)
    node_type = models.CharField(max_length=20)
    # Where in the run the visit happened: loop iterations and parallel branches included,
    # e.g. "node_2[3]/node_4"; with the execution id it is the step's idempotency key.
    path = models.CharField(max_length=500)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices)
    input = BulkJSONField(null=True, blank=True)
    output = BulkJSONField(null=True, blank=True)
    error = BulkJSONField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "id"]
        constraints = [
            # A resumed run can never record the same attempt of the same visit twice.
            models.UniqueConstraint(
                fields=["execution", "path", "attempt"], name="one_steprun_per_attempt"
            ),
        ]

    def __str__(self):
        return f"{self.path} #{self.attempt} {self.status}"

    @property
    def idempotency_key(self):
        return f"{self.execution.public_id}:{self.path}"
