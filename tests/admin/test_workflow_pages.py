"""A workflow's own pages: add, change (definition, chart), run now, versions, export."""

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.utils import timezone

from tests.admin.support import end_definition, messages_of, url
from workflows.models import Execution, Workflow

VIEW = "workflows.view_workflow"
CHANGE = "workflows.change_workflow"
ADD = "workflows.add_workflow"
EXECUTE = "workflows.execute_workflow"
VIEW_EXECUTION = "workflows.view_execution"

INVALID = {
    "name": "Broken",
    "trigger": {"type": "manual"},
    "nodes": [{"id": "mail", "type": "action", "action": "no_such_action"}],
    "edges": [{"from": "trigger", "to": "mail"}],
}


def errors_on(response, field):
    return [str(error) for error in response.context["adminform"].form.errors[field]]


# -- add and change ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_add_page_creates_a_draft_from_a_valid_definition(staff):
    client = staff(VIEW, ADD)
    assert client.get(url(Workflow, "add")).status_code == 200

    response = client.post(
        url(Workflow, "add"), {"definition": json.dumps(end_definition("Fresh"))}, follow=True
    )

    assert response.status_code == 200
    workflow = Workflow.objects.get()
    assert (workflow.name, workflow.status, workflow.owner) == ("Fresh", "draft", client.user)
    assert workflow.current_version.number == 1
    assert workflow.current_version.created_by == client.user


@pytest.mark.django_db
def test_an_invalid_definition_is_refused_with_every_error_and_nothing_saved(staff):
    response = staff(VIEW, ADD).post(url(Workflow, "add"), {"definition": json.dumps(INVALID)})

    assert response.status_code == 200
    assert Workflow.objects.count() == 0
    errors = errors_on(response, "definition")
    assert "node mail, field action: unknown action 'no_such_action'" in errors[0]
    assert "unknown action" in response.content.decode()


@pytest.mark.django_db
def test_text_that_is_not_json_is_refused(staff):
    response = staff(VIEW, ADD).post(url(Workflow, "add"), {"definition": "{nodes: oops"})

    assert Workflow.objects.count() == 0
    assert errors_on(response, "definition")[0].startswith("This is not valid JSON")


@pytest.mark.django_db
def test_the_change_page_shows_the_definition_readable_and_read_only(staff, workflow):
    response = staff(VIEW).get(url(Workflow, "change", workflow.pk))

    assert response.status_code == 200
    html = response.content.decode()
    shown = re.search(r'<pre class="json" style="margin:0">(.*?)</pre>', html, re.S).group(1)
    assert json.loads(unescape(shown)) == workflow.definition
    # Reading order, whatever order the database keeps the keys in.
    assert list(json.loads(unescape(shown)))[:5] == ["id", "name", "version", "status", "trigger"]
    assert '\n  "trigger": {\n    "type": "manual"\n  },' in unescape(shown)  # indented
    # View permission only: no textarea to edit, no save button.
    assert 'name="definition"' not in html
    assert 'name="_save"' not in html


@pytest.mark.django_db
def test_editing_the_definition_saves_a_new_version(staff, workflow):
    client = staff(VIEW, CHANGE)
    page = client.get(url(Workflow, "change", workflow.pk))
    assert 'name="definition"' in page.content.decode()
    edited = end_definition("Greeter, renamed", description="now described")

    client.post(url(Workflow, "change", workflow.pk), {"definition": json.dumps(edited)})

    workflow.refresh_from_db()
    assert workflow.current_version.number == 2
    assert (workflow.name, workflow.description) == ("Greeter, renamed", "now described")


@pytest.mark.django_db
def test_an_unchanged_definition_makes_no_new_version(staff, workflow):
    client = staff(VIEW, CHANGE)
    initial = client.get(url(Workflow, "change", workflow.pk)).context["adminform"].form
    text = initial.fields["definition"].initial

    client.post(url(Workflow, "change", workflow.pk), {"definition": text})

    assert workflow.versions.count() == 1


@pytest.mark.django_db
def test_an_invalid_edit_keeps_the_stored_definition(staff, workflow):
    response = staff(VIEW, CHANGE).post(
        url(Workflow, "change", workflow.pk), {"definition": json.dumps(INVALID)}
    )

    assert response.status_code == 200
    assert errors_on(response, "definition")
    workflow.refresh_from_db()
    assert workflow.current_version.number == 1
    assert workflow.name == "Greeter"


@pytest.mark.django_db
def test_saving_needs_change_permission(staff, workflow):
    response = staff(VIEW).post(
        url(Workflow, "change", workflow.pk),
        {"definition": json.dumps(end_definition("Hijacked"))},
    )

    assert response.status_code == 403
    workflow.refresh_from_db()
    assert workflow.name == "Greeter"


# -- run now ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_now_starts_a_manual_run_with_the_json_input(staff, workflow):
    client = staff(VIEW, EXECUTE, VIEW_EXECUTION)
    page = client.get(url(Workflow, "change", workflow.pk))
    run_url = url(Workflow, "run", workflow.pk)
    assert f'href="{run_url}"' in page.content.decode()
    assert client.get(run_url).status_code == 200

    response = client.post(run_url, {"input_data": '{"invoice": {"id": 42}}'})

    execution = Execution.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(Execution, "change", execution.pk)
    assert execution.workflow == workflow
    assert execution.trigger_type == "manual"
    assert execution.mode == "live"
    assert execution.trigger_data == {"invoice": {"id": 42}}


@pytest.mark.django_db
def test_run_now_offers_the_trigger_events_sample_as_input(staff, make_workflow):
    workflow = make_workflow(
        end_definition("On invoices", trigger={"type": "event", "event": "invoice.created"})
    )

    form = staff(VIEW, EXECUTE).get(url(Workflow, "run", workflow.pk)).context["form"]

    sample = json.loads(form["input_data"].value())
    assert sample["event"] == "invoice.created"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "input data must be a JSON object"),
        ('"just text"', "input data must be a JSON object"),
        ("{oops", "This is not valid JSON"),
    ],
)
@pytest.mark.django_db
def test_run_now_refuses_input_that_is_not_a_json_object(staff, workflow, text, message):
    response = staff(VIEW, EXECUTE).post(url(Workflow, "run", workflow.pk), {"input_data": text})

    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors["input_data"])
    assert not Execution.objects.exists()


@pytest.mark.django_db
def test_an_archived_workflow_does_not_run(staff, make_workflow):
    archived = make_workflow(end_definition("Old"), status="archived")
    client = staff(VIEW, EXECUTE)

    page = client.get(url(Workflow, "change", archived.pk)).content.decode()
    response = client.post(url(Workflow, "run", archived.pk), {"input_data": "{}"})

    assert url(Workflow, "run", archived.pk) not in page
    assert "is archived" in response.context["form"].errors["input_data"][0]
    assert not Execution.objects.exists()


@pytest.mark.django_db
def test_run_now_needs_the_execute_permission(staff, workflow):
    client = staff(VIEW, CHANGE)

    page = client.get(url(Workflow, "change", workflow.pk)).content.decode()

    assert url(Workflow, "run", workflow.pk) not in page
    assert client.get(url(Workflow, "run", workflow.pk)).status_code == 403
    assert client.post(url(Workflow, "run", workflow.pk), {"input_data": "{}"}).status_code == 403
    assert not Execution.objects.exists()


@pytest.mark.django_db
def test_without_the_execution_page_a_run_returns_to_the_workflow(staff, workflow):
    response = staff(VIEW, EXECUTE).post(url(Workflow, "run", workflow.pk), {"input_data": "{}"})

    assert response["Location"] == url(Workflow, "change", workflow.pk)


@pytest.mark.django_db
def test_custom_pages_need_a_workflow_that_exists_and_a_staff_login(staff, client, workflow):
    assert staff(VIEW, EXECUTE).get(url(Workflow, "run", 999999)).status_code == 404
    response = client.get(url(Workflow, "versions", workflow.pk))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert staff().get(url(Workflow, "versions", workflow.pk)).status_code == 403


# -- versions ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_version_history_lists_versions_and_restores_one_as_a_new_version(staff, workflow):
    client = staff(VIEW, CHANGE)
    workflow.save_definition(end_definition("Second"), user=client.user)
    versions_url = url(Workflow, "versions", workflow.pk)

    page = client.get(versions_url)

    assert page.status_code == 200
    html = page.content.decode()
    assert re.findall(r'<tr class="version" data-number="(\d+)">', html) == ["2", "1"]
    assert client.user.username in html
    assert html.count('name="number"') == 1  # the current version has no restore button

    response = client.post(versions_url, {"number": "1"}, follow=True)

    workflow.refresh_from_db()
    assert workflow.current_version.number == 3
    assert workflow.current_version.created_by == client.user
    assert workflow.name == "Greeter"
    assert workflow.current_version.definition == workflow.versions.get(number=1).definition
    assert "Version 1 restored as version 3." in messages_of(response)


@pytest.mark.django_db
def test_restoring_needs_change_permission(staff, workflow):
    workflow.save_definition(end_definition("Second"))
    client = staff(VIEW)
    versions_url = url(Workflow, "versions", workflow.pk)

    assert 'name="number"' not in client.get(versions_url).content.decode()
    assert client.post(versions_url, {"number": "1"}).status_code == 403
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2


@pytest.mark.django_db
def test_restoring_a_version_that_does_not_exist_says_so(staff, workflow):
    response = staff(VIEW, CHANGE).post(
        url(Workflow, "versions", workflow.pk), {"number": "7"}, follow=True
    )

    assert "There is no version 7." in messages_of(response)
    assert workflow.versions.count() == 1


# -- export -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_export_button_downloads_the_definition(staff, workflow):
    client = staff(VIEW)
    page = client.get(url(Workflow, "change", workflow.pk)).content.decode()
    export_url = url(Workflow, "export", workflow.pk)
    assert f'href="{export_url}"' in page

    response = client.get(export_url)

    assert f'filename="{workflow.public_id}.json"' in response["Content-Disposition"]
    assert json.loads(response.content) == workflow.definition


# -- the runs chart --------------------------------------------------------------------------


def add_run(workflow, status, days_ago, mode="live"):
    Execution.objects.create(
        workflow=workflow,
        version=workflow.current_version,
        status=status,
        mode=mode,
        created_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.mark.django_db
def test_the_change_page_draws_a_bar_per_day_with_runs(staff, workflow):
    for status in ("completed", "completed", "completed", "failed"):
        add_run(workflow, status, days_ago=0)
    add_run(workflow, "failed", days_ago=3)
    add_run(workflow, "completed", days_ago=12)
    add_run(workflow, "running", days_ago=12)
    add_run(workflow, "completed", days_ago=40)  # outside the 30 days
    add_run(workflow, "completed", days_ago=5, mode="test")  # a try-out, not a run

    html = staff(VIEW).get(url(Workflow, "change", workflow.pk)).content.decode()

    svg = re.search(r"<svg [^>]*role=\"img\".*?</svg>", html, re.S).group(0)
    assert 'aria-labelledby="runs-chart-title runs-chart-desc"' in svg
    bars = re.findall(r'<rect class="bar" .*?</rect>', svg, re.S)
    assert len(bars) == 3
    today, three_days_ago, twelve_days_ago = bars[2], bars[1], bars[0]
    assert "4 runs, 75% succeeded" in today
    assert 'height="120.0"' in today  # the busiest day is full height
    assert 'fill="#f9a825"' in today  # 75%: amber
    assert "1 run, 0% succeeded" in three_days_ago
    assert 'height="30.0"' in three_days_ago  # a quarter of the busiest day's runs
    assert 'fill="#c62828"' in three_days_ago
    assert "2 runs, 100% succeeded" in twelve_days_ago
    assert "7 runs in the last 30 days; 66.7% of the finished ones succeeded." in svg


@pytest.mark.django_db
def test_a_workflow_without_runs_gets_an_empty_chart(staff, workflow):
    html = staff(VIEW).get(url(Workflow, "change", workflow.pk)).content.decode()

    assert "No runs in the last 30 days." in html
    assert '<rect class="bar"' not in html


# -- delete ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_workflow_without_runs_can_be_deleted_one_with_history_is_archived_instead(
    staff, workflow, make_workflow
):
    tried_out = make_workflow(end_definition("Never ran"))
    add_run(workflow, "completed", days_ago=1)
    client = staff(VIEW, "workflows.delete_workflow")

    refused = client.post(url(Workflow, "delete", workflow.pk), {"post": "yes"})
    client.post(url(Workflow, "delete", tried_out.pk), {"post": "yes"})

    # Runs are history, which nobody deletes in the admin (see ExecutionAdmin).
    assert "Cannot delete workflow" in refused.content.decode()
    assert set(Workflow.objects.all()) == {workflow}
