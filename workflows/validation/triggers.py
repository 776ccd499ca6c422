"""Trigger checks the schema cannot make: the event exists, the cron expression parses, the
dates and time zones are real, and a webhook answers with the output of a node that exists."""

import datetime as dt
import zoneinfo

from croniter import croniter

from triggers.catalog import UnknownEvent, all_events, get_event


def check(context):
    _time_zone(context, ("timezone",), context.definition.get("timezone"))
    trigger = context.trigger
    kind = trigger.get("type")
    if kind == "event":
        _event(context, trigger)
    config = trigger.get("config")
    if not isinstance(config, dict):
        return
    if kind == "schedule":
        _schedule(context, config)
    elif kind == "webhook":
        _response_node(context, config)


def _time_zone(context, path, name):
    if not isinstance(name, str) or not name or context.flagged(*path):
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        context.error(path, f"unknown time zone '{name}' (use an IANA name such as Europe/Berlin)")


def _event(context, trigger):
    name = trigger.get("event")
    if not isinstance(name, str) or context.flagged("trigger", "event"):
        return
    try:
        get_event(name)
    except UnknownEvent as exc:
        context.error(("trigger", "event"), f"{exc} (known: {', '.join(sorted(all_events()))})")


def _schedule(context, config):
    base = ("trigger", "config")
    _time_zone(context, (*base, "timezone"), config.get("timezone"))
    cron = config.get("cron")
    checkable = isinstance(cron, str) and not context.flagged(*base, "cron")
    if checkable and not croniter.is_valid(cron.strip()):
        context.error((*base, "cron"), f"'{cron}' is not a valid cron expression")
    once = config.get("once")
    at = once.get("at") if isinstance(once, dict) else None
    if isinstance(at, str) and not context.flagged(*base, "once", "at"):
        try:
            dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            context.error((*base, "once", "at"), f"'{at}' is not a real date and time")


def _response_node(context, config):
    path = ("trigger", "config", "response_node")
    node_id = config.get("response_node")
    known = not isinstance(node_id, str) or node_id in context.graph.nodes
    if not known and not context.flagged(*path):
        context.error(path, f"unknown node '{node_id}'")
