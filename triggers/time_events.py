"""The periodic sweep for events that come from the passing of time, not from a write.

`invoice.overdue`: a sent invoice whose due date has passed (by the application's clock, in
the project's time zone). `contract.expiring`: an active contract whose end date is at most
CONTRACT_EXPIRING_DAYS (default 30) days away. Each fires once per record and occasion
(the invoice and its due date; the contract and its end date): the occasion key is unique
in the event table, so a sweep that runs twice, or two that run at once, emit it once, and
a record whose due date moves fires again for the new date.

Records are read in batches by primary key, each batch in its own transaction: a sweep
interrupted half-way loses nothing, the next one carries on.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.records import registry

from . import catalog, outbox
from .models import Event

BATCH_SIZE = 500


def contract_expiring_days():
    return int(getattr(settings, "CONTRACT_EXPIRING_DAYS", 30))


@dataclass(frozen=True)
class TimeRule:
    """A timed event and the records it is due for on a given day."""

    event: str
    due: Callable[[datetime.date], Q]  # today -> which records it is due for


RULES = (
    TimeRule("invoice.overdue", lambda today: Q(status="sent", due_date__lt=today)),
    TimeRule(
        "contract.expiring",
        lambda today: Q(
            status="active",
            end_date__gte=today,
            end_date__lte=today + datetime.timedelta(days=contract_expiring_days()),
        ),
    ),
)


def sweep(now=None):
    """Emit every timed event that is due and has not fired for its occasion yet; returns
    how many were emitted."""
    today = timezone.localdate(now or timezone.now())
    emitted = 0
    for rule in RULES:
        try:
            event_type = catalog.get_event(rule.event)
        except catalog.UnknownEvent:
            continue  # its record type is not registered in this project
        emitted += _sweep_rule(event_type, rule.due(today))
    return emitted


def _sweep_rule(event_type, due):
    record_type = registry.get(event_type.record)
    queryset = record_type.queryset().filter(due).order_by("pk")
    emitted, last_pk = 0, None
    while True:
        batch_query = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
        batch = list(batch_query[:BATCH_SIZE])
        if not batch:
            return emitted
        last_pk = batch[-1].pk
        occasions = {record.pk: event_type.occasion(record) for record in batch}
        fired = set(
            Event.objects.filter(occasion__in=occasions.values()).values_list("occasion", flat=True)
        )
        with transaction.atomic():
            for record in batch:
                if occasions[record.pk] in fired:
                    continue
                if outbox.emit(event_type.name, record, occasion=occasions[record.pk]):
                    emitted += 1
