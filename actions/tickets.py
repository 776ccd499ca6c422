"""create_ticket: open a support ticket, e.g. for a collections team."""

from crm.models import Customer, Ticket
from workflows.records import registry

from .registry import ActionError, ActionType


class CreateTicket(ActionType):
    """Open a ticket with a subject and priority, assigned to a team."""

    key = "create_ticket"
    label = "Create ticket"
    category = "data"
    icon = "ticket"
    color = "#7c3aed"
    outputs = ["ticket"]
    transactional = True
    config_schema = {
        "type": "object",
        "required": ["subject"],
        "additionalProperties": False,
        "properties": {
            "subject": {"type": "string", "title": "Subject", "minLength": 1, "templated": True},
            "description": {"type": "string", "title": "Description", "templated": True},
            "priority": {
                "type": "string",
                "enum": list(Ticket.Priority.values),
                "default": "normal",
                "title": "Priority",
            },
            "assign_to": {"type": "string", "title": "Team", "templated": True},
            "customer": {
                "type": ["integer", "string", "object", "null"],
                "title": "Customer (id or record)",
            },
        },
    }

    def _fields(self, config):
        priority = config.get("priority") or Ticket.Priority.NORMAL
        if priority not in Ticket.Priority.values:
            raise ActionError(
                f"priority: '{priority}' is not one of {', '.join(Ticket.Priority.values)}",
                kind="invalid_config",
            )
        subject = str(config.get("subject") or "").strip()
        if not subject:
            raise ActionError("subject: a ticket needs a subject", kind="invalid_config")
        customer = config.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        if customer_id not in (None, ""):
            if not Customer.objects.filter(pk=customer_id).exists():
                raise ActionError(
                    f"customer: no customer with id {customer_id!r}", kind="not_found"
                )
        else:
            customer_id = None
        return {
            "subject": subject[:300],
            "description": str(config.get("description") or ""),
            "priority": priority,
            "assigned_to": str(config.get("assign_to") or ""),
            "customer_id": customer_id,
        }

    def run(self, config, context):
        ticket = Ticket.objects.create(**self._fields(config))
        return registry.for_model(Ticket).to_json(ticket)

    def simulate(self, config, context):
        return {"simulated": True, "would_create": self._fields(config)}
