"""The workflows the scenarios run, as definitions in DEFINITION.md's shape.

`data_workflow`: five steps of data work (two record reads, calculate, transform, a
condition), the engine scenario's unit. `order_webhook`: the n8n peer's workflow
(../shared/peers/n8n/workflow.json) in ours: webhook -> compute the amount with tax
(calculate) -> a summary string and the order's fields (transform) -> if amount > 1000 ->
build an email payload (transform), else end (a no-op); it answers on completion. The
seed's invoice reminder is the test fixture tests/fixtures/seed_invoice_reminder.json.
"""

import json
from pathlib import Path

from .harness import Skip

ROOT = Path(__file__).resolve().parent.parent
SEED_REMINDER = ROOT / "tests" / "fixtures" / "seed_invoice_reminder.json"


def require_actions(*keys):
    """Skip (with the reason) when an action a scenario needs is not registered yet."""
    from actions.registry import registry

    missing = [key for key in keys if key not in registry]
    if missing:
        raise Skip(f"action(s) {', '.join(missing)} not registered yet (actions.builtin)")


def edge(source, target, condition=None):
    data = {"from": source, "to": target}
    if condition is not None:
        data["condition"] = condition
    return data


def seed_reminder():
    definition = json.loads(SEED_REMINDER.read_text())
    definition.pop("id", None)
    return definition


def data_workflow(name="bench: five data steps"):
    """Input `{"customer_id": N}`; five steps, each persisted as a StepRun."""
    nodes = [
        {
            "id": "customer",
            "type": "action",
            "action": "query_records",
            "config": {"entity": "customers", "filter": {"id": "{{ customer_id }}"}, "limit": 1},
            "outputs": ["customers"],
        },
        {
            "id": "invoices",
            "type": "action",
            "action": "query_records",
            "config": {
                "entity": "invoices",
                "filter": {"customer.id": "{{ customer_id }}"},
                "order_by": ["due_date"],
                "limit": 10,
            },
            "outputs": ["invoices"],
        },
        {
            "id": "totals",
            "type": "action",
            "action": "calculate",
            "config": {
                "expressions": {
                    "total": "sum(invoices[*].amount)",
                    "count": "len(invoices)",
                    "with_tax": "round(total * 1.2, 2)",
                },
                "inputs": {"invoices": "{{ invoices }}"},
            },
            "outputs": ["totals"],
        },
        {
            "id": "summary",
            "type": "action",
            "action": "transform",
            "config": {
                "operations": [
                    {
                        "op": "map",
                        "value": "{{ invoices }}",
                        "fields": {
                            "number": "number",
                            "amount": {"path": "amount", "number": 2},
                            "due": {"path": "due_date", "date": "%d %b %Y"},
                        },
                        "as": "rows",
                    },
                    {"op": "join", "from": "rows", "field": "number", "as": "numbers"},
                ]
            },
            "outputs": ["summary"],
        },
        {
            "id": "big",
            "type": "condition",
            "condition": {"field": "{{ totals.total }}", "operator": "greater_than", "value": 1000},
        },
    ]
    edges = [
        edge("trigger", "customer"),
        edge("customer", "invoices"),
        edge("invoices", "totals"),
        edge("totals", "summary"),
        edge("summary", "big"),
    ]
    return {"name": name, "trigger": {"type": "manual"}, "nodes": nodes, "edges": edges}


def order_webhook(name="bench: order webhook (n8n peer)"):
    """The n8n peer's workflow; answers with the last step's output when the run completes."""
    order = {
        "orderId": "{{ body.orderId }}",
        "amount": "{{ body.amount }}",
        "amountWithTax": "{{ computed.amountWithTax }}",
        "summary": "{{ body.customer.name }} ordered {{ body.amount }} {{ body.currency }}",
        "email": "{{ body.customer.email }}",
    }
    nodes = [
        {
            "id": "compute",
            "type": "action",
            "action": "calculate",
            "config": {
                "expressions": {"amountWithTax": "round(amount * 1.2, 2)"},
                "inputs": {"amount": "{{ body.amount }}"},
            },
            "outputs": ["computed"],
        },
        {
            "id": "fields",
            "type": "action",
            "action": "transform",
            "config": {
                "operations": [{"op": "pick", "value": order, "fields": list(order), "as": "order"}]
            },
            "outputs": ["fields"],
        },
        {
            "id": "is_large",
            "type": "condition",
            "condition": {
                "field": "{{ fields.order.amount }}",
                "operator": "greater_than",
                "value": 1000,
            },
            "true_branch": ["build_email"],
            "false_branch": ["no_op"],
        },
        {
            "id": "build_email",
            "type": "action",
            "action": "transform",
            "config": {
                "operations": [
                    {
                        "op": "defaults",
                        "value": "{{ fields.order }}",
                        "values": {
                            "branch": "large",
                            "mail": {
                                "to": "{{ fields.order.email }}",
                                "subject": "Large order {{ fields.order.orderId }}",
                                "body": "{{ fields.order.summary }} "
                                "(incl. tax {{ fields.order.amountWithTax }})",
                            },
                        },
                        "as": "order",
                    }
                ]
            },
        },
        {"id": "no_op", "type": "end"},
    ]
    edges = [
        edge("trigger", "compute"),
        edge("compute", "fields"),
        edge("fields", "is_large"),
        edge("is_large", "build_email", "true"),
        edge("is_large", "no_op", "false"),
    ]
    return {
        "name": name,
        "trigger": {"type": "webhook", "config": {"respond": "on_completion"}},
        "nodes": nodes,
        "edges": edges,
    }


def loop_over_records(entity="invoices", name="bench: loop over records"):
    """Query every record of `entity`, then one condition per record inside a loop."""
    nodes = [
        {
            "id": "records",
            "type": "action",
            "action": "query_records",
            "config": {"entity": entity, "filter": {}},
            "outputs": ["records"],
        },
        {
            "id": "each",
            "type": "loop",
            "collection": "{{ records }}",
            "item_variable": "record",
            "body": ["check"],
        },
        {
            "id": "check",
            "type": "condition",
            "condition": {"field": "{{ record.amount }}", "operator": "greater_than", "value": 500},
        },
    ]
    edges = [edge("trigger", "records"), edge("records", "each"), edge("each", "check")]
    return {"name": name, "trigger": {"type": "manual"}, "nodes": nodes, "edges": edges}
