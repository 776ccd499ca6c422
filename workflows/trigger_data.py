"""What each kind of trigger hands a run: the known top-level keys of its trigger data.

The validator uses this to tell an error (a variable an event's payload never has) from a
warning (a variable that free-form input, such as manual input or a webhook body, may have).
"""

WEBHOOK_KEYS = {"body", "headers", "query", "method"}
SCHEDULE_KEYS = {"scheduled_at", "fired_at"}


def known_keys(trigger):
    """The set of top-level keys, or None when the data is free-form (manual input)."""
    trigger = trigger or {}
    kind = trigger.get("type", "manual")
    if kind == "event":
        from triggers.catalog import UnknownEvent, payload_keys

        try:
            return payload_keys(trigger.get("event"))
        except UnknownEvent:
            return None
    if kind == "schedule":
        return set(SCHEDULE_KEYS)
    if kind == "webhook":
        return set(WEBHOOK_KEYS)
    return None
