"""Registers the action types that ship with the product."""

from .registry import registry


def register_all():
    from .calculate import Calculate
    from .email import SendEmail
    from .http import HttpRequest, ZapierEvent
    from .notifications import CreateNotification
    from .push import SendPush
    from .quickbooks import QuickBooksSync
    from .record_delete import DeleteRecord
    from .records import CreateRecord, QueryRecords, UpdateRecord
    from .slack import SendSlack
    from .sms import SendSms
    from .stripe_charge import StripeCharge
    from .tickets import CreateTicket
    from .transform import Transform

    for action_class in (QueryRecords, CreateRecord, UpdateRecord, SendEmail, CreateTicket):
        registry.register(action_class)
    for action_class in (SendSms, SendSlack, SendPush, CreateNotification):
        registry.register(action_class)
    for action_class in (HttpRequest, ZapierEvent):
        registry.register(action_class)
    for action_class in (DeleteRecord, Calculate, Transform, StripeCharge, QuickBooksSync):
        registry.register(action_class)
