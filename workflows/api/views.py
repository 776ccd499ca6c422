"""The API's views: read the request, call the function that owns the rule, answer.

Rules live in the models and services (workflows.models, workflows.services,
workflows.transfer, triggers.webhooks, workflows.starters); refusals rise from them as
exceptions that errors.py turns into answers. Paths are in urls.py.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from actions.catalog import catalog
from triggers.webhooks import rotate_secret, start_manual, webhook_url
from workflows import starters
from workflows.models import Execution, Workflow
from workflows.services import cancel_execution, retry_execution
from workflows.transfer import export_definition, import_definition
from workflows.validation import validate_definition

from . import editing, errors
from . import serializers as s
from .openapi import (
    CONFLICT,
    INVALID,
    NOT_FOUND,
    RUN_EXAMPLE,
    SEED_EXAMPLE,
    transition_schema,
)
from .pagination import envelope
from .parsers import StorableJSONParser
from .permissions import ModelPermissions
from .run_stats import attach_run_stats
from .trials import unsaved_definition

EXECUTE = "workflows.execute_workflow"
VIEW_WORKFLOW = "workflows.view_workflow"
ADD_WORKFLOW = "workflows.add_workflow"
CHANGE_WORKFLOW = "workflows.change_workflow"
VIEW_EXECUTION = "workflows.view_execution"
# The columns a list of runs shows (ExecutionItem); their JSON (trigger data, state, error)
# stays in the database.
ITEM_FIELDS = (
    "public_id",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "steps_total",
    "steps_completed",
)
# Any id but one holding a NUL, which PostgreSQL cannot even compare (a 500, not a 404).
LOOKUP = r"[^/\x00]+"


class APIDefaults:
    """What every view of the API shares: JSON bodies, model permissions, error answers."""

    # JSON only: a definition is nested JSON, which form encodings cannot carry.
    parser_classes = [StorableJSONParser]
    permission_classes = [ModelPermissions]

    def get_exception_handler(self):
        return errors.handle


def read(serializer_class, data):
    """Validated data of a small request serializer (400 naming the field otherwise)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def accepted(execution):
    return Response(s.Accepted(execution).data, status=status.HTTP_202_ACCEPTED)


def workflow_answer(workflow, code=status.HTTP_200_OK):
    """The workflow read again, with its run statistics."""
    fresh = Workflow.objects.select_related("current_version").get(pk=workflow.pk)
    attach_run_stats([fresh])
    return Response(s.WorkflowDetail(fresh).data, status=code)


def _filter_executions(executions, request, filters_class):
    filters = read(filters_class, request.query_params)
    if "status" in filters:
        executions = executions.filter(status=filters["status"])
    if "mode" in filters:
        executions = executions.filter(mode=filters["mode"])
    if "workflow" in filters:
        executions = executions.filter(workflow__public_id=filters["workflow"])
    if "started_after" in filters:
        executions = executions.filter(started_at__gte=filters["started_after"])
    if "started_before" in filters:
        executions = executions.filter(started_at__lt=filters["started_before"])
    return executions


@extend_schema_view(
    list=extend_schema(
        summary="List workflows",
        parameters=[s.WorkflowFilters],
        responses={200: s.WorkflowItem(many=True), 400: OpenApiTypes.OBJECT},
    ),
    create=extend_schema(
        summary="Create a workflow",
        request=s.DefinitionBody,
        examples=[SEED_EXAMPLE],
        responses={201: s.WorkflowDetail, 400: INVALID, 409: CONFLICT},
    ),
    retrieve=extend_schema(
        summary="One workflow with its definition",
        responses={200: s.WorkflowDetail, 404: NOT_FOUND},
    ),
    update=extend_schema(
        summary="Replace the definition (a new version when it changed)",
        request=s.DefinitionBody,
        examples=[SEED_EXAMPLE],
        responses={200: s.WorkflowDetail, 400: INVALID, 404: NOT_FOUND},
    ),
    partial_update=extend_schema(
        summary="Change top-level keys of the definition, or the status",
        request=s.DefinitionPatch,
        responses={200: s.WorkflowDetail, 400: INVALID, 404: NOT_FOUND},
    ),
    destroy=extend_schema(
        summary="Archive the workflow (its history stays)",
        responses={204: None, 404: NOT_FOUND},
    ),
)
class WorkflowViewSet(APIDefaults, viewsets.GenericViewSet):
    """Workflows: definitions, status, runs, versions, import/export and webhooks.

    DELETE archives: executions keep pointing at the versions they ran, so the workflow
    stays (archived, not listening, not runnable) with its history.
    """

    queryset = Workflow.objects.all()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = LOOKUP
    pagination_class = envelope("workflows")
    serializer_class = s.WorkflowDetail
    action_permissions = {
        "activate": [CHANGE_WORKFLOW],
        "pause": [CHANGE_WORKFLOW],
        "archive": [CHANGE_WORKFLOW],
        "validate": [VIEW_WORKFLOW],
        "execute": [VIEW_WORKFLOW, EXECUTE],
        "test": [VIEW_WORKFLOW, EXECUTE],
        "versions": [VIEW_WORKFLOW],
        "version_detail": [VIEW_WORKFLOW],
        "restore": [CHANGE_WORKFLOW],
        "export": [VIEW_WORKFLOW],
        "import_file": [ADD_WORKFLOW, CHANGE_WORKFLOW],
        "executions": [VIEW_WORKFLOW, VIEW_EXECUTION],
        "webhook": [VIEW_WORKFLOW],
        "rotate_webhook_secret": [CHANGE_WORKFLOW],
    }

    def get_queryset(self):
        # Run statistics are attached after the page is cut (see run_stats).
        workflows = Workflow.objects.all()
        if self.action != "list":
            workflows = workflows.select_related("current_version")
        return workflows.order_by("name", "pk")

    # -- the seed's endpoints --------------------------------------------------------------

    def list(self, request):
        filters = read(s.WorkflowFilters, request.query_params)
        workflows = self.get_queryset()
        if "status" in filters:
            workflows = workflows.filter(status=filters["status"])
        if "trigger_type" in filters:
            workflows = workflows.filter(trigger_type=filters["trigger_type"])
        if "search" in filters:
            workflows = workflows.filter(name__icontains=filters["search"])
        page = attach_run_stats(self.paginate_queryset(workflows))
        return self.get_paginated_response(s.WorkflowItem(page, many=True).data)

    def create(self, request):
        workflow = editing.create_workflow(request.data, user=request.user)
        return workflow_answer(workflow, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Run the workflow now (draft, active or paused)",
        request=s.RunRequest,
        examples=[RUN_EXAMPLE],
        responses={202: s.Accepted, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def execute(self, request, id=None):
        workflow = self.get_object()
        data = read(s.RunRequest, request.data)
        return accepted(start_manual(workflow, data["input_data"], user=request.user))

    @extend_schema(
        summary="The workflow's runs, newest first",
        parameters=[s.ExecutionFilters],
        responses={200: s.ExecutionItem(many=True), 400: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=envelope("executions"))
    def executions(self, request, id=None):
        workflow = self.get_object()
        # The related manager reads each run's workflow_id: it is loaded with the rest.
        runs = workflow.executions.only(*ITEM_FIELDS, "workflow")
        runs = _filter_executions(runs, request, s.ExecutionFilters)
        page = self.paginate_queryset(runs.order_by("-created_at", "-pk"))
        return self.get_paginated_response(s.ExecutionItem(page, many=True).data)

    # -- one workflow ------------------------------------------------------------------------

    def retrieve(self, request, id=None):
        workflow = self.get_object()
        attach_run_stats([workflow])
        return Response(s.WorkflowDetail(workflow).data)

    def update(self, request, id=None):
        workflow = editing.update_workflow(self.get_object(), request.data, user=request.user)
        return workflow_answer(workflow)

    def partial_update(self, request, id=None):
        workflow = editing.update_workflow(
            self.get_object(), request.data, user=request.user, partial=True
        )
        return workflow_answer(workflow)

    def destroy(self, request, id=None):
        editing.change_status(
            self.get_object(), Workflow.Status.ARCHIVED, reason="deleted through the API"
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _transition(self, request, target):
        workflow = self.get_object()
        reason = read(s.StatusChange, request.data)["reason"]
        editing.change_status(workflow, target, reason=reason)
        return workflow_answer(workflow)

    @transition_schema("Activate (only a valid definition)")
    @action(detail=True, methods=["post"])
    def activate(self, request, id=None):
        return self._transition(request, Workflow.Status.ACTIVE)

    @transition_schema("Pause an active workflow")
    @action(detail=True, methods=["post"])
    def pause(self, request, id=None):
        return self._transition(request, Workflow.Status.PAUSED)

    @transition_schema("Archive: stop listening; manual runs are refused")
    @action(detail=True, methods=["post"])
    def archive(self, request, id=None):
        return self._transition(request, Workflow.Status.ARCHIVED)

    # -- definitions without a workflow ------------------------------------------------------

    @extend_schema(
        summary="Validate a definition (nothing is saved)",
        request=s.DefinitionBody,
        examples=[SEED_EXAMPLE],
        responses={200: s.ValidationResult},
    )
    @action(detail=False, methods=["post"])
    def validate(self, request):
        return Response(validate_definition(request.data).as_dict())

    @extend_schema(
        summary="Import a definition file: creates the workflow, or updates the one its id names",
        request=s.DefinitionBody,
        examples=[SEED_EXAMPLE],
        responses={
            200: s.WorkflowDetail,
            201: s.WorkflowDetail,
            400: INVALID,
            409: CONFLICT,
        },
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_file(self, request):
        workflow, created = import_definition(request.data, user=request.user)
        return workflow_answer(workflow, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="The definition as a file",
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def export(self, request, id=None):
        workflow = self.get_object()
        response = Response(export_definition(workflow))
        if request.accepted_renderer.format == "json":
            response["Content-Disposition"] = f'attachment; filename="{workflow.public_id}.json"'
        return response

    # -- test runs ---------------------------------------------------------------------------

    @extend_schema(
        summary="A test-mode run (actions simulated), answered with every step's output",
        description=(
            "With `definition`, that unsaved definition runs instead of the current one, and "
            "neither it nor the run is kept."
        ),
        request=s.TestRunRequest,
        responses={200: s.ExecutionDetail, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, id=None):
        workflow = self.get_object()
        data = read(s.TestRunRequest, request.data)

        def run(candidate):
            execution = start_manual(
                candidate, data["input_data"], user=request.user, test=True, inline=True
            )
            return s.ExecutionDetail(execution).data

        if "definition" not in data:
            return Response(run(workflow))
        with unsaved_definition(workflow, data["definition"], user=request.user) as candidate:
            # Read inside the block: the run is rolled back with the definition.
            answer = run(candidate)
        return Response(answer)

    # -- versions ----------------------------------------------------------------------------

    @extend_schema(
        summary="The version history, newest first",
        responses={200: s.VersionItem(many=True), 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"], pagination_class=envelope("versions"))
    def versions(self, request, id=None):
        versions = self.get_object().versions.select_related("created_by").order_by("-number")
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(s.VersionItem(page, many=True).data)

    @extend_schema(summary="One version", responses={200: s.VersionDetail, 404: NOT_FOUND})
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]+)")
    def version_detail(self, request, number, id=None):
        version = self.get_object().versions.get(number=int(number))
        return Response(s.VersionDetail(version).data)

    @extend_schema(
        summary="Restore a version (as a new version with its content)",
        request=None,
        responses={200: s.WorkflowDetail, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]+)/restore")
    def restore(self, request, number, id=None):
        workflow = self.get_object()
        workflow.restore_version(int(number), user=request.user)
        return workflow_answer(workflow)

    # -- webhook ---------------------------------------------------------------------------

    @extend_schema(
        summary="The webhook URL (null unless the workflow is triggered by a webhook)",
        responses={200: s.Webhook, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["get"])
    def webhook(self, request, id=None):
        return Response({"url": webhook_url(self.get_object(), request)})

    @extend_schema(
        summary="Rotate the signing secret; the new one is shown in this answer only",
        request=s.RotateSecret,
        responses={200: s.RotatedSecret, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    @webhook.mapping.post
    def rotate_webhook_secret(self, request, id=None):
        workflow = self.get_object()
        wanted = read(s.RotateSecret, request.data).get("secret")
        secret = rotate_secret(workflow, secret=wanted)
        return Response({"url": webhook_url(workflow, request), "secret": secret})


@extend_schema_view(
    list=extend_schema(
        summary="Every run, newest first",
        parameters=[s.AllExecutionFilters],
        responses={200: s.ExecutionListItem(many=True), 400: OpenApiTypes.OBJECT},
    ),
    retrieve=extend_schema(
        summary="One run with its steps", responses={200: s.ExecutionDetail, 404: NOT_FOUND}
    ),
)
class ExecutionViewSet(APIDefaults, viewsets.GenericViewSet):
    """Runs of every workflow: history, one run's steps, retry and cancel."""

    queryset = Execution.objects.all()
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    lookup_value_regex = LOOKUP
    pagination_class = envelope("executions")
    serializer_class = s.ExecutionDetail
    action_permissions = {
        "retry": [VIEW_EXECUTION, EXECUTE],
        "cancel": [VIEW_EXECUTION, EXECUTE],
    }

    def get_queryset(self):
        runs = Execution.objects.order_by("-created_at", "-pk")
        if self.action == "list":
            # What ExecutionListItem shows, not the JSON of trigger data, state and error.
            # The workflow comes through select_related, not an annotation: count() and the
            # page's subquery of ids drop a select_related, but keep an annotation's join.
            return runs.select_related("workflow").only(
                *ITEM_FIELDS, "workflow", "workflow__public_id"
            )
        return runs.select_related("workflow", "version")

    def list(self, request):
        runs = _filter_executions(self.get_queryset(), request, s.AllExecutionFilters)
        page = self.paginate_queryset(runs)
        return self.get_paginated_response(s.ExecutionListItem(page, many=True).data)

    def retrieve(self, request, id=None):
        return Response(s.ExecutionDetail(self.get_object()).data)

    @extend_schema(
        summary="Retry a failed run from its failed step",
        request=None,
        responses={202: s.Accepted, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def retry(self, request, id=None):
        return accepted(retry_execution(self.get_object()))

    @extend_schema(
        summary="Cancel a pending, running or waiting run",
        request=s.CancelRequest,
        responses={200: s.ExecutionDetail, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND, 409: CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, id=None):
        execution = self.get_object()
        reason = read(s.CancelRequest, request.data)["reason"]
        return Response(s.ExecutionDetail(cancel_execution(execution, reason)).data)


@extend_schema_view(
    list=extend_schema(summary="The starter workflows", responses={200: s.Template(many=True)}),
)
class TemplateViewSet(APIDefaults, viewsets.ViewSet):
    """The seed's starter workflows, and a new draft workflow from one of them."""

    lookup_field = "key"
    lookup_value_regex = LOOKUP
    pagination_class = envelope("templates")
    action_permissions = {"list": [VIEW_WORKFLOW], "instantiate": [ADD_WORKFLOW]}

    def list(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(starters.all_templates(), request, self)
        return paginator.get_paginated_response(s.Template(page, many=True).data)

    @extend_schema(
        summary="Make a new draft workflow from a template",
        request=s.Instantiate,
        responses={201: s.WorkflowDetail, 400: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    @action(detail=True, methods=["post"])
    def instantiate(self, request, key=None):
        name = read(s.Instantiate, request.data).get("name")
        workflow = starters.instantiate(key, user=request.user, name=name)
        return workflow_answer(workflow, status.HTTP_201_CREATED)


class CatalogViewSet(APIDefaults, viewsets.ViewSet):
    """What the builder can place: node types, actions, operators, triggers and events."""

    action_permissions = {"list": [VIEW_WORKFLOW]}

    @extend_schema(summary="The catalog", responses={200: s.Catalog})
    def list(self, request):
        return Response(catalog())
