"""Workflow and execution states, versions, and the activation hook."""

import pytest
from django.core.management import call_command
from django.db import connection
from django_fsm import TransitionNotAllowed

from tests.support.definitions import chain, definition
from workflows import trigger_hooks
from workflows.models import Execution, Workflow, WorkflowVersion
from workflows.models.workflow import ImmutableVersionError
from workflows.validation import DefinitionInvalid

pytestmark = pytest.mark.django_db

VALID = definition([{"id": "done", "type": "end"}], chain("done"))


@pytest.fixture
def workflow(make_workflow):
    return make_workflow(VALID)


@pytest.fixture
def installer():
    """A recording installer for a trigger type of its own."""

    class Recorder(trigger_hooks.TriggerInstaller):
        trigger_type = "manual"
        calls = []

        def install(self, wf):
            self.calls.append(("install", wf.public_id))

        def uninstall(self, wf):
            self.calls.append(("uninstall", wf.public_id))

    recorder = Recorder()
    previous = trigger_hooks._installers.pop("manual", None)
    trigger_hooks.register_installer(recorder)
    yield recorder
    trigger_hooks._installers.pop("manual")
    if previous:
        trigger_hooks._installers["manual"] = previous


def test_public_ids_have_prefixes(workflow):
    assert workflow.public_id.startswith("wf_")
    execution = Execution.objects.create(workflow=workflow, version=workflow.current_version)
    assert execution.public_id.startswith("exec_")


# -- workflow states ----------------------------------------------------------------------


def test_status_cannot_be_assigned_directly(workflow):
    with pytest.raises(AttributeError):
        workflow.status = "active"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (["active"], "active"),
        (["active", "paused"], "paused"),
        (["active", "paused", "active"], "active"),
        (["archived"], "archived"),
        (["active", "archived"], "archived"),
    ],
)
def test_legal_transitions(workflow, path, expected):
    for target in path:
        workflow.change_status(target)
    workflow.refresh_from_db()
    assert workflow.status == expected


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "paused"),  # a draft cannot be paused
        (["archived"], "active"),  # archived is final
        (["archived"], "paused"),
        (["active"], "draft"),  # there is no way back to draft
    ],
)
def test_illegal_transitions_raise(workflow, path, illegal):
    for target in path:
        workflow.change_status(target)
    with pytest.raises(TransitionNotAllowed):
        workflow.change_status(illegal)
    workflow.refresh_from_db()
    assert workflow.status == (path[-1] if path else "draft")


def test_activation_validates_the_definition(workflow, monkeypatch):
    # A definition that became invalid (e.g. an action type since removed) cannot activate.
    version = workflow.current_version
    broken = {**version.definition, "nodes": [{"id": "x", "type": "action", "action": "nope"}]}
    WorkflowVersion.objects.filter(pk=version.pk).update(definition=broken)
    workflow.refresh_from_db()
    with pytest.raises(DefinitionInvalid) as caught:
        workflow.change_status("active")
    assert any("nope" in e["message"] for e in caught.value.errors)
    workflow.refresh_from_db()
    assert workflow.status == "draft"


def test_activation_pause_and_archive_call_the_trigger_hook(workflow, installer):
    workflow.change_status("active")
    workflow.change_status("paused")
    workflow.change_status("active")
    workflow.save_definition({**VALID, "description": "edited while active"})
    workflow.change_status("archived")
    wid = workflow.public_id
    assert installer.calls == [
        ("install", wid),
        ("uninstall", wid),
        ("install", wid),
        ("uninstall", wid),  # an edit of an active workflow reinstalls its trigger
        ("install", wid),
        ("uninstall", wid),
    ]


def test_a_failing_install_leaves_the_workflow_as_it_was(workflow, installer, monkeypatch):
    def explode(wf):
        raise RuntimeError("schedule could not be stored")

    monkeypatch.setattr(installer, "install", explode)
    with pytest.raises(RuntimeError):
        workflow.change_status("active")
    workflow.refresh_from_db()
    assert workflow.status == "draft"


# -- execution states ---------------------------------------------------------------------


@pytest.fixture
def execution(workflow):
    return Execution.objects.create(workflow=workflow, version=workflow.current_version)


def test_execution_status_cannot_be_assigned(execution):
    with pytest.raises(AttributeError):
        execution.status = "completed"


@pytest.mark.parametrize(
    "steps",
    [
        ["start", "complete"],
        ["start", "wait", "resume", "complete"],
        ["start", "fail", "retry", "start", "complete"],
        ["cancel"],
        ["start", "wait", "cancel"],
    ],
)
def test_legal_execution_paths(execution, steps):
    for name in steps:
        method = getattr(execution, name)
        method(*({"wait": [None], "fail": [{}]}.get(name, [])))
    execution.save()


@pytest.mark.parametrize(
    ("before", "illegal"),
    [
        ([], "complete"),  # pending cannot complete without running
        ([], "resume"),
        (["start", "complete"], "start"),  # finished is final
        (["start", "complete"], "cancel"),
        (["start", "complete"], "retry"),  # only failed runs are retried
        (["cancel"], "start"),
    ],
)
def test_illegal_execution_transitions_raise(execution, before, illegal):
    for name in before:
        getattr(execution, name)()
    with pytest.raises(TransitionNotAllowed):
        getattr(execution, illegal)(*({"wait": [None], "fail": [{}]}.get(illegal, [])))


# -- versions -----------------------------------------------------------------------------


def test_a_changed_definition_makes_a_new_version(workflow):
    assert workflow.current_version.number == 1
    workflow.save_definition(VALID)  # unchanged: no new version
    assert workflow.versions.count() == 1
    workflow.save_definition({**VALID, "name": "Renamed"})
    assert workflow.versions.count() == 2
    assert workflow.current_version.number == 2
    assert workflow.name == "Renamed"


def test_versions_are_immutable(workflow):
    version = workflow.current_version
    version.definition = {}
    with pytest.raises(ImmutableVersionError):
        version.save()
    with pytest.raises(ImmutableVersionError):
        version.delete()


def test_restore_makes_a_new_version_with_old_content(workflow):
    workflow.save_definition({**VALID, "name": "Second"})
    version = workflow.restore_version(1)
    assert version.number == 3
    assert version.definition == workflow.versions.get(number=1).definition


def test_an_invalid_definition_writes_nothing(workflow):
    with pytest.raises(DefinitionInvalid):
        workflow.save_definition({"name": "x", "trigger": {"type": "manual"}, "nodes": "nope"})
    assert workflow.versions.count() == 1


def test_executions_keep_the_version_they_ran(workflow, run_workflow):
    from workflows.services import start_execution

    first = start_execution(workflow, inline=True)
    workflow.save_definition({**VALID, "name": "Changed"})
    assert first.version.number == 1
    assert start_execution(workflow, inline=True).version.number == 2


def test_archived_workflows_cannot_run_manually(workflow):
    from workflows.services import ExecutionRefused, start_execution

    workflow.change_status("archived")
    with pytest.raises(ExecutionRefused, match="archived"):
        start_execution(workflow)


def test_no_model_change_without_a_migration():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_workflow_listening_for_uses_the_index(make_workflow):
    on_invoice = make_workflow({**VALID, "trigger": {"type": "event", "event": "invoice.created"}})
    make_workflow({**VALID, "trigger": {"type": "event", "event": "customer.created"}})
    on_invoice.change_status("active")
    assert list(Workflow.objects.listening_for("invoice.created")) == [on_invoice]


@pytest.mark.django_db(transaction=True)
def test_refresh_from_db_never_unprotects_the_state_for_other_instances(workflow):
    """django-fsm's own mixin flips `protected` on the field shared by every instance, so
    while one thread refreshes, another could assign a state directly; ours never does."""
    import threading

    errors = []
    done = threading.Event()

    def refresh_many():
        mine = Workflow.objects.get(pk=workflow.pk)
        try:
            for _ in range(300):
                mine.refresh_from_db()
        except Exception as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            done.set()
            connection.close()  # this thread's connection: none may outlive the test

    def try_assign():
        other = Workflow.objects.get(pk=workflow.pk)
        connection.close()
        while not done.is_set():
            try:
                other.status = "active"
            except AttributeError:
                continue
            errors.append(AssertionError("direct assignment was allowed"))
            return

    threads = [threading.Thread(target=refresh_many), threading.Thread(target=try_assign)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
