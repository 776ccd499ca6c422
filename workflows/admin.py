"""The workflows admin: where people configure workflows and watch their runs.

Thin on purpose (STYLE.md): every rule lives in the model layer and the services, which the
API, the builder and the workers call too. This module only turns requests into those calls
(`Workflow.change_status`, `save_definition`, `restore_version`, the validator,
`triggers.webhooks.start_manual`, `services.retry_execution` / `cancel_execution`,
`transfer.export_definition`) and their refusals into form errors and messages.

Permissions, beyond Django's model permissions:
- running a workflow ("Run now") needs `workflows.execute_workflow`, as in the API;
- duplicating needs `add_workflow`; activate, pause, archive and restore need `change_workflow`;
- executions are history: nobody adds, edits or deletes them here; cancelling needs
  `change_execution`, and retrying (which runs steps again) that and `execute_workflow`.
"""

import io
import json
import zipfile

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django_fsm import TransitionNotAllowed

from triggers.catalog import UnknownEvent, sample_payload
from triggers.webhooks import start_manual

from . import admin_charts
from .models import Execution, StepRun, Workflow, WorkflowVersion
from .services import ExecutionRefused, cancel_execution, retry_execution
from .transfer import export_definition
from .validation import DefinitionInvalid, validate_definition

EXECUTE_PERMISSION = "workflows.execute_workflow"
STARTER_DEFINITION = {
    "name": "New workflow",
    "description": "",
    "trigger": {"type": "manual"},
    "nodes": [{"id": "node_1", "type": "end"}],
    "edges": [{"from": "trigger", "to": "node_1"}],
}


# PostgreSQL's jsonb keeps keys in its own order (shorter first); people read a definition
# top down: what it is, what starts it, what it does.
DEFINITION_KEY_ORDER = ("id", "name", "description", "version", "status", "timezone", "trigger")


def readable_order(definition):
    """The definition with its top-level keys in reading order (the rest keep theirs)."""
    first = [key for key in DEFINITION_KEY_ORDER if key in definition]
    rest = [key for key in definition if key not in DEFINITION_KEY_ORDER]
    return {key: definition[key] for key in (*first, *rest)}


def pretty_json(value):
    """JSON as people read it: indented, in a <pre>, escaped."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return format_html('<pre class="json" style="margin:0">{}</pre>', text)


def describe_issue(issue):
    """A validator issue on one line, where first: "node node_3, field config.to: message"."""
    where = [f"{kind} {issue[kind]}" for kind in ("node", "field") if issue.get(kind)]
    return f"{', '.join(where)}: {issue['message']}" if where else issue["message"]


def _label(workflow):
    return f"“{workflow.name}” ({workflow.public_id})"


def _json_download(content, filename, content_type="application/json"):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _definition_file(workflow):
    return json.dumps(export_definition(workflow), indent=2, ensure_ascii=False) + "\n"


# -- forms ------------------------------------------------------------------------------------


class DefinitionForm(forms.ModelForm):
    """The definition as editable JSON, validated by the project's validator on save.

    The workflow's own columns (name, trigger type...) all follow from the definition, so the
    form edits nothing else; `save_model` hands the definition to `save_definition`.
    """

    definition = forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 24, "class": "vLargeTextField", "spellcheck": "false"}
        ),
        help_text="The workflow as JSON (trigger, nodes, edges). Saved only when valid; a "
        "changed definition becomes a new version. Any id, version or status here is "
        "ignored: use the actions to change the status.",
    )

    class Meta:
        model = Workflow
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.current_version
        body = readable_order(current.definition) if current else STARTER_DEFINITION
        self.fields["definition"].initial = json.dumps(body, indent=2, ensure_ascii=False)
        self.warnings = []

    def clean_definition(self):
        try:
            definition = json.loads(self.cleaned_data["definition"])
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}") from None
        result = validate_definition(definition)
        if not result.valid:
            raise forms.ValidationError(
                [forms.ValidationError(describe_issue(issue)) for issue in result.errors]
            )
        self.warnings = result.warnings
        return definition


class RunNowForm(forms.Form):
    """The input of a manual run. Only the JSON syntax is checked here; what the input may
    be (an object) is start_manual's rule, and its refusal comes back as a form error."""

    input_data = forms.CharField(
        label="Input data (JSON)",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 16, "class": "vLargeTextField", "spellcheck": "false"}
        ),
        help_text="A JSON object; it becomes the run's trigger data.",
    )

    def clean_input_data(self):
        text = self.cleaned_data["input_data"].strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"This is not valid JSON: {exc}") from None


def sample_input(workflow):
    """What to offer as the input of a manual run: the trigger event's sample payload."""
    if workflow.trigger_event:
        try:
            return sample_payload(workflow.trigger_event)
        except UnknownEvent:
            pass
    return {}


# -- workflows ------------------------------------------------------------------------------


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = DefinitionForm
    list_display = [
        "name",
        "public_id",
        "status",
        "trigger_type",
        "last_run_at",
        "runs",
        "success_rate",
    ]
    list_filter = ["status", "trigger_type"]
    search_fields = ["name", "public_id"]
    actions = ["activate", "pause", "archive", "duplicate", "export"]
    readonly_fields = [
        "public_id",
        "name",
        "description",
        "status",
        "status_reason",
        "trigger_type",
        "trigger_event",
        "version",
        "owner",
        "created_at",
        "updated_at",
        "readable_definition",
    ]

    # -- the list: run statistics as annotations, one query for the whole page ---------------

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("current_version").with_run_stats()

    @admin.display(description="Last run", ordering="last_run")
    def last_run_at(self, workflow):
        return workflow.last_run

    @admin.display(description="Runs", ordering="run_count")
    def runs(self, workflow):
        return workflow.run_count

    @admin.display(description="Success rate", ordering="success_percent")
    def success_rate(self, workflow):
        rate = workflow.success_percent
        return "—" if rate is None else f"{rate:.1f}%"

    # -- the page ---------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["definition"]})]
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        ("name", "public_id"),
                        "description",
                        ("status", "status_reason"),
                        ("trigger_type", "trigger_event"),
                        "version",
                        "owner",
                        ("created_at", "updated_at"),
                    ]
                },
            ),
            ("Definition", {"fields": ["readable_definition"]}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.append(
                ("Edit the definition", {"fields": ["definition"], "classes": ["collapse"]})
            )
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    @admin.display(description="Definition")
    def readable_definition(self, workflow):
        return pretty_json(readable_order(workflow.definition))

    @admin.display(description="Current version")
    def version(self, workflow):
        if workflow.current_version is None:
            return "—"
        url = reverse("admin:workflows_workflow_versions", args=[workflow.pk])
        return format_html(
            '{} · <a href="{}">history and restore</a>', workflow.current_version.number, url
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = request.user
        obj.save_definition(form.cleaned_data["definition"], user=request.user)
        for issue in form.warnings:
            messages.warning(request, f"Warning: {describe_issue(issue)}")

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(
                runs_chart=admin_charts.runs_chart(obj),
                can_run=self.has_execute_permission(request) and obj.can_execute_manually,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def has_execute_permission(self, request):
        return request.user.has_perm(EXECUTE_PERMISSION)

    # -- actions ----------------------------------------------------------------------------

    @admin.action(description="Activate selected workflows", permissions=["change"])
    def activate(self, request, queryset):
        self._change_status(request, queryset, Workflow.Status.ACTIVE, "activated")

    @admin.action(description="Pause selected workflows", permissions=["change"])
    def pause(self, request, queryset):
        self._change_status(request, queryset, Workflow.Status.PAUSED, "paused")

    @admin.action(description="Archive selected workflows", permissions=["change"])
    def archive(self, request, queryset):
        self._change_status(request, queryset, Workflow.Status.ARCHIVED, "archived")

    def _change_status(self, request, queryset, target, verb):
        done = 0
        for workflow in queryset:
            before = workflow.status
            try:
                workflow.change_status(target, reason=f"{verb} in the admin by {request.user}")
            except DefinitionInvalid as exc:
                messages.error(request, f"{_label(workflow)} was not {verb}: {exc.summary()}")
            except TransitionNotAllowed as exc:
                messages.error(
                    request, f"{_label(workflow)} was not {verb}: it is {before} ({exc})"
                )
            else:
                done += 1
        if done:
            messages.success(request, f"{done} workflow(s) {verb}.")

    @admin.action(description="Duplicate selected workflows (as drafts)", permissions=["add"])
    def duplicate(self, request, queryset):
        for workflow in queryset:
            definition = export_definition(workflow)
            definition["name"] = f"{workflow.name[:190]} (copy)"
            copy = Workflow(name=definition["name"], owner=request.user)
            try:
                copy.save_definition(definition, user=request.user)
            except DefinitionInvalid as exc:
                messages.error(request, f"{_label(workflow)} was not duplicated: {exc}")
            else:
                messages.success(request, f"{_label(workflow)} duplicated as {_label(copy)}.")

    @admin.action(description="Export selected workflows (JSON)", permissions=["view"])
    def export(self, request, queryset):
        """One workflow: its .json file. Several: a zip of those same files, each one what
        import takes, so a bundle can be unpacked and imported file by file."""
        workflows = list(queryset)
        if len(workflows) == 1:
            return _json_download(_definition_file(workflows[0]), f"{workflows[0].public_id}.json")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
            for workflow in workflows:
                bundle.writestr(f"{workflow.public_id}.json", _definition_file(workflow))
        return _json_download(buffer.getvalue(), "workflows.zip", "application/zip")

    # -- pages of one workflow: run now, versions, export -----------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/run/", wrap(self.run_view), name="workflows_workflow_run"),
            path(
                "<path:object_id>/versions/",
                wrap(self.versions_view),
                name="workflows_workflow_versions",
            ),
            path(
                "<path:object_id>/export/",
                wrap(self.export_view),
                name="workflows_workflow_export",
            ),
            *super().get_urls(),
        ]

    def _workflow_or_404(self, request, object_id):
        workflow = self.get_object(request, unquote(object_id))
        if workflow is None:
            raise Http404(f"No workflow with id {object_id!r}")
        if not self.has_view_or_change_permission(request, workflow):
            raise PermissionDenied
        return workflow

    def _page(self, request, workflow, template, title, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": workflow,
                "title": title,
                "subtitle": None,
                **context,
            },
        )

    def run_view(self, request, object_id):
        workflow = self._workflow_or_404(request, object_id)
        if not self.has_execute_permission(request):
            raise PermissionDenied
        form = RunNowForm(
            request.POST or None,
            initial={"input_data": json.dumps(sample_input(workflow), indent=2)},
        )
        if request.method == "POST" and form.is_valid():
            try:
                execution = start_manual(
                    workflow, form.cleaned_data["input_data"], user=request.user
                )
            except ExecutionRefused as exc:
                form.add_error("input_data", str(exc))
            else:
                messages.success(
                    request, f"Started run {execution.public_id} ({execution.status})."
                )
                return HttpResponseRedirect(self._after_run_url(request, workflow, execution))
        return self._page(
            request,
            workflow,
            "admin/workflows/workflow/run_now.html",
            f"Run {workflow.name}",
            form=form,
        )

    def _after_run_url(self, request, workflow, execution):
        execution_admin = self.admin_site._registry.get(Execution)
        if execution_admin and execution_admin.has_view_permission(request, execution):
            return reverse("admin:workflows_execution_change", args=[execution.pk])
        return reverse("admin:workflows_workflow_change", args=[workflow.pk])

    def versions_view(self, request, object_id):
        workflow = self._workflow_or_404(request, object_id)
        can_restore = self.has_change_permission(request, workflow)
        if request.method == "POST":
            if not can_restore:
                raise PermissionDenied
            self._restore(request, workflow, request.POST.get("number", ""))
            return HttpResponseRedirect(request.path)
        versions = (
            WorkflowVersion.objects.filter(workflow=workflow)
            .select_related("created_by")
            .order_by("-number")
        )
        return self._page(
            request,
            workflow,
            "admin/workflows/workflow/versions.html",
            f"Versions of {workflow.name}",
            versions=[
                (version, pretty_json(readable_order(version.definition))) for version in versions
            ],
            can_restore=can_restore,
        )

    def _restore(self, request, workflow, number):
        if not number.isdigit():
            messages.error(request, "Choose a version to restore.")
            return
        current = workflow.current_version
        try:
            version = workflow.restore_version(int(number), user=request.user)
        except WorkflowVersion.DoesNotExist:
            messages.error(request, f"There is no version {number}.")
        except DefinitionInvalid as exc:
            messages.error(request, f"Version {number} cannot be restored: {exc}")
        else:
            if current is not None and version.pk == current.pk:
                messages.info(request, f"Version {number} is the current definition already.")
            else:
                messages.success(request, f"Version {number} restored as version {version.number}.")

    def export_view(self, request, object_id):
        workflow = self._workflow_or_404(request, object_id)
        return _json_download(_definition_file(workflow), f"{workflow.public_id}.json")


# -- executions -------------------------------------------------------------------------------


class StepRunInline(admin.TabularInline):
    """Every step of the run, as recorded; history is never edited."""

    model = StepRun
    extra = 0
    can_delete = False
    fields = [
        "node_id",
        "node_type",
        "path",
        "attempt",
        "status",
        "input_json",
        "output_json",
        "error_json",
        "duration",
    ]
    readonly_fields = fields
    ordering = ["id"]

    def has_view_permission(self, request, obj=None):
        # Steps are part of the execution: whoever may see the run sees its steps.
        opts = Execution._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
            for action in ("view", "change")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Input")
    def input_json(self, step):
        return pretty_json(step.input)

    @admin.display(description="Output")
    def output_json(self, step):
        return pretty_json(step.output)

    @admin.display(description="Error")
    def error_json(self, step):
        return pretty_json(step.error) if step.error else "—"

    @admin.display(description="Duration (ms)")
    def duration(self, step):
        return "—" if step.duration_ms is None else f"{step.duration_ms:.1f}"


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "workflow",
        "status",
        "mode",
        "trigger_type",
        "started_at",
        "completed_at",
        "duration",
        "steps",
    ]
    list_filter = [
        "status",
        "mode",
        "trigger_type",
        ("workflow", admin.RelatedOnlyFieldListFilter),
        "created_at",
    ]
    list_select_related = ["workflow"]
    search_fields = ["public_id", "workflow__name", "workflow__public_id", "subject"]
    date_hierarchy = "created_at"
    actions = ["retry", "cancel"]
    inlines = [StepRunInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    ("public_id", "workflow", "version_number"),
                    ("status", "mode", "trigger_type"),
                    ("created_at", "started_at", "completed_at", "duration"),
                    ("steps", "resume_at"),
                    ("trigger_key", "subject"),
                    ("caused_by", "depth"),
                    "error_json",
                ]
            },
        ),
        ("Trigger data", {"fields": ["trigger_data_json"]}),
        ("Engine state", {"fields": ["state_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [
        "public_id",
        "workflow",
        "version_number",
        "status",
        "mode",
        "trigger_type",
        "created_at",
        "started_at",
        "completed_at",
        "duration",
        "steps",
        "resume_at",
        "trigger_key",
        "subject",
        "caused_by",
        "depth",
        "error_json",
        "trigger_data_json",
        "state_json",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("workflow", "version")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The page of a run is read-only for everyone; the permission still governs the
        # actions on the list (cancel, retry), which are asked without an object.
        return obj is None and super().has_change_permission(request)

    def has_retry_permission(self, request):
        return super().has_change_permission(request) and request.user.has_perm(EXECUTE_PERMISSION)

    @admin.display(description="Duration (ms)")
    def duration(self, execution):
        return execution.duration_ms

    @admin.display(description="Steps completed / total")
    def steps(self, execution):
        return f"{execution.steps_completed} / {execution.steps_total}"

    @admin.display(description="Version")
    def version_number(self, execution):
        return execution.version.number

    @admin.display(description="Error")
    def error_json(self, execution):
        return pretty_json(execution.error) if execution.error else "—"

    @admin.display(description="Trigger data")
    def trigger_data_json(self, execution):
        return pretty_json(execution.trigger_data)

    @admin.display(description="State")
    def state_json(self, execution):
        return pretty_json(execution.state)

    @admin.action(description="Retry selected failed executions", permissions=["retry"])
    def retry(self, request, queryset):
        self._each(request, queryset, retry_execution, "retried")

    @admin.action(description="Cancel selected executions", permissions=["change"])
    def cancel(self, request, queryset):
        reason = f"cancelled in the admin by {request.user}"
        self._each(request, queryset, lambda run: cancel_execution(run, reason), "cancelled")

    def _each(self, request, queryset, service, verb):
        done = 0
        for execution in queryset:
            try:
                service(execution)
            except ExecutionRefused as exc:
                messages.error(request, f"{execution.public_id} was not {verb}: {exc}")
            else:
                done += 1
        if done:
            messages.success(request, f"{done} execution(s) {verb}.")
