"""The catalog, the starter templates, and connections with write-only secrets."""

import pytest
from django.db import connection as db_connection

from actions.catalog import catalog
from actions.models import Connection
from workflows import starters
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


# -- catalog -----------------------------------------------------------------------------------


def test_catalog_is_served_whole(api):
    response = api.get("/api/catalog")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"node_types", "trigger_types", "actions", "operators", "events"}
    assert body == catalog()
    assert "send_email" in {action["key"] for action in body["actions"]}


# -- templates ---------------------------------------------------------------------------------


def test_templates_in_the_seed_order(api):
    response = api.get("/api/templates")

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["page"]) == (len(starters.KEYS), 1)
    assert [t["key"] for t in body["templates"]] == list(starters.KEYS)
    assert body["templates"] == starters.all_templates()
    assert set(body["templates"][0]) == {"key", "name", "description", "trigger_type", "definition"}


def test_templates_paginate(api):
    body = api.get("/api/templates?page=2&page_size=3").json()
    assert [t["key"] for t in body["templates"]] == list(starters.KEYS[3:6])
    assert (body["total"], body["page"]) == (len(starters.KEYS), 2)


def test_instantiate_makes_a_draft_workflow(api, admin_user):
    response = api.post(
        "/api/templates/weekly_report/instantiate", {"name": "Monday numbers"}, format="json"
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["status"], body["version"]) == ("Monday numbers", "draft", 1)
    workflow = Workflow.objects.get(public_id=body["id"])
    assert workflow.owner == admin_user
    assert body["trigger_type"] == starters.get_template("weekly_report")["trigger_type"]


def test_instantiate_keeps_the_template_name_by_default(api):
    response = api.post("/api/templates/invoice_reminder/instantiate/")
    assert response.status_code == 201
    assert response.json()["name"] == starters.get_template("invoice_reminder")["name"]


def test_instantiate_an_unknown_template_is_404(api):
    response = api.post("/api/templates/nope/instantiate")

    assert response.status_code == 404
    assert response.json()["detail"].startswith("unknown workflow template 'nope'")
    assert not Workflow.objects.exists()


# -- connections -------------------------------------------------------------------------------

TWILIO = {
    "name": "Twilio main",
    "provider": "twilio",
    "config": {"account_sid": "AC123"},
    "secrets": {"auth_token": "tok-very-secret", "api_key": "key-very-secret"},
}


def assert_no_secret_in(response):
    text = response.content.decode()
    assert "very-secret" not in text


def test_create_connection_keeps_secrets_and_never_shows_them(api, admin_user):
    response = api.post("/api/connections", TWILIO, format="json")

    assert response.status_code == 201
    assert_no_secret_in(response)
    body = response.json()
    assert {key: body[key] for key in ("name", "provider", "config", "secrets_set")} == {
        "name": "Twilio main",
        "provider": "twilio",
        "config": {"account_sid": "AC123"},
        "secrets_set": ["api_key", "auth_token"],
    }
    assert "secrets" not in body
    stored = Connection.objects.get(pk=body["id"])
    assert stored.secrets == TWILIO["secrets"]
    assert stored.created_by == admin_user
    with db_connection.cursor() as cursor:  # the column itself, not the decrypting field
        cursor.execute("SELECT secret_data FROM actions_connection")
        (raw,) = cursor.fetchone()
    assert "very-secret" not in raw


def test_list_and_read_connections_without_secrets(api):
    created = api.post("/api/connections", TWILIO, format="json").json()

    listing = api.get("/api/connections")
    one = api.get(f"/api/connections/{created['id']}")

    assert listing.status_code == one.status_code == 200
    assert_no_secret_in(listing)
    assert_no_secret_in(one)
    assert listing.json() == {"connections": [one.json()], "total": 1, "page": 1}


def test_update_merges_secrets_and_null_removes_one(api):
    created = api.post("/api/connections", TWILIO, format="json").json()
    url = f"/api/connections/{created['id']}"

    patched = api.patch(
        url, {"secrets": {"auth_token": "tok-new-very-secret", "api_key": None}}, format="json"
    )

    assert patched.status_code == 200
    assert patched.json()["secrets_set"] == ["auth_token"]
    assert Connection.objects.get().secrets == {"auth_token": "tok-new-very-secret"}

    put = api.put(
        url,
        {"name": "Twilio", "provider": "twilio", "config": {"account_sid": "AC9"}},
        format="json",
    )

    assert put.status_code == 200
    assert (put.json()["name"], put.json()["secrets_set"]) == ("Twilio", ["auth_token"])
    assert_no_secret_in(put)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**TWILIO, "provider": "carrier-pigeon"}, "provider"),
        ({**TWILIO, "config": ["not", "an", "object"]}, "config"),
        ({**TWILIO, "secrets": {"auth_token": {"nested": "object"}}}, "secrets"),
        ({**TWILIO, "secrets": ["auth_token"]}, "secrets"),
        ({key: value for key, value in TWILIO.items() if key != "name"}, "name"),
    ],
)
def test_invalid_connections_are_400(api, body, field):
    response = api.post("/api/connections", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_duplicate_connection_name_is_400(api):
    api.post("/api/connections", TWILIO, format="json")
    response = api.post("/api/connections", TWILIO, format="json")
    assert response.status_code == 400
    assert "name" in response.json()


def test_delete_connection(api):
    created = api.post("/api/connections", TWILIO, format="json").json()

    response = api.delete(f"/api/connections/{created['id']}/")

    assert response.status_code == 204
    assert not Connection.objects.exists()
    assert api.get(f"/api/connections/{created['id']}").status_code == 404


def test_update_a_connection_that_has_no_secrets(api):
    # Made elsewhere (the admin, a migration) with nothing secret stored.
    connection = Connection.objects.create(name="Plain", provider="http")

    response = api.patch(f"/api/connections/{connection.pk}", {"config": {"a": 1}}, format="json")

    assert response.status_code == 200
    assert response.json()["secrets_set"] == []
    assert Connection.objects.get().config == {"a": 1}
