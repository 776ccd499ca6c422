"""The validator: every contract form is accepted, each check names its node and field, and
no input, however broken, makes it raise.

No database: validation reads the definition and the registries only.
"""

import copy

import pytest

from tests.support.definitions import chain, edge
from workflows.validation import (
    DefinitionInvalid,
    ValidationResult,
    validate_definition,
    validate_or_raise,
)

# -- builders ---------------------------------------------------------------------------------


def workflow(nodes, edges=None, trigger=None, **top):
    """A definition; without `edges`, the nodes run in a chain from the trigger."""
    return {
        "name": "Test",
        "trigger": trigger or {"type": "manual"},
        "nodes": nodes,
        "edges": chain(*(n["id"] for n in nodes)) if edges is None else edges,
        **top,
    }


def ticket(node_id, **extra):
    """An action that needs nothing but a subject."""
    return {
        "id": node_id,
        "type": "action",
        "action": "create_ticket",
        "config": {"subject": "Check this"},
        **extra,
    }


def condition(node_id, cond=None, **extra):
    cond = cond or {"field": "{{ trigger.amount }}", "operator": "greater_than", "value": 10}
    return {"id": node_id, "type": "condition", "condition": cond, **extra}


def loop(node_id, body, collection="{{ trigger.items }}", item="item"):
    return {
        "id": node_id,
        "type": "loop",
        "collection": collection,
        "item_variable": item,
        "body": body,
    }


def end(node_id):
    return {"id": node_id, "type": "end"}


def delay(node_id="wait", **keys):
    return {"id": node_id, "type": "delay", **keys}


def action(node_id, key, **config):
    return {"id": node_id, "type": "action", "action": key, "config": config}


def leaf(field, operator, *value):
    return {"field": field, "operator": operator, **({"value": value[0]} if value else {})}


def switch(node_id, *names):
    cases = [{"name": name, "condition": leaf(f"trigger.{name}", "exists")} for name in names]
    return {"id": node_id, "type": "switch", "cases": cases}


def parallel(node_id, branches, **keys):
    return {"id": node_id, "type": "parallel", "branches": branches, **keys}


def on_trigger(trigger, **top):
    return workflow([end("e")], trigger=trigger, **top)


def schedule(**config):
    return {"type": "schedule", "config": config}


def one(node, **keys):
    return workflow([node], **keys)


def subject(text):
    return {"subject": text}


EVENT = {"type": "event", "event": "invoice.updated"}
SCHEDULE = {"type": "schedule", "config": {"cron": "0 9 * * *"}}


def issues(result, kind="errors"):
    return [(i["node"], i["field"], i["message"]) for i in getattr(result, kind)]


def assert_issue(result, node, field, text, kind="errors"):
    found = issues(result, kind)
    assert any(n == node and f == field and text in m for n, f, m in found), found


def _table(*families):
    cases = [case for family in families for case in family]
    return pytest.mark.parametrize(
        ("definition", "expected"),
        [case[1:] for case in cases],
        ids=[case[0] for case in cases],
    )


# -- every form of DEFINITION.md is accepted ---------------------------------------------------


def test_the_seed_example_is_valid_without_warnings(seed_definition):
    result = validate_definition(seed_definition)

    assert result.as_dict() == {"valid": True, "errors": [], "warnings": []}


TRIGGER_FORMS = [
    {"type": "manual"},
    {"type": "event", "event": "invoice.created"},
    {
        "type": "event",
        "event": "invoice.created",
        "filter": {"field": "invoice.amount", "operator": "greater_than", "value": 1000},
    },
    {"type": "schedule", "config": {"cron": "0 9 * * 1"}},
    {"type": "schedule", "config": {"cron": "0 9 * * 1", "timezone": "America/New_York"}},
    {"type": "schedule", "config": {"interval": {"every": 4, "unit": "hours"}}},
    {"type": "schedule", "config": {"daily": {"at": "09:00"}}},
    {"type": "schedule", "config": {"weekly": {"days": ["mon", "thu"], "at": "09:00"}}},
    {"type": "schedule", "config": {"monthly": {"day": 31, "at": "08:30"}}},
    {"type": "schedule", "config": {"once": {"at": "2026-12-24T17:00:00+01:00"}}},
    {"type": "webhook", "config": {"respond": "accepted"}},
    {
        "type": "webhook",
        "config": {"respond": "on_completion", "timeout_seconds": 10, "response_node": "node_9"},
    },
    # The seed's own example filter: a record field and a related record beside it.
    {
        "type": "event",
        "event": "invoice.overdue",
        "filter": {
            "type": "and",
            "conditions": [
                {"field": "invoice.amount", "operator": "greater_than", "value": 1000},
                {"field": "customer.type", "operator": "equals", "value": "enterprise"},
            ],
        },
    },
]


@pytest.mark.parametrize("trigger", TRIGGER_FORMS, ids=lambda t: str(t)[:70])
def test_every_trigger_form_is_accepted(trigger):
    result = validate_definition(workflow([ticket("node_9")], trigger=trigger))

    assert issues(result) == []
    assert issues(result, "warnings") == []


def test_the_top_level_form_is_accepted():
    definition = workflow(
        [ticket("node_1")],
        id="wf_001",
        description="Send reminders for overdue invoices",
        version=1,
        status="active",
        timezone="Europe/Berlin",
        settings={"max_steps": 10000, "max_loop_items": 100000, "timeout_seconds": 86400},
        trigger=SCHEDULE,
    )

    assert validate_definition(definition).as_dict() == {
        "valid": True,
        "errors": [],
        "warnings": [],
    }


NODE_FORMS = {
    "action with every key": workflow(
        [
            {
                "id": "node_1",
                "type": "action",
                "action": "query_records",
                "name": "Find overdue invoices",
                "ui": {"x": 120, "y": 80},
                "config": {
                    "entity": "invoices",
                    "filter": {"status": "overdue", "days_overdue": {"$gte": 7}},
                    "order_by": ["due_date"],
                    "limit": 500,
                },
                "outputs": ["invoices"],
                "retry": {
                    "max_attempts": 3,
                    "backoff_seconds": 10,
                    "backoff_multiplier": 2,
                    "max_backoff_seconds": 600,
                    "jitter": True,
                    "retry_on": ["timeout", "connection", "rate_limited", "server_error"],
                },
                "on_error": "fail",
                "timeout_seconds": 30,
            }
        ],
        trigger=SCHEDULE,
    ),
    "condition": workflow(
        [
            {
                "id": "node_3",
                "type": "condition",
                "condition": {
                    "field": "{{invoice.reminder_count}}",
                    "operator": "less_than",
                    "value": 3,
                },
                "true_branch": ["node_4"],
                "false_branch": ["node_5"],
            },
            ticket("node_4"),
            ticket("node_5"),
        ],
        [
            edge("trigger", "node_3"),
            edge("node_3", "node_4", "true"),
            edge("node_3", "node_5", "false"),
        ],
        trigger=EVENT,
    ),
    "switch": workflow(
        [
            {
                "id": "route",
                "type": "switch",
                "cases": [
                    {
                        "name": "hot",
                        "condition": {
                            "field": "lead.score",
                            "operator": "greater_than_or_equal",
                            "value": 80,
                        },
                    },
                    {
                        "name": "warm",
                        "condition": {
                            "field": "lead.score",
                            "operator": "greater_than_or_equal",
                            "value": 50,
                        },
                    },
                ],
            },
            ticket("assign_sales"),
            ticket("nurture"),
            end("done"),
        ],
        [
            edge("trigger", "route"),
            edge("route", "assign_sales", "hot"),
            edge("route", "nurture", "warm"),
            edge("route", "done", "default"),
        ],
        trigger={"type": "event", "event": "lead.created"},
    ),
    "loop": workflow(
        [
            {
                "id": "node_1",
                "type": "action",
                "action": "query_records",
                "config": {"entity": "invoices"},
                "outputs": ["invoices"],
            },
            {
                "id": "node_2",
                "type": "loop",
                "collection": "{{invoices}}",
                "item_variable": "invoice",
                "body": ["node_3", "node_4"],
                "max_items": 1000,
            },
            ticket("node_3", config={"subject": "{{ invoice.number }} #{{ loop.index }}"}),
            ticket("node_4"),
            ticket("after"),
        ],
        [
            edge("trigger", "node_1"),
            edge("node_1", "node_2"),
            edge("node_2", "node_3"),
            edge("node_3", "node_4"),
            edge("node_2", "after"),
        ],
        trigger=SCHEDULE,
    ),
    "delay for days": workflow(
        [{"id": "wait", "type": "delay", "duration": {"days": 3}}], trigger=SCHEDULE
    ),
    "delay for hours and minutes": workflow(
        [{"id": "wait", "type": "delay", "duration": {"hours": 1, "minutes": 30}}],
        trigger=SCHEDULE,
    ),
    "delay until": workflow(
        [{"id": "wait", "type": "delay", "until": "{{contract.end_date}}"}],
        trigger={"type": "event", "event": "contract.created"},
    ),
    "parallel with join": workflow(
        [
            {
                "id": "fan",
                "type": "parallel",
                "branches": ["email_team", "post_slack"],
                "join": "log_done",
            },
            ticket("email_team"),
            ticket("post_slack"),
            ticket("log_done"),
        ],
        [
            edge("trigger", "fan"),
            edge("fan", "email_team"),
            edge("fan", "post_slack"),
            edge("email_team", "log_done"),
            edge("post_slack", "log_done"),
        ],
        trigger=SCHEDULE,
    ),
    "parallel without join": workflow(
        [
            {"id": "fan", "type": "parallel", "branches": ["a", "b"]},
            ticket("a"),
            ticket("b"),
        ],
        [edge("trigger", "fan"), edge("fan", "a"), edge("fan", "b")],
        trigger=SCHEDULE,
    ),
    "stop": workflow(
        [{"id": "halt", "type": "stop", "status": "completed", "reason": "nothing to do"}],
        trigger=SCHEDULE,
    ),
    "end": workflow([end("done")], trigger=SCHEDULE),
    "error edge": workflow(
        [
            ticket("charge", on_error="error_branch"),
            ticket("notify_failure", config={"subject": "{{ error.message }} in {{ error.node }}"}),
        ],
        [edge("trigger", "charge"), edge("charge", "notify_failure", "error")],
        trigger=SCHEDULE,
    ),
    "nodes.<id>.output and built-ins": workflow(
        [
            ticket("first"),
            ticket(
                "second",
                config={
                    "subject": "{{ nodes.first.output.id }} {{ workflow.name }} {{ now }}",
                    "description": "{{ execution.id }} {{ today }} {{ trigger }}",
                },
            ),
        ],
        trigger=SCHEDULE,
    ),
    "a loop's edge back to the loop node closes the iteration": workflow(
        [loop("each", ["work"]), ticket("work")],
        [edge("trigger", "each"), edge("each", "work"), edge("work", "each")],
        trigger={"type": "webhook"},
    ),
    "nested loops see both items": workflow(
        [
            loop("rows", ["cells"], collection="{{ body.rows }}", item="row"),
            loop("cells", ["cell"], collection="{{ row.cells }}", item="value"),
            ticket("cell", config={"subject": "{{ row.id }}: {{ value }} #{{ loop.index }}"}),
        ],
        [*chain("rows", "cells", "cell")],
        trigger={"type": "webhook"},
    ),
    "webhook data": workflow(
        [ticket("t", config={"subject": "{{ body.title }} via {{ method }} {{ headers }}"})],
        trigger={"type": "webhook"},
    ),
    "schedule data": workflow(
        [ticket("t", config={"subject": "{{ scheduled_at }} {{ fired_at }}"})],
        trigger=SCHEDULE,
    ),
}


@pytest.mark.parametrize("definition", NODE_FORMS.values(), ids=NODE_FORMS.keys())
def test_every_node_form_is_accepted(definition):
    result = validate_definition(definition)

    assert issues(result) == []
    assert issues(result, "warnings") == []


CONDITION_FORMS = [
    {"field": "invoice.amount", "operator": "greater_than", "value": 1000},
    {"field": "{{invoice.due_date}}", "operator": "before", "value": "{{contract.start}}"},
    {"type": "and", "conditions": [{"field": "a", "operator": "exists"}]},
    {
        "type": "or",
        "conditions": [
            {"field": "a", "operator": "is_empty"},
            {"field": "b", "operator": "in", "value": [1, 2]},
        ],
    },
    {"type": "not", "conditions": [{"field": "a", "operator": "between", "value": [1, 5]}]},
    {"field": "a", "operator": "days_ago", "value": 7},
    {"field": "a", "operator": "matches", "value": "^INV-[0-9]+$"},
]


@pytest.mark.parametrize("cond", CONDITION_FORMS, ids=lambda c: str(c)[:60])
def test_every_condition_form_is_accepted(cond):
    # Manual input is free-form: its variables can only be warned about.
    node = {"id": "check", "type": "condition", "condition": cond}

    assert issues(validate_definition(workflow([node]))) == []


def test_an_expression_satisfies_any_config_type():
    # `limit` is an integer and `priority` an enum, but their value is known at run time.
    node = {
        "id": "q",
        "type": "action",
        "action": "query_records",
        "config": {"entity": "{{ body.entity }}", "limit": "{{ body.limit }}"},
    }
    other = ticket("t", config={"subject": "x", "priority": "{{ body.priority | lower }}"})

    result = validate_definition(workflow([node, other], trigger={"type": "webhook"}))

    assert issues(result) == []


# -- each check: a minimal definition with exactly that problem --------------------------------


# (case, definition, (node, field, part of the message)); each definition has that one error.
SCHEMA_ERRORS = [
    (
        "name missing",
        {"trigger": {"type": "manual"}, "nodes": [], "edges": []},
        (None, "name", "'name' is required"),
    ),
    ("status", workflow([end("e")], status="live"), (None, "status", "not one of")),
    (
        "settings",
        workflow([end("e")], settings={"max_steps": 0}),
        (None, "settings.max_steps", "minimum"),
    ),
    ("node type", one({"id": "x", "type": "teleport"}), ("x", "type", '"teleport" is not one of')),
    ("node id with a dot", one(end("a.b")), ("a.b", "id", "a node id is")),
    ("delay without duration or until", one(delay()), ("wait", None, "either duration or until")),
    (
        "delay with both",
        one(delay(duration={"days": 1}, until="2026-01-01")),
        ("wait", None, "either duration or until"),
    ),
    ("delay unit", one(delay(duration={"hour": 1})), ("wait", "duration", "unknown key(s) 'hour'")),
    ("delay negative", one(delay(duration={"days": -1})), ("wait", "duration.days", "minimum")),
    (
        "action without action",
        one({"id": "a", "type": "action"}),
        ("a", "action", "'action' is required"),
    ),
    (
        "config not an object",
        one(ticket("a", config="x")),
        ("a", "config", "must be an object, not a string"),
    ),
    ("retry", one(ticket("a", retry={"max_attempts": 0})), ("a", "retry.max_attempts", "minimum")),
    ("on_error", one(ticket("a", on_error="ignore")), ("a", "on_error", "not one of")),
    ("output name", one(ticket("a", outputs=["my ticket"])), ("a", "outputs.0", "a variable name")),
    (
        "operator",
        one(condition("c", leaf("trigger.x", "approx", 1))),
        ("c", "condition.operator", '"approx" is not one of'),
    ),
    (
        "condition group",
        one(condition("c", {"type": "and"})),
        ("c", "condition.conditions", "'conditions' is required"),
    ),
    ("case named default", one(switch("s", "default")), ("s", "cases.0.name", "not case names")),
    ("loop with an empty body", one(loop("l", [])), ("l", "body", "at least one")),
    (
        "loop without a collection",
        workflow([{"id": "l", "type": "loop", "body": ["a"]}, ticket("a")], chain("l", "a")),
        ("l", "collection", "'collection' is required"),
    ),
    (
        "parallel without branches",
        one({"id": "p", "type": "parallel"}),
        ("p", "branches", "'branches' is required"),
    ),
    (
        "stop status",
        one({"id": "s", "type": "stop", "status": "aborted"}),
        ("s", "status", "not one of"),
    ),
    (
        "edge without to",
        workflow([ticket("a")], [*chain("a"), {"from": "a"}]),
        ("a", "edges.1.to", "'to' is required"),
    ),
    ("trigger type", on_trigger({"type": "email"}), (None, "trigger.type", "not one of")),
    (
        "event without event",
        on_trigger({"type": "event"}),
        (None, "trigger.event", "'event' is required"),
    ),
    (
        "schedule without a kind",
        on_trigger(schedule()),
        (None, "trigger.config", "exactly one of cron"),
    ),
    (
        "schedule with two kinds",
        on_trigger(schedule(cron="0 9 * * *", daily={"at": "09:00"})),
        (None, "trigger.config", "exactly one of cron"),
    ),
    (
        "cron with four fields",
        on_trigger(schedule(cron="0 9 * *")),
        (None, "trigger.config.cron", "five fields"),
    ),
    (
        "interval unit",
        on_trigger(schedule(interval={"every": 2, "unit": "weeks"})),
        (None, "trigger.config.interval.unit", "not one of"),
    ),
    (
        "daily time",
        on_trigger(schedule(daily={"at": "9am"})),
        (None, "trigger.config.daily.at", "HH:MM"),
    ),
    (
        "weekly day",
        on_trigger(schedule(weekly={"days": ["monday"], "at": "09:00"})),
        (None, "trigger.config.weekly.days.0", "not one of"),
    ),
    (
        "monthly day",
        on_trigger(schedule(monthly={"day": 32, "at": "09:00"})),
        (None, "trigger.config.monthly.day", "maximum"),
    ),
    (
        "once not a datetime",
        on_trigger(schedule(once={"at": "Christmas"})),
        (None, "trigger.config.once.at", "ISO 8601"),
    ),
    (
        "webhook respond",
        on_trigger({"type": "webhook", "config": {"respond": "later"}}),
        (None, "trigger.config.respond", "not one of"),
    ),
]

TRIGGER_ERRORS = [
    (
        "unknown event",
        on_trigger({"type": "event", "event": "invoice.paid"}),
        (None, "trigger.event", "unknown event 'invoice.paid' (known: "),
    ),
    (
        "cron out of range",
        on_trigger(schedule(cron="61 9 * * *")),
        (None, "trigger.config.cron", "not a valid cron expression"),
    ),
    (
        "a day that does not exist",
        on_trigger(schedule(once={"at": "2026-02-30T09:00"})),
        (None, "trigger.config.once.at", "not a real date"),
    ),
    (
        "workflow time zone",
        on_trigger({"type": "manual"}, timezone="Europe/Atlantis"),
        (None, "timezone", "unknown time zone 'Europe/Atlantis'"),
    ),
    (
        "schedule time zone",
        on_trigger(schedule(cron="0 9 * * *", timezone="Mars/Olympus")),
        (None, "trigger.config.timezone", "unknown time zone"),
    ),
    (
        "webhook response node",
        on_trigger(
            {"type": "webhook", "config": {"respond": "on_completion", "response_node": "nowhere"}}
        ),
        (None, "trigger.config.response_node", "unknown node 'nowhere'"),
    ),
]

GRAPH_ERRORS = [
    (
        "duplicate id",
        workflow([ticket("a"), end("a")], chain("a")),
        ("a", "id", "duplicate node id 'a'"),
    ),
    (
        "reserved id",
        workflow([ticket("a"), end("trigger")], chain("a")),
        ("trigger", "id", "reserved"),
    ),
    (
        "edge from an unknown node",
        workflow([end("e")], [*chain("e"), edge("ghost", "e")]),
        (None, "edges.1.from", "edge from unknown node 'ghost'"),
    ),
    (
        "edge to an unknown node",
        workflow([ticket("a")], [*chain("a"), edge("a", "ghost")]),
        ("a", "edges.1.to", "edge to unknown node 'ghost'"),
    ),
    (
        "nothing after the trigger",
        workflow([end("e")], []),
        (None, "edges", "nothing follows the trigger"),
    ),
    (
        "unreachable",
        workflow([ticket("a"), end("island")], chain("a")),
        ("island", None, "not reachable from the trigger"),
    ),
    (
        "cycle",
        workflow([ticket("a"), ticket("b")], [*chain("a", "b"), edge("b", "a")]),
        ("a", None, "cycle outside a loop: a -> b -> a"),
    ),
    (
        "cycle inside an iteration",
        workflow(
            [loop("l", ["a", "b"]), ticket("a"), ticket("b")],
            [*chain("l", "a", "b"), edge("b", "a")],
        ),
        ("a", None, "cycle outside a loop: a -> b -> a"),
    ),
    (
        "true_branch disagrees with the edges",
        workflow(
            [condition("c", true_branch=["yes"]), ticket("yes"), ticket("other")],
            [edge("trigger", "c"), edge("c", "other", "true"), edge("c", "yes", "false")],
        ),
        ("c", "true_branch", "true_branch says 'yes' but the edges labelled 'true' go to 'other'"),
    ),
    (
        "true_branch names an unknown node",
        one(condition("c", true_branch=["ghost"])),
        ("c", "true_branch", "unknown node(s) 'ghost'"),
    ),
    (
        "unlabelled edge from a condition",
        workflow([condition("c"), ticket("a")]),
        ("c", "edges.1.condition", "needs the label 'true', 'false' or 'error'"),
    ),
    (
        "switch edge with an unknown case",
        workflow([switch("s", "hot"), ticket("a")], [*chain("s"), edge("s", "a", "cold")]),
        ("s", "edges.1.condition", "one of 'hot', 'default', 'error' (not 'cold')"),
    ),
    (
        "switch with duplicate case names",
        one(switch("s", "hot", "hot")),
        ("s", "cases.1.name", "duplicate case name 'hot'"),
    ),
    (
        "loop body names an unknown node",
        one(loop("l", ["ghost"])),
        ("l", "body", "unknown node(s) 'ghost'"),
    ),
    (
        "loop body lists a node its iteration does not reach",
        workflow(
            [loop("l", ["a", "b"]), ticket("a"), ticket("b")], [*chain("l", "a"), edge("l", "b")]
        ),
        ("l", "body", "'b' listed in the body but not reached from its first node 'a'"),
    ),
    (
        "loop iteration also runs after the loop",
        workflow(
            [loop("l", ["a"]), ticket("a"), ticket("after")],
            [*chain("l", "a"), edge("l", "after"), edge("after", "a")],
        ),
        ("l", "body", "'a' run in the loop's iteration and again after the loop"),
    ),
    (
        "parallel branches disagree with its edges",
        workflow([parallel("p", ["a", "b"]), ticket("a"), ticket("b")], [*chain("p", "a")]),
        ("p", "branches", "branches says 'a', 'b' but the node's edges go to 'a'"),
    ),
    (
        "parallel branch unknown",
        one(parallel("p", ["ghost"])),
        ("p", "branches", "unknown node(s) 'ghost'"),
    ),
    (
        "parallel join unknown",
        workflow([parallel("p", ["a"], join="ghost"), ticket("a")]),
        ("p", "join", "unknown node 'ghost'"),
    ),
    (
        "parallel join not reached from a branch",
        workflow(
            [parallel("p", ["a", "b"], join="j"), ticket("a"), ticket("b"), ticket("j")],
            [*chain("p", "a", "j"), edge("p", "b")],
        ),
        ("p", "join", "the join 'j' is not reached from branch(es) 'b'"),
    ),
    (
        "parallel branches share a node",
        workflow(
            [parallel("p", ["a", "b"]), ticket("a"), ticket("b"), ticket("both")],
            [*chain("p", "a", "both"), edge("p", "b"), edge("b", "both")],
        ),
        ("p", "branches", "branches 'a' and 'b' share 'both'"),
    ),
    (
        "error_branch without an error edge",
        one(ticket("a", on_error="error_branch")),
        ("a", "on_error", "no edge from this node is labelled 'error'"),
    ),
]

ACTION_ERRORS = [
    (
        "unknown action",
        one(action("a", "send_fax")),
        ("a", "action", "unknown action 'send_fax' (known: "),
    ),
    (
        "a required key",
        one(action("m", "send_email", subject="Hi")),
        ("m", "config.to", "'to' is required"),
    ),
    (
        "an unknown key",
        one(action("t", "create_ticket", subject="x", colour=1)),
        ("t", "config", "unknown key(s) 'colour'"),
    ),
    (
        "outside its enum",
        one(action("t", "create_ticket", subject="x", priority="critical")),
        ("t", "config.priority", '"critical" is not one of: low, normal, high, urgent'),
    ),
    (
        "the wrong type",
        one(action("q", "query_records", entity="invoices", limit="many")),
        ("q", "config.limit", "must be an integer, not a string"),
    ),
    (
        "text around an expression is still text",
        one(
            action("q", "query_records", entity="invoices", limit="{{ body.n }} items"),
            trigger={"type": "webhook"},
        ),
        ("q", "config.limit", "must be an integer"),
    ),
    (
        "against a oneOf",
        one(action("m", "send_email", to=5)),
        ("m", "config.to", "must be a string or an array, not an integer"),
    ),
    (
        "more output names than the action declares",
        one(ticket("a", outputs=["t", "u"])),
        ("a", "outputs", "2 names, but 'create_ticket' declares 1 output(s): ticket"),
    ),
]

EXPRESSION_ERRORS = [
    (
        "reaching for globals",
        one(ticket("a", config={"subject": "{{ self.__init__.__globals__ }}"})),
        ("a", "config.subject", "names starting with '_' are not allowed"),
    ),
    (
        "arithmetic",
        one(ticket("a", config={"subject": "{{ amount ** 9 }}"})),
        ("a", "config.subject", "'*' is not allowed"),
    ),
    (
        "a call",
        one(ticket("a", config={"subject": "{{ trigger.pop() }}"})),
        ("a", "config.subject", "calls are not allowed"),
    ),
    (
        "unterminated",
        workflow([loop("l", ["a"], collection="{{ items"), ticket("a")]),
        ("l", "collection", "unterminated"),
    ),
    (
        "an unknown filter",
        one(delay(until="{{ trigger.at | shout }}")),
        ("wait", "until", "unknown filter 'shout'"),
    ),
    (
        "deep in a config",
        one(action("m", "send_email", to="a@b.example", variables={"n": ["{{}}"]})),
        ("m", "config.variables.n.0", "empty {{ }}"),
    ),
    (
        "in without a list",
        one(condition("c", leaf("trigger.x", "in", 3))),
        ("c", "condition.value", "the value must be a list"),
    ),
    (
        "not with two conditions",
        one(
            condition(
                "c",
                {
                    "type": "not",
                    "conditions": [leaf("trigger.a", "exists"), leaf("trigger.b", "exists")],
                },
            )
        ),
        ("c", "condition.conditions", "'not' takes exactly one condition"),
    ),
    (
        "a malformed path in a nested condition",
        one(
            condition(
                "c",
                {"type": "and", "conditions": [leaf("trigger.a", "exists"), leaf("a b", "exists")]},
            )
        ),
        ("c", "condition.conditions.1.field", "unexpected"),
    ),
    (
        "a catastrophic pattern",
        one(condition("c", leaf("trigger.a", "matches", "(a+)+$"))),
        ("c", "condition.value", "backtrack"),
    ),
    (
        "a switch case",
        one(
            {
                "id": "s",
                "type": "switch",
                "cases": [{"name": "x", "condition": leaf("trigger.x", "between", [1])}],
            }
        ),
        ("s", "cases.0.condition.value", "a list of two items"),
    ),
    (
        "a trigger filter",
        on_trigger(
            {
                "type": "event",
                "event": "invoice.created",
                "filter": leaf("invoice.amount", "before", "soon"),
            }
        ),
        (None, "trigger.filter.value", "ISO 8601 date"),
    ),
]


VARIABLE_ERRORS = [
    (
        "nobody provides it",
        one(ticket("a", config=subject("{{ invoce.number }}")), trigger=SCHEDULE),
        ("a", "config.subject", "variable 'invoce' is not provided by the trigger or any earlier"),
    ),
    (
        "an output used before its step",
        workflow(
            [ticket("a", config=subject("{{ later.id }}")), ticket("b", outputs=["later"])],
            trigger=SCHEDULE,
        ),
        ("a", "config.subject", "variable 'later' is not provided"),
    ),
    (
        "an output of a sibling branch",
        workflow(
            [
                condition("c"),
                ticket("yes", outputs=["made"]),
                ticket("no", config=subject("{{ made.id }}")),
            ],
            [edge("trigger", "c"), edge("c", "yes", "true"), edge("c", "no", "false")],
            trigger={"type": "webhook"},
        ),
        ("no", "config.subject", "variable 'made' is not provided"),
    ),
    (
        "a loop item after the loop",
        workflow(
            [
                loop("l", ["a"], item="row"),
                ticket("a"),
                ticket("after", config=subject("{{ row }}")),
            ],
            [*chain("l", "a"), edge("l", "after")],
            trigger={"type": "webhook"},
        ),
        ("after", "config.subject", "variable 'row' is not provided"),
    ),
    (
        "loop.index outside a loop",
        one(ticket("a", config=subject("{{ loop.index }}")), trigger=SCHEDULE),
        ("a", "config.subject", "only set inside a loop's body"),
    ),
    (
        "error outside an error path",
        one(ticket("a", config=subject("{{ error.message }}")), trigger=SCHEDULE),
        ("a", "config.subject", "only set on an error path"),
    ),
    (
        "the output of a node that runs later",
        workflow([ticket("a", config=subject("{{ nodes.b.output.id }}")), ticket("b")]),
        ("a", "config.subject", "'nodes.b' is not a step that runs before this one"),
    ),
    (
        "the output of a node that does not exist",
        one(ticket("a", config=subject("{{ nodes.ghost.output }}"))),
        ("a", "config.subject", "there is no node 'ghost'"),
    ),
    (
        "a record field the event does not carry",
        one(ticket("a", config=subject("{{ invoice.custmer.email }}")), trigger=EVENT),
        ("a", "config.subject", "the invoice record has no field 'custmer'"),
    ),
    (
        "a related record's field",
        one(ticket("a", config=subject("{{ invoice.customer.mail }}")), trigger=EVENT),
        ("a", "config.subject", "the customer record has no field 'mail'"),
    ),
    (
        "the related record beside it",
        one(ticket("a", config=subject("{{ customer.vat }}")), trigger=EVENT),
        ("a", "config.subject", "the customer record has no field 'vat'"),
    ),
    (
        "a condition's bare field",
        one(condition("c", leaf("amount", "exists")), trigger=EVENT),
        ("c", "condition", "variable 'amount' is not provided"),
    ),
    (
        "a filter on data the event does not carry",
        on_trigger(
            {
                "type": "event",
                "event": "invoice.created",
                "filter": leaf("payment.amount", "exists"),
            }
        ),
        (
            None,
            "trigger.filter",
            "variable 'payment' is not in the data of event 'invoice.created'",
        ),
    ),
    (
        "a filter on a record field that does not exist",
        on_trigger(
            {
                "type": "event",
                "event": "invoice.created",
                "filter": leaf("{{ invoice.total }}", "greater_than", 5),
            }
        ),
        (None, "trigger.filter", "the invoice record has no field 'total'"),
    ),
    (
        "a webhook has no event data",
        one(ticket("a", config=subject("{{ invoice.id }}")), trigger={"type": "webhook"}),
        ("a", "config.subject", "variable 'invoice' is not provided"),
    ),
]


@_table(
    SCHEMA_ERRORS, TRIGGER_ERRORS, GRAPH_ERRORS, ACTION_ERRORS, EXPRESSION_ERRORS, VARIABLE_ERRORS
)
def test_each_check_reports_its_error_with_node_and_field(definition, expected):
    node, field, message = expected

    result = validate_definition(definition)

    assert [(i["node"], i["field"]) for i in result.errors] == [(node, field)], result.errors
    assert message in result.errors[0]["message"]


WARNINGS = [
    (
        "a variable manual input may provide",
        one(ticket("a", config=subject("{{ name }}"))),
        (
            "a",
            "config.subject",
            "variable 'name' is not provided by the trigger or any earlier "
            "step; it must come from the run's input data",
        ),
    ),
    (
        "an error edge nothing follows",
        workflow([ticket("a"), ticket("b")], [*chain("a"), edge("a", "b", "error")]),
        ("a", "on_error", "never followed"),
    ),
    (
        "an error edge from a node that cannot take it",
        workflow([condition("c"), ticket("b")], [*chain("c"), edge("c", "b", "error")]),
        ("c", "edges.1.condition", "only an action node"),
    ),
    (
        "an end node with outgoing edges",
        workflow([end("done"), ticket("after")]),
        ("done", None, "its outgoing edges are never followed"),
    ),
    (
        "a stop node with outgoing edges",
        workflow([{"id": "halt", "type": "stop"}, ticket("x")]),
        ("halt", None, "ends the whole run"),
    ),
    (
        "an unknown key on a node",
        one(ticket("a", on_eror="continue")),
        ("a", "on_eror", "unknown key 'on_eror' on an action node"),
    ),
    (
        "on_error where nothing reads it",
        one(delay(duration={"days": 1}, on_error="continue")),
        ("wait", "on_error", "unknown key 'on_error' on a delay node"),
    ),
    ("a workflow without nodes", workflow([]), (None, "nodes", "no nodes yet")),
]


@_table(WARNINGS)
def test_warnings_do_not_make_a_definition_invalid(definition, expected):
    node, field, message = expected

    result = validate_definition(definition)

    assert result.valid, result.errors
    assert [(i["node"], i["field"]) for i in result.warnings] == [(node, field)], result.warnings
    assert message in result.warnings[0]["message"]


# -- what the schema already said is not said twice --------------------------------------------


def test_a_problem_the_schema_reports_is_reported_once():
    node = {"id": "c", "type": "condition", "condition": {"field": "x", "operator": "approx"}}

    result = validate_definition(workflow([node]))

    assert [i["field"] for i in result.errors] == ["condition.operator"]


def test_a_node_without_an_id_is_found_by_its_place():
    result = validate_definition(workflow([end("e"), {"type": "end"}], chain("e")))

    assert_issue(result, None, "nodes.1.id", "'id' is required")


# -- garbage never raises ----------------------------------------------------------------------

GARBAGE = [
    None,
    [],
    "x",
    42,
    {},
    {"nodes": "x", "edges": 5, "trigger": 3, "name": 1},
    {"name": "x", "trigger": {"type": "manual"}, "nodes": {"a": 1}, "edges": {"b": 2}},
    workflow([5, None, "x", [], {"type": "end"}], [1, "x", {"from": 3, "to": []}]),
    workflow([{"id": ["a"], "type": {"x": 1}}], []),
    workflow([{"id": "l", "type": "loop", "body": "abc", "collection": 5}]),
    workflow([{"id": "c", "type": "condition", "condition": "x > 1", "true_branch": 5}]),
    workflow([{"id": "p", "type": "parallel", "branches": {"a": 1}, "join": ["x"]}]),
    workflow([{"id": "s", "type": "switch", "cases": [5, {"name": 3}, {"condition": []}]}]),
    workflow([{"id": "a", "type": "action", "action": ["x"], "config": [], "outputs": "x"}]),
    workflow([end("e")], trigger={"type": "event", "event": ["invoice.created"], "filter": 7}),
    workflow([end("e")], trigger={"type": "schedule", "config": [1]}, timezone=7),
    workflow([end("e")], trigger={"type": "webhook", "config": {"response_node": {"a": 1}}}),
    workflow([end("e")], [{"from": "trigger", "to": "e", "condition": {"x": 1}}]),
    workflow([ticket("a", config={"subject": "{{" * 200})]),
    workflow(
        [condition("c", {"type": "not", "conditions": [{"type": "and", "conditions": [{}]}]})]
    ),
    workflow([condition("c", {"type": {"type": "and"}})]),  # an object where a name belongs
]


@pytest.mark.parametrize("definition", GARBAGE, ids=lambda d: repr(d)[:50])
def test_garbage_gives_errors_never_exceptions(definition):
    result = validate_definition(definition)

    assert not result.valid
    assert all(set(i) == {"node", "field", "message"} for i in result.errors + result.warnings)
    assert not any("could not finish" in i["message"] for i in result.errors)


def nested(levels, inner):
    for _ in range(levels):
        inner = {"type": "not", "conditions": [inner]}
    return inner


@pytest.mark.parametrize(
    ("definition", "field", "message"),
    [
        (
            one(condition("c", nested(34, leaf("trigger.a", "exists")))),
            "condition.conditions",
            "more than 32 deep",
        ),
        (one(condition("c", nested(200, {}))), "condition", "more than 80 levels deep"),
        (
            one(ticket("c", config={"subject": "x", "customer": nested(2000, {})})),
            "config",
            "more than 80 levels deep",
        ),
    ],
    ids=["conditions", "JSON", "JSON that would exhaust the stack"],
)
def test_deep_nesting_is_refused_not_crashed(definition, field, message):
    result = validate_definition(definition)

    assert len(result.errors) == 1
    assert result.errors[0]["node"] == "c"
    assert result.errors[0]["field"].startswith(field)
    assert message in result.errors[0]["message"]


def test_the_validator_does_not_change_the_definition(seed_definition):
    broken = workflow([ticket("a", config={"subject": 5, "priority": "{{ x }}"}), end("a")])
    for definition in (seed_definition, broken):
        before = copy.deepcopy(definition)
        validate_definition(definition)
        assert definition == before


# -- all problems at once ----------------------------------------------------------------------


def test_several_problems_are_all_reported():
    definition = workflow(
        [
            ticket("a", config={"subject": "{{ invoce.number }}", "priority": "critical"}),
            {"id": "b", "type": "action", "action": "send_fax"},
            delay("a"),
            end("island"),
        ],
        [*chain("a", "b"), edge("b", "ghost")],
        trigger={"type": "schedule", "config": {"cron": "0 9 * * *"}},
        timezone="Nowhere/Special",
    )

    result = validate_definition(definition)

    found = {(node, field) for node, field, _ in issues(result)}
    assert {
        ("a", "config.subject"),
        ("a", "config.priority"),
        ("b", "action"),
        ("a", "id"),
        ("a", None),  # the delay's missing duration, under the duplicate id
        ("b", "edges.2.to"),
        ("island", None),
        (None, "timezone"),
    } <= found


# -- the public API ----------------------------------------------------------------------------


def test_validate_or_raise_raises_with_every_error():
    definition = workflow([ticket("a", config={}), {"id": "b", "type": "action", "action": "x"}])

    with pytest.raises(DefinitionInvalid) as caught:
        validate_or_raise(definition)

    assert len(caught.value.errors) == 2
    assert str(caught.value).startswith("the workflow definition has 2 errors: ")
    assert "node 'a', config.subject: 'subject' is required" in str(caught.value)


def test_validate_or_raise_returns_the_result_with_warnings():
    result = validate_or_raise(workflow([ticket("a", config={"subject": "{{ who }}"})]))

    assert isinstance(result, ValidationResult)
    assert result.valid
    assert len(result.warnings) == 1


def test_definition_invalid_can_be_raised_with_errors_alone():
    exc = DefinitionInvalid([{"node": None, "field": None, "message": "no definition"}])

    assert exc.warnings == []
    assert str(exc) == "the workflow definition has 1 error: no definition"


def test_a_long_list_of_errors_is_summarised():
    nodes = [{"id": f"n{i}", "type": "action", "action": "x"} for i in range(15)]

    message = str(DefinitionInvalid(validate_definition(workflow(nodes)).errors))

    assert message.startswith("the workflow definition has 15 errors")
    assert message.endswith("... and 5 more")
