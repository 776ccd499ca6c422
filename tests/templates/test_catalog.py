"""The eight starter templates as a catalog: each one valid without a single warning, drawable,
sending only email templates that exist with the variables they use, and instantiable into a
fresh draft workflow."""

import json

import pytest
from django.contrib.auth.models import User

from actions.models import EmailTemplate
from workflows import starters
from workflows.models import Workflow
from workflows.validation import validate_definition
from workflows.variables import parse

pytestmark = pytest.mark.django_db

EXPECTED = {
    # key: (trigger type, event or schedule)
    "invoice_reminder": ("schedule", {"cron": "0 9 * * *"}),
    "welcome_email_sequence": ("event", "customer.created"),
    "payment_thank_you": ("event", "payment.received"),
    "project_status_update": ("event", "project.status_changed"),
    "ticket_escalation": ("schedule", {"interval": {"every": 15, "unit": "minutes"}}),
    "weekly_report": ("schedule", {"cron": "0 9 * * 1"}),
    "lead_qualification": ("event", "lead.created"),
    "contract_renewal": ("event", "contract.expiring"),
}
KEYS = list(EXPECTED)


def test_the_catalog_lists_the_seeds_eight_templates_in_its_order():
    templates = starters.all_templates()
    assert [t["key"] for t in templates] == KEYS
    files = sorted(path.stem for path in starters.DIRECTORY.glob("*.json"))
    assert files == sorted(KEYS)  # no template without a file, no file left out
    for template in templates:
        assert set(template) == {"key", "name", "description", "trigger_type", "definition"}
        definition = template["definition"]
        assert template["name"] == definition["name"]
        assert template["description"] == definition["description"]
        assert template["description"]
        assert template["trigger_type"] == definition["trigger"]["type"]
        assert not {"id", "version", "status"} & set(definition)


@pytest.mark.parametrize("key", KEYS)
def test_each_template_is_valid_without_warnings(key):
    definition = starters.get_template(key)["definition"]
    result = validate_definition(definition)
    assert (result.errors, result.warnings) == ([], [])
    kind, what = EXPECTED[key]
    trigger = definition["trigger"]
    assert trigger["type"] == kind
    assert (trigger["event"] if kind == "event" else trigger["config"]) == what


@pytest.mark.parametrize("key", KEYS)
def test_each_node_has_a_place_on_the_canvas(key):
    nodes = starters.get_template(key)["definition"]["nodes"]
    places = [(node["ui"]["x"], node["ui"]["y"]) for node in nodes]
    assert all(isinstance(c, int | float) for place in places for c in place)
    assert len(set(places)) == len(places), "two nodes drawn on top of each other"


@pytest.mark.parametrize("key", KEYS)
def test_each_email_it_sends_has_its_template_and_every_variable(key):
    sends = [
        node
        for node in starters.get_template(key)["definition"]["nodes"]
        if node.get("action") == "send_email"
    ]
    for node in sends:
        config = node["config"]
        template = EmailTemplate.objects.get(key=config["template"])  # shipped by a migration
        used = set()
        for text in (template.subject, template.text_body, template.html_body):
            used |= {expression.root for expression in parse(text).expressions}
        given = set(config["variables"])
        assert used <= given, f"{node['id']}: {used - given} not given"
        assert set(template.variables) <= given | used


@pytest.mark.parametrize("key", KEYS)
def test_instantiating_makes_a_draft_with_a_fresh_id(key):
    owner = User.objects.create_user("ops")
    first = starters.instantiate(key, user=owner)
    second = starters.instantiate(key, name="My copy")

    for workflow in (first, second):
        workflow.refresh_from_db()
        assert workflow.status == Workflow.Status.DRAFT
        assert workflow.public_id.startswith("wf_")
        assert workflow.current_version.number == 1
        assert workflow.versions.count() == 1
        assert workflow.trigger_type == EXPECTED[key][0]
    assert first.public_id != second.public_id
    assert (first.owner, first.current_version.created_by) == (owner, owner)
    template = starters.get_template(key)
    assert first.name == template["name"]
    assert first.description == template["description"]
    assert second.name == "My copy"
    stored = first.current_version.definition
    assert stored == template["definition"]
    assert {**stored, "name": "My copy"} == second.current_version.definition


def test_an_unknown_key_names_the_known_ones():
    with pytest.raises(starters.UnknownTemplate) as excinfo:
        starters.get_template("invoice_reminders")
    assert isinstance(excinfo.value, LookupError)
    message = str(excinfo.value)
    assert message.startswith("unknown workflow template 'invoice_reminders' (known: ")
    assert all(key in message for key in KEYS)
    with pytest.raises(starters.UnknownTemplate):
        starters.instantiate("nope")
    assert not Workflow.objects.exists()


def test_callers_get_copies_they_may_change():
    mine = starters.get_template("weekly_report")
    mine["definition"]["nodes"].clear()
    mine["name"] = "changed"
    starters.all_templates()[0]["definition"]["trigger"]["config"]["cron"] = "* * * * *"
    assert starters.get_template("weekly_report")["definition"]["nodes"]
    assert starters.get_template("weekly_report")["name"] == "Weekly Report"
    assert starters.get_template("invoice_reminder")["definition"]["trigger"] == {
        "type": "schedule",
        "config": {"cron": "0 9 * * *"},
    }


def test_the_files_are_valid_json_objects_with_the_documented_keys():
    for key in KEYS:
        raw = json.loads((starters.DIRECTORY / f"{key}.json").read_text())
        assert {"name", "description", "trigger", "nodes", "edges"} <= set(raw)
        assert "id" not in raw  # each instantiation gets its own


@pytest.mark.django_db
def test_load_starters_creates_each_template_once():
    from django.core.management import call_command

    from workflows.models import Workflow
    from workflows.starters import KEYS

    call_command("load_starters")
    call_command("load_starters")
    assert Workflow.objects.count() == len(KEYS)
    assert set(Workflow.objects.values_list("status", flat=True)) == {"draft"}
