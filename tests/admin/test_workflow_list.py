"""The workflow list and its actions: statistics, filters, search, status changes, duplicate
and export, each for a staff user with only the permission it needs."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.admin.support import end_definition, messages_of, offered_actions, post_action, url
from workflows.admin import WorkflowAdmin
from workflows.models import Execution, Workflow, WorkflowVersion

VIEW = "workflows.view_workflow"
CHANGE = "workflows.change_workflow"
ADD = "workflows.add_workflow"


def add_runs(workflow, *statuses, mode="live", when=None):
    for status in statuses:
        Execution.objects.create(
            workflow=workflow,
            version=workflow.current_version,
            status=status,
            mode=mode,
            created_at=when or timezone.now(),
        )


def rows(response):
    return {workflow.public_id: workflow for workflow in response.context["cl"].result_list}


@pytest.mark.django_db
def test_the_list_shows_status_trigger_last_run_run_count_and_success_rate(staff, make_workflow):
    busy = make_workflow(end_definition("Busy"))
    idle = make_workflow(end_definition("Idle"))
    add_runs(busy, "completed", "completed", "completed", "failed", "running")
    add_runs(busy, "failed", mode="test")  # a builder's try-out is not part of the record
    latest = timezone.now() + timedelta(minutes=5)
    add_runs(busy, "completed", when=latest)

    response = staff(VIEW).get(url(Workflow, "changelist"))

    assert response.status_code == 200
    listed = rows(response)
    assert (listed[busy.public_id].run_count, listed[busy.public_id].success_percent) == (6, 80.0)
    assert listed[busy.public_id].last_run == latest
    assert (listed[idle.public_id].run_count, listed[idle.public_id].success_percent) == (0, None)
    html = response.content.decode()
    assert "80.0%" in html
    assert '<td class="field-trigger_type">manual</td>' in html
    assert '<td class="field-status">Draft</td>' in html


@pytest.mark.django_db
def test_the_statistics_cost_the_same_queries_for_one_workflow_or_twenty(staff, make_workflow):
    client = staff(VIEW)
    add_runs(make_workflow(end_definition("First")), "completed", "failed")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(Workflow, "changelist")).status_code == 200
        return len(captured)

    one = queries()
    for number in range(19):
        add_runs(make_workflow(end_definition(f"More {number}")), "completed", "failed")
    assert queries() == one


@pytest.mark.django_db
def test_the_list_sorts_by_success_rate(staff, make_workflow):
    good, bad = make_workflow(end_definition("Good")), make_workflow(end_definition("Bad"))
    add_runs(good, "completed", "completed")
    add_runs(bad, "failed", "completed")
    # `o` counts the list's columns from the checkbox column, which is number 0.
    rate_column = WorkflowAdmin.list_display.index("success_rate") + 1

    response = staff(VIEW).get(url(Workflow, "changelist"), {"o": f"-{rate_column}"})

    names = [workflow.name for workflow in response.context["cl"].result_list]
    assert names == ["Good", "Bad"]


@pytest.mark.django_db
def test_filters_by_status_and_trigger_type_and_searches_name_and_id(staff, make_workflow):
    client = staff(VIEW)
    active = make_workflow(end_definition("Invoice chaser"), status="active")
    draft = make_workflow(
        end_definition("Hooked", trigger={"type": "webhook"}),
    )
    changelist = url(Workflow, "changelist")

    assert set(rows(client.get(changelist, {"status__exact": "active"}))) == {active.public_id}
    assert set(rows(client.get(changelist, {"trigger_type__exact": "webhook"}))) == {
        draft.public_id
    }
    assert set(rows(client.get(changelist, {"q": "chaser"}))) == {active.public_id}
    assert set(rows(client.get(changelist, {"q": draft.public_id}))) == {draft.public_id}


# -- status actions ------------------------------------------------------------------------


@pytest.mark.django_db
def test_activate_pause_and_archive_go_through_the_transitions(staff, workflow):
    client = staff(VIEW, CHANGE)

    post_action(client, Workflow, "activate", [workflow])
    workflow.refresh_from_db()
    assert workflow.status == "active"

    response = post_action(client, Workflow, "pause", [workflow])
    workflow.refresh_from_db()
    assert workflow.status == "paused"
    assert workflow.status_reason == f"paused in the admin by {client.user}"
    assert "1 workflow(s) paused." in messages_of(response)

    post_action(client, Workflow, "archive", [workflow])
    workflow.refresh_from_db()
    assert workflow.status == "archived"


@pytest.mark.django_db
def test_each_refused_transition_is_reported_with_its_reason(staff, make_workflow):
    draft = make_workflow(end_definition("Still a draft"))
    archived = make_workflow(end_definition("Gone"), status="archived")
    active = make_workflow(end_definition("Running"), status="active")

    response = post_action(staff(VIEW, CHANGE), Workflow, "pause", [draft, archived, active])

    for workflow, status in ((draft, "draft"), (archived, "archived"), (active, "paused")):
        workflow.refresh_from_db()
        assert workflow.status == status
    texts = messages_of(response)
    assert any(draft.public_id in t and "was not paused: it is draft" in t for t in texts)
    assert any(archived.public_id in t and "it is archived" in t for t in texts)
    assert "1 workflow(s) paused." in texts


@pytest.mark.django_db
def test_activating_an_invalid_definition_lists_its_errors(staff, workflow):
    # A version saved before a rule existed: the model refuses to activate it.
    broken = WorkflowVersion.objects.create(
        workflow=workflow,
        number=2,
        definition={**end_definition(), "edges": [{"from": "trigger", "to": "nowhere"}]},
        checksum="x",
    )
    Workflow.objects.filter(pk=workflow.pk).update(current_version=broken)

    response = post_action(staff(VIEW, CHANGE), Workflow, "activate", [workflow])

    workflow.refresh_from_db()
    assert workflow.status == "draft"
    [text] = messages_of(response)
    assert "was not activated" in text
    assert "edge to unknown node 'nowhere'" in text


@pytest.mark.django_db
def test_status_actions_need_change_permission(staff, workflow):
    viewer = staff(VIEW)

    assert offered_actions(viewer, Workflow) == {"export"}
    post_action(viewer, Workflow, "activate", [workflow])
    workflow.refresh_from_db()
    assert workflow.status == "draft"
    assert {"activate", "pause", "archive"} <= offered_actions(staff(VIEW, CHANGE), Workflow)


# -- duplicate and export ----------------------------------------------------------------------


@pytest.mark.django_db
def test_duplicate_makes_a_draft_copy_with_the_same_definition(staff, make_workflow):
    original = make_workflow(end_definition("Welcome"), status="active")
    client = staff(VIEW, ADD)

    response = post_action(client, Workflow, "duplicate", [original])

    copy = Workflow.objects.exclude(pk=original.pk).get()
    assert copy.name == "Welcome (copy)"
    assert copy.status == "draft"
    assert copy.owner == client.user
    assert copy.public_id != original.public_id
    body = {k: v for k, v in original.current_version.definition.items() if k != "name"}
    assert {k: v for k, v in copy.current_version.definition.items() if k != "name"} == body
    assert copy.current_version.created_by == client.user
    assert any("duplicated as" in text for text in messages_of(response))


@pytest.mark.django_db
def test_duplicate_needs_add_permission(staff, workflow):
    client = staff(VIEW, CHANGE)

    assert "duplicate" not in offered_actions(client, Workflow)
    post_action(client, Workflow, "duplicate", [workflow])
    assert Workflow.objects.count() == 1


@pytest.mark.django_db
def test_export_of_one_workflow_is_its_json_file(staff, workflow):
    response = staff(VIEW).post(
        url(Workflow, "changelist"), {"action": "export", "_selected_action": [workflow.pk]}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert f'filename="{workflow.public_id}.json"' in response["Content-Disposition"]
    exported = json.loads(response.content)
    assert exported == workflow.definition
    assert exported["nodes"] == [{"id": "done", "type": "end"}]


@pytest.mark.django_db
def test_export_of_several_workflows_is_a_zip_of_their_files(staff, make_workflow):
    first, second = make_workflow(end_definition("One")), make_workflow(end_definition("Two"))

    response = staff(VIEW).post(
        url(Workflow, "changelist"),
        {"action": "export", "_selected_action": [first.pk, second.pk]},
    )

    assert response["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        files = {name: json.loads(bundle.read(name)) for name in bundle.namelist()}
    assert files == {
        f"{first.public_id}.json": first.definition,
        f"{second.public_id}.json": second.definition,
    }
