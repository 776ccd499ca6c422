"""The catalog the builder is served, and the registry's refusals."""

import json

import pytest
from jsonschema import Draft202012Validator

from actions.catalog import NODE_COLORS, catalog
from actions.registry import ActionRegistry, ActionRegistryError, ActionType, registry
from triggers.catalog import all_events
from workflows.conditions import OPERATORS
from workflows.validation.action_nodes import ConfigValidator
from workflows.validation.structure import NODE_TYPES

# Action types of this package that must ship examples (the others' owners add theirs).
WITH_EXAMPLES = ["http_request", "zapier_event"]


@pytest.fixture(scope="module")
def served():
    return catalog()


def test_the_catalog_is_json(served):
    assert json.loads(json.dumps(served)) == served


def test_every_registered_action_appears_with_its_schema(served):
    listed = {entry["key"]: entry for entry in served["actions"]}
    assert set(listed) == {action.key for action in registry}
    for key, entry in listed.items():
        Draft202012Validator.check_schema(entry["config_schema"])
        assert entry["config_schema"]["type"] == "object", key
        assert entry["label"], key
        assert entry["description"], key
        assert entry["category"] in ("communication", "data", "integration"), key
        assert {"icon", "color", "outputs", "retry", "examples"} <= set(entry), key


@pytest.mark.parametrize("action", sorted(registry, key=lambda a: a.key), ids=lambda a: a.key)
def test_examples_validate_against_their_own_schema(action):
    # With the rule a saved workflow is checked by: jsonschema, where a string that is one
    # `{{ }}` expression stands for whatever type it will resolve to.
    validator = ConfigValidator(action.config_schema)
    for example in action.examples:
        errors = [error.message for error in validator.iter_errors(example)]
        assert errors == [], f"{action.key}: {example}"


@pytest.mark.parametrize("key", WITH_EXAMPLES)
def test_integration_actions_ship_examples(key):
    action = registry.get(key)
    assert action.examples
    # Their `{{ }}` stand only in templated string fields, so plain jsonschema agrees.
    validator = Draft202012Validator(action.config_schema)
    assert [e.message for example in action.examples for e in validator.iter_errors(example)] == []


def test_templated_fields_are_marked(served):
    http = next(entry for entry in served["actions"] if entry["key"] == "http_request")
    templated = {
        name
        for name, field in http["config_schema"]["properties"].items()
        if field.get("templated")
    }
    assert templated == {"url", "headers", "query", "body"}


def test_node_types_with_their_colours(served):
    kinds = [entry["type"] for entry in served["node_types"]]
    assert kinds == ["trigger", *NODE_TYPES]
    colours = {entry["type"]: entry["color"] for entry in served["node_types"]}
    assert colours == NODE_COLORS
    # The canvas convention: trigger green, action blue, condition yellow, end red.
    assert colours["trigger"] == "#16a34a"
    assert colours["action"] == "#2563eb"
    assert colours["condition"] == "#eab308"
    assert colours["end"] == "#dc2626"
    assert all(entry["label"] and entry["description"] for entry in served["node_types"])


def test_operators(served):
    assert {op["name"]: op["description"] for op in served["operators"]} == OPERATORS


def test_trigger_types(served):
    assert [t["type"] for t in served["trigger_types"]] == [
        "manual",
        "event",
        "schedule",
        "webhook",
    ]


def test_events_with_payload_shapes_and_samples(served):
    events = {event["name"]: event for event in served["events"]}
    assert set(events) == set(all_events())
    overdue = events["invoice.overdue"]
    assert overdue["record"] == "invoice"
    assert "invoice" in overdue["payload_shape"]
    assert overdue["sample_payload"]["event"] == "invoice.overdue"


# -- the registry ---------------------------------------------------------------------------


class Ping(ActionType):
    key = "ping"
    label = "Ping"


def test_an_unknown_action_is_a_clear_error():
    fresh = ActionRegistry()
    fresh.register(Ping)
    with pytest.raises(ActionRegistryError, match=r"unknown action 'pong' \(known: ping\)"):
        fresh.get("pong")


def test_a_duplicate_registration_is_refused():
    fresh = ActionRegistry()
    fresh.register(Ping)

    class AnotherPing(ActionType):
        key = "ping"

    with pytest.raises(ActionRegistryError, match="'ping' is already registered by Ping"):
        fresh.register(AnotherPing)


def test_an_action_without_a_key_is_refused():
    class Nameless(ActionType):
        pass

    with pytest.raises(ActionRegistryError, match="Nameless declares no key"):
        ActionRegistry().register(Nameless)


def test_describe_carries_the_examples():
    class Documented(ActionType):
        key = "documented"
        examples = [{"a": 1}]

    assert Documented().describe()["examples"] == [{"a": 1}]
