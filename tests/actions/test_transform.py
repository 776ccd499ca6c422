"""transform: each operation as a table of inputs and outputs, then chaining, errors, the
engine and the catalog entry."""

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from actions.registry import ActionContext, ActionError, registry
from actions.transform import MAX_ITEMS
from tests.support.definitions import echo
from workflows.validation.action_nodes import ConfigValidator
from workflows.variables import render

NEW_YORK = ZoneInfo("America/New_York")
INVOICE = {
    "number": "INV-7",
    "amount": "1250.5",
    "due_date": "2026-11-14",
    "sent_at": "2026-11-02T14:30:00+00:00",
    "customer": {"name": "Acme", "email": "ap@acme.example"},
}
INVOICES = [
    INVOICE,
    {"number": "INV-8", "amount": 99, "due_date": "2026-12-01", "customer": {"name": "Bolt"}},
]


def context(tz=UTC):
    return ActionContext(
        execution=SimpleNamespace(public_id="exe_tf"),
        node_id="tf",
        path="tf",
        attempt=1,
        timezone=tz,
        now=datetime(2026, 11, 26, 9, tzinfo=UTC),
    )


def transform(*operations, tz=UTC):
    return registry.get("transform").run({"operations": list(operations)}, context(tz))


def one(op, **fields):
    """The result of a single operation."""
    return transform({"op": op, "as": "out", **fields})["out"]


# -- each operation -------------------------------------------------------------------------------

CASES = [
    # pick: keys of an object, or of each object of a list; absent keys come out null
    (
        "pick",
        {"value": INVOICE, "fields": ["number", "amount", "paid_at"]},
        {"number": "INV-7", "amount": "1250.5", "paid_at": None},
    ),
    ("pick", {"value": INVOICES, "fields": ["number"]}, [{"number": "INV-7"}, {"number": "INV-8"}]),
    # rename: named keys get new names, the rest stay
    (
        "rename",
        {"value": {"number": "INV-7", "amount": 5}, "fields": {"number": "invoice_number"}},
        {"invoice_number": "INV-7", "amount": 5},
    ),
    (
        "rename",
        {"value": [{"a": 1}, {"a": 2, "b": 3}], "fields": {"a": "x", "missing": "y"}},
        [{"x": 1}, {"x": 2, "b": 3}],
    ),
    # map: each item becomes a new object from paths, formatted or defaulted
    (
        "map",
        {
            "value": INVOICES,
            "fields": {
                "number": "number",
                "who": "customer.name",
                "email": {"path": "customer.email", "default": "(none)"},
                "due": {"path": "due_date", "date": "%d %b %Y"},
                "amount": {"path": "amount", "number": 2},
            },
        },
        [
            {
                "number": "INV-7",
                "who": "Acme",
                "email": "ap@acme.example",
                "due": "14 Nov 2026",
                "amount": "1250.50",
            },
            {
                "number": "INV-8",
                "who": "Bolt",
                "email": "(none)",
                "due": "01 Dec 2026",
                "amount": "99.00",
            },
        ],
    ),
    ("map", {"value": [], "fields": {"n": "number"}}, []),
    ("map", {"value": [{"a": {"b": 1}}, {}], "fields": {"b": "a.b"}}, [{"b": 1}, {"b": None}]),
    # format_date: the date filter's directives
    ("format_date", {"value": "2026-11-14", "format": "%d %B %Y"}, "14 November 2026"),
    (
        "format_date",
        {"value": "2026-11-02T14:30:00Z", "format": "%Y-%m-%d %H:%M"},
        "2026-11-02 14:30",
    ),
    ("format_date", {"value": None, "format": "%Y"}, None),
    # format_number: exact, half up, optional separators
    ("format_number", {"value": "1234567.891", "decimals": 2}, "1234567.89"),
    ("format_number", {"value": "1234567.895", "decimals": 2, "thousands": ","}, "1,234,567.90"),
    (
        "format_number",
        {"value": 1234567.5, "decimals": 2, "thousands": ".", "decimal_point": ","},
        "1.234.567,50",
    ),
    ("format_number", {"value": "-1234.5", "decimals": 0, "thousands": " "}, "-1 235"),
    ("format_number", {"value": "0.1", "decimals": 3}, "0.100"),
    ("format_number", {"value": 999, "thousands": ","}, "999.00"),
    ("format_number", {"value": None}, None),
    # join: items (or a field of each) as text
    ("join", {"value": ["a", "b", "c"]}, "a, b, c"),
    ("join", {"value": INVOICES, "field": "number", "separator": " | "}, "INV-7 | INV-8"),
    ("join", {"value": [1, None, True, "x"], "separator": "-"}, "1-true-x"),
    ("join", {"value": INVOICES, "field": "customer.email"}, "ap@acme.example"),
    # split: trimmed, empty pieces dropped (both optional)
    ("split", {"value": "vip, wholesale,, eu ", "separator": ","}, ["vip", "wholesale", "eu"]),
    (
        "split",
        {"value": "a,,b ", "separator": ",", "trim": False, "skip_empty": False},
        ["a", "", "b "],
    ),
    ("split", {"value": None, "separator": ","}, []),
    ("split", {"value": "a::b", "separator": "::"}, ["a", "b"]),
    # defaults: absent, null and "" are filled; other values stay
    (
        "defaults",
        {
            "value": {"source": "", "score": 0, "owner": None},
            "values": {"source": "web", "score": 5, "owner": "sales", "tier": "b"},
        },
        {"source": "web", "score": 0, "owner": "sales", "tier": "b"},
    ),
    (
        "defaults",
        {"value": [{"a": 1}, {}], "values": {"a": 0}},
        [{"a": 1}, {"a": 0}],
    ),
]


@pytest.mark.parametrize(("op", "fields", "expected"), CASES)
def test_operations(op, fields, expected):
    assert one(op, **fields) == expected


def test_dates_with_an_offset_are_shown_on_the_workflows_clock():
    # 14:30 UTC is 09:30 in New York (EST in November).
    fields = {"value": INVOICE["sent_at"], "format": "%d %b %H:%M"}
    assert one("format_date", **fields) == "02 Nov 14:30"
    assert transform({"op": "format_date", "as": "t", **fields}, tz=NEW_YORK)["t"] == "02 Nov 09:30"


def test_operations_do_not_change_their_input():
    data = {"number": "INV-7"}
    transform(
        {"op": "rename", "value": data, "fields": {"number": "n"}, "as": "a"},
        {"op": "defaults", "value": data, "values": {"x": 1}, "as": "b"},
    )
    assert data == {"number": "INV-7"}


# -- chaining: `from` reads an earlier result -----------------------------------------------------


def test_operations_chain_through_their_results():
    result = transform(
        {"op": "map", "value": INVOICES, "fields": {"n": "number", "c": "customer"}, "as": "rows"},
        {"op": "join", "from": "rows", "field": "n", "as": "numbers"},
        {"op": "pick", "from": "rows[0].c", "fields": ["name"], "as": "first"},
        {"op": "split", "from": "numbers", "separator": ",", "as": "again"},
    )
    assert result["numbers"] == "INV-7, INV-8"
    assert result["first"] == {"name": "Acme"}
    assert result["again"] == ["INV-7", "INV-8"]
    assert set(result) == {"rows", "numbers", "first", "again"}


# -- errors name the operation ------------------------------------------------------------------

ERRORS = [
    ({"op": "explode", "as": "x", "value": 1}, "operations[0]: unknown operation 'explode'"),
    ({"op": "pick", "value": {}, "fields": ["a"]}, "operations[0] (pick): 'as' names the result"),
    ({"op": "pick", "fields": ["a"], "as": "x"}, "give either 'value' or 'from'"),
    ({"op": "pick", "value": {}, "from": "y", "fields": ["a"], "as": "x"}, "give either 'value'"),
    ({"op": "pick", "from": "nope", "fields": ["a"], "as": "x"}, "no earlier operation produced"),
    ({"op": "pick", "value": "text", "fields": ["a"], "as": "x"}, "not a string"),
    (
        {"op": "pick", "value": [1], "fields": ["a"], "as": "x"},
        "item [0] is a number, not an object",
    ),
    ({"op": "pick", "value": {}, "fields": "a", "as": "x"}, "fields must be a list of key names"),
    (
        {"op": "map", "value": {"a": 1}, "fields": {"a": "a"}, "as": "x"},
        "must be a list, not an object",
    ),
    ({"op": "map", "value": [{}], "fields": {"a": "x.__class__"}, "as": "x"}, "is not a path"),
    (
        {"op": "map", "value": [{}], "fields": {"a": {"date": "%Y"}}, "as": "x"},
        "each field is a path",
    ),
    (
        {
            "op": "map",
            "value": [{"d": "soon"}],
            "fields": {"a": {"path": "d", "date": "%Y"}},
            "as": "x",
        },
        "item [0]: 'soon' is not an ISO 8601 date",
    ),
    (
        {"op": "format_date", "value": "2026-01-01", "format": "{0.__class__}", "as": "x"},
        "no braces",
    ),
    (
        {"op": "format_date", "value": "2026-01-01", "format": "%Y" * 40, "as": "x"},
        "longer than 64",
    ),
    (
        {"op": "format_date", "value": "tomorrow", "format": "%Y", "as": "x"},
        "'tomorrow' is not an ISO 8601",
    ),
    ({"op": "format_number", "value": "abc", "as": "x"}, "'abc' is not a number"),
    ({"op": "format_number", "value": 1, "decimals": 30, "as": "x"}, "decimals from 0 to 20"),
    ({"op": "format_number", "value": "1e500", "as": "x"}, "too large to format"),
    (
        {"op": "format_number", "value": 1, "thousands": ".", "decimal_point": ".", "as": "x"},
        "must differ",
    ),
    ({"op": "format_number", "value": 1, "thousands": "x", "as": "x"}, "thousands is one of"),
    ({"op": "join", "value": "abc", "as": "x"}, "must be a list, not a string"),
    ({"op": "split", "value": "a,b", "separator": "", "as": "x"}, "separator must be a text of 1"),
    ({"op": "split", "value": 5, "separator": ",", "as": "x"}, "must be a text, not a number"),
    ({"op": "defaults", "value": {}, "values": {}, "as": "x"}, "values must map keys"),
]


@pytest.mark.parametrize(("operation", "message"), ERRORS)
def test_errors(operation, message):
    with pytest.raises(ActionError) as excinfo:
        transform(operation)
    assert excinfo.value.kind == "invalid_config"
    assert message in excinfo.value.message


@pytest.mark.parametrize("config", [{}, {"operations": []}, {"operations": [{}] * 51}])
def test_the_list_of_operations_is_checked(config):
    with pytest.raises(ActionError, match="operations: "):
        registry.get("transform").run(config, context())


def test_lists_and_texts_are_capped():
    with pytest.raises(ActionError, match="more than 10000 items"):
        one("join", value=["x"] * (MAX_ITEMS + 1))
    with pytest.raises(ActionError, match="more than 10000 pieces"):
        one("split", value="," * MAX_ITEMS + "x", separator=",")
    with pytest.raises(ActionError, match="longer than 1000000 characters"):
        one("join", value=["x" * 600_000, "y" * 600_000])


# -- through the engine ------------------------------------------------------------------------


def one_step(config, **node):
    return {
        "name": "Transform",
        "trigger": {"type": "manual"},
        "nodes": [{"id": "tf", "type": "action", "action": "transform", "config": config, **node}],
        "edges": [{"from": "trigger", "to": "tf"}],
    }


@pytest.mark.django_db
def test_a_run_transforms_the_trigger_data_and_binds_it(run_workflow):
    config = {
        "operations": [
            {"op": "map", "value": "{{ invoices }}", "fields": {"n": "number"}, "as": "rows"},
            {"op": "join", "from": "rows", "field": "n", "as": "numbers"},
        ]
    }
    workflow = one_step(config, outputs=["shaped"])
    workflow["nodes"].append(echo("seen", "{{ shaped }}", ["rows", "numbers"]))
    workflow["edges"].append({"from": "tf", "to": "seen"})
    execution = run_workflow(workflow, {"invoices": INVOICES})
    assert execution.status == "completed"
    shaped = execution.steps.get(node_id="seen").output["seen"]  # bound for later steps
    assert shaped == {"rows": [{"n": "INV-7"}, {"n": "INV-8"}], "numbers": "INV-7, INV-8"}


@pytest.mark.django_db
def test_data_that_looks_like_a_template_stays_literal(run_workflow):
    hostile = "{{ this.constructor.constructor('return process')() }}"
    config = {"operations": [{"op": "split", "value": "{{ tags }}", "separator": "|", "as": "t"}]}
    execution = run_workflow(one_step(config), {"tags": f"a|{hostile}"})
    assert execution.steps.get().output == {"t": ["a", hostile]}


# -- the catalog entry -------------------------------------------------------------------------


def test_the_schema_is_valid_and_accepts_every_example():
    action = registry.get("transform")
    Draft202012Validator.check_schema(action.config_schema)
    assert action.examples
    validator = ConfigValidator(action.config_schema)
    for example in action.examples:
        assert list(validator.iter_errors(example)) == []
    assert list(validator.iter_errors({"operations": [{"op": "explode", "as": "x"}]}))
    assert list(validator.iter_errors({"operations": [{"op": "split", "value": "a"}]}))


def test_every_documented_example_runs():
    data = {
        "invoice": INVOICE,
        "invoices": INVOICES,
        "lead": {"tags": "a,b", "source": ""},
    }
    for example in registry.get("transform").examples:
        result = registry.get("transform").run(render(example, data), context())
        assert result
