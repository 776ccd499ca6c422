"""`manage.py workflow validate|import|run|resume|export`: workflows from the command line."""

import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from workflows.models import Execution, Workflow
from workflows.services import ExecutionRefused, find_workflow, run, start_execution
from workflows.summaries import execution_summary
from workflows.transfer import ImportRefused, export_definition, import_definition
from workflows.validation import DefinitionInvalid, validate_definition


def _load_json(source, what):
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise CommandError(f"cannot read {what} '{source}': {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{what} '{source}' is not valid JSON: {exc}") from None


def _format_problem(problem):
    where = " ".join(
        part
        for part in (problem.get("node") and f"node {problem['node']}", problem.get("field"))
        if part
    )
    return f"  {where or 'workflow'}: {problem['message']}"


class Command(BaseCommand):
    help = "Validate, import, run and export workflow definitions."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        validate = sub.add_parser("validate", help="check a definition file")
        validate.add_argument("file")
        imp = sub.add_parser("import", help="create or update a workflow from a file")
        imp.add_argument("file")
        run_cmd = sub.add_parser("run", help="run a workflow (file or id) and print the run")
        run_cmd.add_argument("target", help="a definition file, or a workflow id")
        run_cmd.add_argument("--input", default="{}", help="the trigger data, as JSON")
        run_cmd.add_argument(
            "--test", action="store_true", help="simulate actions: nothing is sent or written"
        )
        resume = sub.add_parser("resume", help="advance an unfinished execution")
        resume.add_argument("execution")
        export = sub.add_parser("export", help="print a workflow's definition")
        export.add_argument("workflow")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(**options)

    def _print_json(self, data):
        self.stdout.write(json.dumps(data, indent=2, default=str))

    def handle_validate(self, file, **options):
        result = validate_definition(_load_json(file, "definition"))
        for warning in result.warnings:
            self.stderr.write("warning:" + _format_problem(warning)[1:])
        if not result.valid:
            raise CommandError(
                f"{file} is not valid:\n" + "\n".join(_format_problem(e) for e in result.errors)
            )
        self.stdout.write(f"{file} is valid")

    def _import(self, definition, *, apply_status=True):
        try:
            return import_definition(definition, apply_status=apply_status)
        except DefinitionInvalid as exc:
            raise CommandError(
                "the definition is not valid:\n" + "\n".join(_format_problem(e) for e in exc.errors)
            ) from None
        except ImportRefused as exc:
            raise CommandError(str(exc)) from None

    def handle_import(self, file, **options):
        workflow, created = self._import(_load_json(file, "definition"))
        verb = "created" if created else "updated"
        self.stdout.write(
            f"{verb} {workflow.public_id} '{workflow.name}' "
            f"(version {workflow.current_version.number}, {workflow.status})"
        )

    def _workflow(self, identifier):
        try:
            return find_workflow(identifier)
        except Workflow.DoesNotExist as exc:
            raise CommandError(str(exc)) from None

    def handle_run(self, target, input, test, **options):
        if Path(target).is_file() or target == "-":
            # Running a file brings its definition in (a new version if it changed) but
            # leaves the workflow's status alone: a run is not an activation.
            workflow, _ = self._import(_load_json(target, "definition"), apply_status=False)
        else:
            workflow = self._workflow(target)
        try:
            data = json.loads(input)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not valid JSON: {exc}") from None
        try:
            execution = start_execution(workflow, trigger_data=data, test=test, inline=True)
        except ExecutionRefused as exc:
            raise CommandError(str(exc)) from None
        self._print_json(execution_summary(execution))

    def handle_resume(self, execution, **options):
        found = Execution.objects.filter(public_id=execution).first()
        if found is None:
            raise CommandError(f"no execution '{execution}'")
        # An operator's explicit resume takes the run over even if a (dead) worker's lease
        # has not expired yet.
        self._print_json(execution_summary(run(found.pk, take_over=True)))

    def handle_export(self, workflow, **options):
        self._print_json(export_definition(self._workflow(workflow)))
