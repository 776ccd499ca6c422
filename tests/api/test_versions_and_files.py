"""Version history, export and import, and webhook URLs and secrets over the API."""

import pytest

from tests.support.definitions import chain, definition, probe
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def edited(workflow, admin_user):
    """The probe workflow with a second version: node b renamed to c."""
    workflow.save_definition(
        definition([probe("a"), probe("c")], chain("a", "c"), name="Edited"), user=admin_user
    )
    return workflow


# -- versions ----------------------------------------------------------------------------------


def test_versions_newest_first(api, edited):
    response = api.get(f"/api/workflows/{edited.public_id}/versions")

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"]) == (2, 1)
    assert [(v["number"], v["created_by"]) for v in body["versions"]] == [(2, "root"), (1, None)]
    assert set(body["versions"][0]) == {"number", "created_at", "created_by"}


def test_one_version(api, edited):
    response = api.get(f"/api/workflows/{edited.public_id}/versions/1")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == 1
    assert body["definition"]["name"] == "Probe workflow"
    assert [node["id"] for node in body["definition"]["nodes"]] == ["a", "b"]


@pytest.mark.parametrize("path", ["versions/9", "versions/9/restore"])
def test_an_unknown_version_is_404(api, edited, path):
    method = api.post if path.endswith("restore") else api.get
    response = method(f"/api/workflows/{edited.public_id}/{path}")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such version"}


def test_restore_makes_a_new_version_with_the_old_content(api, edited, admin_user):
    response = api.post(f"/api/workflows/{edited.public_id}/versions/1/restore")

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["name"]) == (3, "Probe workflow")
    assert [node["id"] for node in body["definition"]["nodes"]] == ["a", "b"]
    assert edited.versions.get(number=3).created_by == admin_user
    assert edited.versions.count() == 3


# -- export and import -------------------------------------------------------------------------


def test_export_is_the_definition_file(api, edited):
    response = api.get(f"/api/workflows/{edited.public_id}/export")

    assert response.status_code == 200
    assert response.json() == edited.definition
    assert response["Content-Disposition"] == f'attachment; filename="{edited.public_id}.json"'


def test_import_creates_then_updates(api, seed_definition):
    created = api.post("/api/workflows/import", seed_definition, format="json")

    assert created.status_code == 201
    assert (created.json()["id"], created.json()["status"]) == ("wf_001", "active")

    renamed = {**seed_definition, "name": "Invoice reminders, renamed"}
    updated = api.post("/api/workflows/import/", renamed, format="json")

    assert updated.status_code == 200
    assert (updated.json()["name"], updated.json()["version"]) == ("Invoice reminders, renamed", 2)
    assert Workflow.objects.count() == 1


def test_export_then_import_round_trips(api, edited):
    exported = api.get(f"/api/workflows/{edited.public_id}/export").json()
    response = api.post("/api/workflows/import", exported, format="json")
    assert (response.status_code, response.json()["version"]) == (200, 2)


def test_import_invalid_is_400(api):
    response = api.post("/api/workflows/import", {"name": "no graph"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Workflow.objects.exists()


def test_import_with_a_status_it_cannot_reach_is_409(api, workflow):
    workflow.change_status("archived")
    body = {**workflow.definition, "status": "active"}

    response = api.post("/api/workflows/import", body, format="json")

    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"cannot make workflow {workflow.public_id} active (it is archived)"
    )


# -- webhook ---------------------------------------------------------------------------------


@pytest.fixture
def hooked(make_workflow, probe_actions):
    return make_workflow(
        definition([probe("a")], chain("a"), name="Hooked", trigger={"type": "webhook"}),
        status="active",
    )


def test_webhook_url(api, hooked):
    response = api.get(f"/api/workflows/{hooked.public_id}/webhook")

    assert response.status_code == 200
    url = response.json()["url"]
    assert url == f"http://testserver/hooks/{hooked.webhook.token}"
    assert set(response.json()) == {"url"}


def test_a_workflow_without_a_webhook_has_no_url(api, workflow):
    response = api.get(f"/api/workflows/{workflow.public_id}/webhook/")
    assert (response.status_code, response.json()) == (200, {"url": None})


def test_rotating_shows_the_secret_once_and_it_signs(api, hooked):
    response = api.post(f"/api/workflows/{hooked.public_id}/webhook")

    assert response.status_code == 200
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    assert response.json()["url"].endswith(hooked.webhook.token)
    assert [s.secret for s in hooked.webhook.secrets.all()] == [secret]
    assert secret not in api.get(f"/api/workflows/{hooked.public_id}/webhook").content.decode()


def test_rotating_can_adopt_the_senders_secret(api, hooked):
    from triggers.webhook_signatures import generate_secret

    mine = generate_secret()
    response = api.post(
        f"/api/workflows/{hooked.public_id}/webhook", {"secret": mine}, format="json"
    )
    assert (response.status_code, response.json()["secret"]) == (200, mine)


@pytest.mark.parametrize(
    ("trigger", "body", "message"),
    [
        ({"type": "manual"}, {}, "is not triggered by a webhook"),
        ({"type": "webhook"}, {"secret": "not-a-secret"}, "not a usable secret"),
    ],
)
def test_rotating_refused_is_400(api, make_workflow, probe_actions, trigger, body, message):
    workflow = make_workflow(definition([probe("a")], chain("a"), trigger=trigger))

    response = api.post(f"/api/workflows/{workflow.public_id}/webhook", body, format="json")

    assert response.status_code == 400
    assert message in response.json()["detail"]
