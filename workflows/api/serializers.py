"""What the API reads and writes, in the seed's shapes.

Thin on purpose: they name fields and shapes. What makes a definition valid belongs to
workflows.validation, which answers with `{node, field, message}` issues, so definition
bodies are not checked here field by field (DefinitionBody exists to document them).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from workflows.models import Execution, Workflow
from workflows.summaries import execution_summary

from . import run_stats

# -- definitions and workflows ------------------------------------------------------------


class DefinitionBody(serializers.Serializer):
    """A workflow definition in the seed's shape (DEFINITION.md has every form)."""

    id = serializers.CharField(
        required=False, max_length=64, help_text="Optional on create; kept by import"
    )
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=Workflow.Status.choices,
        required=False,
        help_text="Reached through the state machine's transitions",
    )
    timezone = serializers.CharField(required=False, max_length=64)
    settings = serializers.DictField(required=False, help_text="Per-run limits")
    trigger = serializers.DictField(help_text='e.g. {"type": "event", "event": "customer.created"}')
    nodes = serializers.ListField(child=serializers.DictField())
    edges = serializers.ListField(child=serializers.DictField())


class DefinitionPatch(DefinitionBody):
    """Top-level keys to replace in the current definition."""

    name = serializers.CharField(max_length=200, required=False)
    trigger = serializers.DictField(required=False)
    nodes = serializers.ListField(child=serializers.DictField(), required=False)
    edges = serializers.ListField(child=serializers.DictField(), required=False)


class Issue(serializers.Serializer):
    node = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class DefinitionErrors(serializers.Serializer):
    """400: the definition is invalid (nothing was saved)."""

    errors = Issue(many=True)
    warnings = Issue(many=True)


class ValidationResult(DefinitionErrors):
    valid = serializers.BooleanField()


class Detail(serializers.Serializer):
    """Why a request was refused."""

    detail = serializers.CharField()


class WorkflowItem(serializers.Serializer):
    """One workflow in GET /api/workflows (the seed's list item)."""

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Workflow.Status.choices)
    trigger_type = serializers.CharField()
    last_run = serializers.DateTimeField(
        allow_null=True, help_text="When the last live run was triggered"
    )
    run_count = serializers.IntegerField(help_text="Live runs (test-mode runs do not count)")
    success_rate = serializers.SerializerMethodField(
        help_text="Percentage of finished live runs that completed; null before the first"
    )

    @extend_schema_field(serializers.FloatField(allow_null=True, min_value=0, max_value=100))
    def get_success_rate(self, workflow):
        return run_stats.success_rate(workflow)


class WorkflowDetail(WorkflowItem):
    """One workflow with its definition (PUT the `definition` back to change it)."""

    description = serializers.CharField()
    status_reason = serializers.CharField(help_text="Why it was last paused or archived")
    version = serializers.IntegerField(source="definition.version")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    definition = serializers.DictField(help_text="The current definition, as exported")


class StatusChange(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


# -- versions -------------------------------------------------------------------------------


class VersionItem(serializers.Serializer):
    number = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(source="created_by.get_username", allow_null=True)


class VersionDetail(VersionItem):
    definition = serializers.DictField()


# -- runs -----------------------------------------------------------------------------------


class RunRequest(serializers.Serializer):
    input_data = serializers.DictField(
        required=False, default=dict, help_text="The run's trigger data"
    )


class TestRunRequest(RunRequest):
    definition = serializers.DictField(
        required=False,
        help_text="An unsaved definition to run instead of the current one; nothing is kept",
    )


class Accepted(serializers.Serializer):
    """202: the run is queued."""

    execution_id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    started_at = serializers.SerializerMethodField(help_text="When the run was accepted")

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_started_at(self, execution):
        moment = execution.started_at or execution.created_at
        return serializers.DateTimeField().to_representation(moment)


class ExecutionItem(serializers.Serializer):
    """One run in a workflow's history (the seed's list item)."""

    id = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    steps_completed = serializers.IntegerField(help_text="Steps that succeeded or were skipped")
    steps_total = serializers.IntegerField(help_text="Every node visit (loop iterations count)")


class ExecutionListItem(ExecutionItem):
    """One run in GET /api/executions: which workflow it belongs to as well."""

    workflow = serializers.CharField(source="workflow.public_id")


class Step(serializers.Serializer):
    node = serializers.CharField()
    type = serializers.CharField()
    path = serializers.CharField()
    attempt = serializers.IntegerField()
    status = serializers.CharField()
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = serializers.JSONField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.FloatField(allow_null=True)


class ExecutionDetail(serializers.Serializer):
    """One run with every step (summaries.execution_summary) and its trigger data."""

    id = serializers.CharField()
    workflow = serializers.CharField()
    version = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=Execution.Mode.choices)
    status = serializers.ChoiceField(choices=Execution.Status.choices)
    trigger_type = serializers.CharField()
    trigger_data = serializers.JSONField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    resume_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    steps_total = serializers.IntegerField()
    steps_completed = serializers.IntegerField()
    error = serializers.JSONField(allow_null=True)
    steps = Step(many=True)

    def to_representation(self, execution):
        return {**execution_summary(execution), "trigger_data": execution.trigger_data}


class CancelRequest(serializers.Serializer):
    reason = serializers.CharField(required=False, default="cancelled by a user")


# -- query parameters ---------------------------------------------------------------------


class WorkflowFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=Workflow.Status.choices, required=False)
    trigger_type = serializers.CharField(required=False, help_text="manual, event, schedule...")
    search = serializers.CharField(required=False, help_text="Part of the name")


class ExecutionFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=Execution.Status.choices, required=False)
    mode = serializers.ChoiceField(choices=Execution.Mode.choices, required=False)
    started_after = serializers.DateTimeField(required=False, help_text="ISO 8601, inclusive")
    started_before = serializers.DateTimeField(required=False, help_text="ISO 8601, exclusive")


class AllExecutionFilters(ExecutionFilters):
    workflow = serializers.CharField(required=False, help_text="A workflow id (wf_...)")


# -- webhooks, templates, catalog ---------------------------------------------------------


class Webhook(serializers.Serializer):
    url = serializers.CharField(allow_null=True, help_text="Null unless triggered by a webhook")


class RotateSecret(serializers.Serializer):
    secret = serializers.CharField(
        required=False, help_text="Adopt this secret (whsec_...) instead of generating one"
    )


class RotatedSecret(Webhook):
    secret = serializers.CharField(help_text="Shown this once; it is stored encrypted")


class Template(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    trigger_type = serializers.CharField()
    definition = serializers.DictField()


class Instantiate(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)


@extend_schema_serializer(many=False)  # one document, though served by a "list" action
class Catalog(serializers.Serializer):
    node_types = serializers.ListField(child=serializers.DictField())
    trigger_types = serializers.ListField(child=serializers.DictField())
    actions = serializers.ListField(child=serializers.DictField())
    operators = serializers.ListField(child=serializers.DictField())
    events = serializers.ListField(child=serializers.DictField())
