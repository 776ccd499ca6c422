"""Registers the action types that ship with the product."""

from .registry import registry


def register_all():
    from .email import SendEmail
    from .records import CreateRecord, QueryRecords, UpdateRecord
    from .tickets import CreateTicket

    for action_class in (QueryRecords, CreateRecord, UpdateRecord, SendEmail, CreateTicket):
        registry.register(action_class)
