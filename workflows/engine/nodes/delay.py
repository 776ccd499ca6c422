"""Durable delays: the run parks as `waiting` and the resume task wakes it up.

`duration` adds seconds/minutes/hours/days/weeks to now; `until` names a date (start of that
day in the workflow's timezone) or a datetime. A moment already past continues at once.
"""

import datetime

from ...variables import ExpressionError
from ..outcome import Outcome, error_info
from .base import NodeHandler, expression_failure

UNITS = ("seconds", "minutes", "hours", "days", "weeks")


def parse_moment(value, tz):
    """A date or datetime (object or ISO 8601 text) as an aware datetime."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time())
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{value}' is not an ISO 8601 date or datetime") from None
        if len(text) == 10:  # a date alone: the start of that day
            moment = datetime.datetime.combine(moment.date(), datetime.time())
    else:
        raise ValueError(f"expected a date or datetime, got {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment


class DelayNode(NodeHandler):
    type = "delay"

    def execute(self, step):
        node, now = step.node, step.run.now()
        try:
            if node.get("until") is not None:
                until = parse_moment(step.render(node["until"]), step.run.tz)
                field = "until"
            else:
                duration = step.render(node.get("duration") or {})
                field = "duration"
                until = now + datetime.timedelta(
                    **{unit: float(duration.get(unit) or 0) for unit in UNITS}
                )
        except ExpressionError as exc:
            return expression_failure(step, exc, "until" if "until" in node else "duration")
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            return Outcome(
                status="failed",
                error=error_info("delay", f"{field}: {exc}", step.node_id),
            )
        resolved = {"until": until.isoformat()}
        if until <= now:
            return Outcome(input=resolved, output={"waited_until": until.isoformat()})
        return Outcome(input=resolved, wait_until=until)
