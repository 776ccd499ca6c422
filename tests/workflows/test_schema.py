"""The JSON Schema document: valid itself, and in step with the code that reads definitions."""

import json

import pytest
from django.conf import settings
from jsonschema import Draft202012Validator

from actions.registry import DEFAULT_RETRY
from workflows import conditions
from workflows.engine.nodes import HANDLERS
from workflows.validation import SCHEMA, definition_validator
from workflows.validation.structure import SCHEMA_FILE

DEFS = SCHEMA["$defs"]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)


def test_the_schema_is_the_shipped_file_loaded_once():
    assert json.loads(SCHEMA_FILE.read_text()) == SCHEMA
    assert definition_validator() is definition_validator()


@pytest.mark.parametrize(
    ("documented", "in_code"),
    [
        (DEFS["node"]["properties"]["type"]["enum"], sorted(HANDLERS)),
        (DEFS["conditionLeaf"]["properties"]["operator"]["enum"], list(conditions.OPERATORS)),
        (DEFS["conditionGroup"]["properties"]["type"]["enum"], list(conditions.LOGICAL_TYPES)),
        (list(DEFS["retryPolicy"]["properties"]), list(DEFAULT_RETRY)),
        (list(DEFS["settings"]["properties"]), list(settings.WORKFLOW_LIMITS)),
    ],
    ids=["node types", "operators", "logical types", "retry policy", "run limits"],
)
def test_the_schema_documents_what_the_code_reads(documented, in_code):
    assert sorted(documented) == sorted(in_code)


def test_every_node_type_has_its_own_definition():
    for kind in DEFS["node"]["properties"]["type"]["enum"]:
        assert DEFS[f"{kind}Node"]["title"]


def _properties(schema, where=""):
    """(where, name, property schema) for every property in the document."""
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            yield f"{where}.{name}", name, prop
        for key, value in schema.items():
            yield from _properties(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _properties(value, f"{where}[{index}]")


def test_every_property_has_a_title_for_the_builder():
    # A $ref brings the title of its definition; a bare `const` is a type discriminator.
    untitled = [
        where
        for where, _name, prop in _properties(SCHEMA)
        if not {"title", "$ref", "const"} & set(prop)
    ]

    assert untitled == []
