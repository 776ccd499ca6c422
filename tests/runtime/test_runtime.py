"""The product as it runs for real, in both modes: delays resume, a killed worker loses
nothing, and live logs reach a websocket client step by step."""

import json

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from crm.models import Lead
from tests.support.definitions import chain, definition, edge
from workflows.models import Execution, StepRun
from workflows.services import start_execution

from .harness import wait_for

pytestmark = pytest.mark.slow


def create_lead(node_id, name, email):
    return {
        "id": node_id,
        "type": "action",
        "action": "create_record",
        "config": {"entity": "leads", "values": {"name": name, "email": email}},
    }


def people_loop(seconds):
    return definition(
        [
            {
                "id": "each",
                "type": "loop",
                "collection": "{{ people }}",
                "item_variable": "person",
                "body": ["pause", "create"],
            },
            {"id": "pause", "type": "delay", "duration": {"seconds": seconds}},
            create_lead("create", "{{ person.name }}", "{{ person.email }}"),
        ],
        [*chain("each"), edge("each", "pause"), edge("pause", "create")],
    )


def people(count):
    return [{"name": f"Person {i}", "email": f"p{i}@example.com"} for i in range(count)]


def status_of(execution):
    return Execution.objects.values_list("status", flat=True).get(pk=execution.pk)


def test_a_delay_parks_the_run_and_beat_resumes_it(product, make_workflow):
    workflow = make_workflow(
        definition(
            [
                {"id": "wait", "type": "delay", "duration": {"seconds": 3}},
                create_lead("create", "After the wait", "late@example.com"),
            ],
            chain("wait", "create"),
        )
    )
    execution = start_execution(workflow)
    wait_for(lambda: status_of(execution) == "waiting", 20, message="the run to park")
    assert not Lead.objects.exists()
    wait_for(lambda: status_of(execution) == "completed", 30, message="the run to resume")
    execution.refresh_from_db()
    assert Lead.objects.filter(email="late@example.com").count() == 1
    create = execution.steps.get(node_id="create")
    assert (create.started_at - execution.started_at).total_seconds() >= 3


def test_a_killed_worker_loses_no_run_and_repeats_no_step(product, make_workflow):
    workflow = make_workflow(people_loop(0.25))
    execution = start_execution(workflow, trigger_data={"people": people(24)})
    wait_for(
        lambda: StepRun.objects.filter(execution=execution, node_id="create").count() >= 4,
        30,
        message="the run to get going",
    )
    # SIGKILL: no chance to clean up, exactly as a crashed machine.
    process = "worker" if product.mode == "distributed" else "web"
    product.kill(process)
    assert status_of(execution) == "running"
    product.start(process)
    wait_for(lambda: status_of(execution) == "completed", 90, message="the run to finish")

    succeeded = list(
        StepRun.objects.filter(execution=execution, status="succeeded").values_list(
            "path", flat=True
        )
    )
    assert len(succeeded) == len(set(succeeded)), "a completed step ran twice"
    assert len([p for p in succeeded if p.endswith("/create")]) == 24
    assert Lead.objects.count() == 24
    assert Lead.objects.values("email").distinct().count() == 24


@pytest.fixture
def staff_cookie(db):
    user = User.objects.create_user("watcher", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_workflow"))
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def frames_until_finished(url, cookie, origin, timeout=60):
    frames = []
    with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as socket:
        while True:
            frame = json.loads(socket.recv(timeout=timeout))
            frames.append(frame)
            if frame["event"] == "execution" and frame["status"] in ("completed", "failed"):
                return frames


def test_a_websocket_client_receives_every_step_in_order(product, make_workflow, staff_cookie):
    workflow = make_workflow(people_loop(0.05))
    execution = start_execution(workflow, trigger_data={"people": people(6)})
    url = f"ws://127.0.0.1:{product.ws_port}/ws/executions/{execution.public_id}/"
    frames = frames_until_finished(url, staff_cookie, product.url)

    received = [f["step"]["id"] for f in frames if f["event"] == "step"]
    recorded = list(
        StepRun.objects.filter(execution=execution).order_by("id").values_list("id", flat=True)
    )
    assert received == recorded
    assert frames[-1]["status"] == "completed"
    # Each frame carries what the live log shows.
    first = next(f for f in frames if f["event"] == "step")
    assert first["execution"] == execution.public_id
    assert first["step"]["node"] == "each"


def test_the_live_log_refuses_anonymous_and_non_staff_users(product, make_workflow, db):
    workflow = make_workflow(definition([], []))
    url = f"ws://127.0.0.1:{product.ws_port}/ws/workflows/{workflow.public_id}/"
    outsider = User.objects.create_user("outsider", password="x")
    client = Client()
    client.force_login(outsider)
    for cookie in ("", f"sessionid={client.cookies['sessionid'].value}"):
        # Closed before the handshake completes: the upgrade is answered 403.
        with pytest.raises(InvalidStatus) as refused:
            connect(url, additional_headers={"Cookie": cookie, "Origin": product.url})
        assert refused.value.response.status_code == 403
