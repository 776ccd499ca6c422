"""Executions in the admin: read-only history with its steps, filters, retry and cancel."""

import re

import pytest

from tests.admin.support import messages_of, offered_actions, post_action, url
from tests.support.definitions import chain, definition, probe
from workflows.models import Execution, StepRun
from workflows.services import start_execution

VIEW = "workflows.view_execution"
CHANGE = "workflows.change_execution"
EXECUTE = "workflows.execute_workflow"

TWO_STEPS = definition(
    [probe("fetch", value={"amount": 125}), probe("notify", value="sent")],
    chain("fetch", "notify"),
    name="Two steps",
)


@pytest.fixture(autouse=True)
def _probes(probe_actions):
    return probe_actions


@pytest.fixture
def failed_run(make_workflow, probe_actions):
    """A live run whose second step failed once (and would succeed if tried again)."""
    probe_actions.failures["notify"] = 1
    execution = start_execution(make_workflow(TWO_STEPS), trigger_data={"invoice": 7}, inline=True)
    execution.refresh_from_db()
    assert execution.status == "failed"
    return execution


@pytest.fixture
def waiting_run(make_workflow):
    body = definition(
        [{"id": "pause", "type": "delay", "duration": {"days": 3}}, probe("later")],
        chain("pause", "later"),
        name="Waits",
    )
    execution = start_execution(make_workflow(body), inline=True)
    execution.refresh_from_db()
    assert execution.status == "waiting"
    return execution


@pytest.mark.django_db
def test_the_list_shows_status_mode_trigger_times_duration_and_steps(staff, failed_run):
    response = staff(VIEW).get(url(Execution, "changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert failed_run.public_id in html
    assert '<td class="field-steps">1 / 2</td>' in html
    assert '<td class="field-mode">Live</td>' in html
    assert '<td class="field-trigger_type">manual</td>' in html
    assert f'<td class="field-duration">{failed_run.duration_ms}</td>' in html


@pytest.mark.django_db
def test_the_list_filters_by_status_mode_trigger_workflow_and_date(staff, failed_run, waiting_run):
    client = staff(VIEW)
    changelist = url(Execution, "changelist")
    today = failed_run.created_at

    def listed(**params):
        response = client.get(changelist, params)
        assert response.status_code == 200
        return {run.public_id for run in response.context["cl"].result_list}

    both = {failed_run.public_id, waiting_run.public_id}
    assert listed(status__exact="failed") == {failed_run.public_id}
    assert listed(mode__exact="test") == set()
    assert listed(trigger_type__exact="manual") == both
    assert listed(workflow__id__exact=waiting_run.workflow_id) == {waiting_run.public_id}
    assert listed(created_at__year=today.year, created_at__month=today.month) == both
    assert listed(q=failed_run.public_id) == {failed_run.public_id}


@pytest.mark.django_db
def test_the_page_of_a_run_is_read_only_with_every_step_inline(staff, failed_run):
    client = staff(VIEW, CHANGE)

    response = client.get(url(Execution, "change", failed_run.pk))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert "<textarea" not in html
    # The steps: node, path, attempt, status, input, output, error, duration.
    steps = re.findall(r'<tr class="form-row[^"]*"[^>]*>.*?</tr>', html, re.S)
    assert len(steps) == failed_run.steps.count() == 2
    fetch, notify = steps
    assert "fetch" in fetch
    assert "succeeded" in fetch
    assert "&quot;amount&quot;: 125" in fetch  # output, pretty JSON
    assert "notify" in notify
    assert "failed" in notify
    assert "probe notify failing on purpose" in notify
    # Nothing can be changed: a POST is refused.
    assert client.post(url(Execution, "change", failed_run.pk), {}).status_code == 403


@pytest.mark.django_db
def test_history_is_never_added_or_deleted(staff, failed_run):
    client = staff(VIEW, CHANGE, "workflows.add_execution", "workflows.delete_execution")

    assert client.get(url(Execution, "add")).status_code == 403
    assert client.get(url(Execution, "delete", failed_run.pk)).status_code == 403
    assert "delete_selected" not in offered_actions(client, Execution)


@pytest.mark.django_db
def test_steps_are_visible_with_the_execution_permission_alone(staff, failed_run):
    response = staff(VIEW).get(url(Execution, "change", failed_run.pk))

    assert "probe notify failing on purpose" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_retry_resumes_a_failed_run_from_its_failed_step(staff, failed_run, probe_actions):
    client = staff(VIEW, CHANGE, EXECUTE)
    calls_before = len(probe_actions.calls)

    response = post_action(client, Execution, "retry", [failed_run])

    assert "1 execution(s) retried." in messages_of(response)
    failed_run.refresh_from_db()
    assert failed_run.status == "completed"
    # Only the failed step ran again, as its second attempt.
    assert [(c["tag"], c["attempt"]) for c in probe_actions.calls[calls_before:]] == [("notify", 2)]
    assert StepRun.objects.filter(execution=failed_run, node_id="notify").count() == 2


@pytest.mark.django_db
def test_retrying_a_run_that_did_not_fail_is_refused_with_the_reason(staff, waiting_run):
    response = post_action(staff(VIEW, CHANGE, EXECUTE), Execution, "retry", [waiting_run])

    [text] = messages_of(response)
    assert f"{waiting_run.public_id} was not retried" in text
    assert "only a failed execution can be retried" in text
    waiting_run.refresh_from_db()
    assert waiting_run.status == "waiting"


@pytest.mark.django_db
def test_retry_needs_the_execute_permission_too(staff, failed_run):
    client = staff(VIEW, CHANGE)

    assert offered_actions(client, Execution) == {"cancel"}
    post_action(client, Execution, "retry", [failed_run])
    failed_run.refresh_from_db()
    assert failed_run.status == "failed"


@pytest.mark.django_db
def test_cancel_stops_a_waiting_run_and_reports_finished_ones(staff, waiting_run, failed_run):
    client = staff(VIEW, CHANGE)

    response = post_action(client, Execution, "cancel", [waiting_run, failed_run])

    waiting_run.refresh_from_db()
    assert waiting_run.status == "cancelled"
    assert waiting_run.error["message"] == f"cancelled in the admin by {client.user}"
    texts = messages_of(response)
    assert "1 execution(s) cancelled." in texts
    assert any(f"{failed_run.public_id} was not cancelled" in t and "finished" in t for t in texts)
    failed_run.refresh_from_db()
    assert failed_run.status == "failed"


@pytest.mark.django_db
def test_a_viewer_is_offered_no_action_and_cannot_cancel(staff, waiting_run):
    client = staff(VIEW)

    assert offered_actions(client, Execution) == set()
    post_action(client, Execution, "cancel", [waiting_run])
    waiting_run.refresh_from_db()
    assert waiting_run.status == "waiting"
