"""When a schedule fires next: its wall-clock rules turned into absolute UTC instants.

django-celery-beat's crontab handling misfires around daylight-saving changes (its issues
#134, #194, #604), so beat never does calendar arithmetic for us: we compute each next instant
here, with zoneinfo, and hand beat only an absolute time (a ClockedSchedule).

The rules, for every schedule form of DEFINITION.md ("Triggers"):

- Times are wall-clock times in the schedule's time zone: `config["timezone"]`, else the
  workflow's `timezone`, else `settings.TIME_ZONE`. A 09:00 job runs at 09:00 local time on
  both daylight-saving change days (so 24 hours apart is not 09:00 to 09:00 on those days).
- A wall time that does not exist that day (02:30 on the spring-forward day in Europe/Berlin
  or America/New_York, where the clocks jump from 02:00 to 03:00) runs once, at the first
  instant after the gap: 03:00 local time.
- A wall time that occurs twice (02:30 on Berlin's fall-back day, 01:30 on New York's) runs
  once, at its first occurrence (`fold=0`, still on summer time). A consequence for frequent
  cron jobs: `*/15 * * * *` runs during the first pass of the repeated hour and not during
  the second; `interval` is the form for "every N minutes of real time".
- Several wall times that land on one instant (the whole gap lands on its end) fire once.
- cron (five fields, via croniter) is evaluated on naive local wall times, which we resolve
  ourselves; croniter never sees an aware datetime, so it does no DST arithmetic of its own.
- daily {at}, weekly {days, at} and monthly {day, at} are wall times too; a monthly day past
  the month's end means its last day (31 -> Feb 28 or 29, Apr 30).
- interval {every, unit}: every N minutes, hours or days of absolute time (86,400 seconds to a
  day, so a daily interval drifts by an hour against the wall clock across a change; `daily`
  does not), measured from an anchor: the last fire, else the moment of activation.
- once {at}: that instant (an `at` without an offset is a local wall time); nothing after it.

Every function here is pure apart from `schedule_timezone`, which reads the settings.
"""

import calendar
import datetime as dt
import math
import zoneinfo
from collections.abc import Iterable, Iterator

from croniter import CroniterBadDateError, croniter
from django.conf import settings

KINDS = ("cron", "interval", "daily", "weekly", "monthly", "once")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400}

# A gap folds at most a day of per-minute wall times (Samoa skipped 2011-12-30) onto one
# instant; beyond this many candidates a schedule is looking for a time that never comes.
MAX_CANDIDATES = 10_000


class ScheduleConfigError(ValueError):
    """A schedule config that cannot be evaluated; the message says which part and why."""


def schedule_kind(config):
    """The one form a schedule config uses ("cron", "interval", ...)."""
    kinds = [kind for kind in KINDS if kind in (config or {})]
    if len(kinds) != 1:
        raise ScheduleConfigError(
            f"a schedule needs exactly one of {', '.join(KINDS)}; got {kinds or 'none'}"
        )
    return kinds[0]


def schedule_timezone(config, workflow_timezone=""):
    """The IANA name the schedule's wall times are read in."""
    return (config or {}).get("timezone") or workflow_timezone or settings.TIME_ZONE


def as_zone(tz):
    if isinstance(tz, zoneinfo.ZoneInfo):
        return tz
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleConfigError(f"unknown time zone '{tz}'") from exc


def next_fire_time(config, tz, after, *, anchor=None):
    """The first instant strictly after `after` at which the schedule fires, in UTC, or None
    when it never fires again (a past `once`, a cron date that never comes).

    `anchor` only matters to `interval`: the instant its steps are counted from (the last
    fire); without one the first step is counted from `after`.
    """
    if after.tzinfo is None:
        raise ValueError("`after` must be an aware datetime")
    zone = as_zone(tz)
    kind = schedule_kind(config)
    spec = config[kind]
    if kind == "interval":
        return _next_interval(spec, after, anchor)
    if kind == "once":
        at = _once_instant(spec, zone)
        return at if at > after else None
    start = after.astimezone(zone).replace(tzinfo=None)
    try:
        return first_instant_after(_wall_times(kind, spec, start), zone, after)
    except CroniterBadDateError:
        return None  # a valid expression for a date that never comes ("0 0 31 2 *")


def resolve_wall_time(wall, tz):
    """The UTC instant of a naive local wall time: its first occurrence when it occurs twice,
    the first instant after the gap when it does not occur at all."""
    zone = as_zone(tz)
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    return _end_of_gap(wall, zone)


def first_instant_after(wall_times: Iterable[dt.datetime], tz, after):
    """The first of these increasing wall times whose instant lies after `after`.

    Resolution never runs backwards (a later wall time never maps to an earlier instant), so
    the first hit is the answer, and wall times that collapse onto an instant already past
    are passed over: that is how a gap's wall times fire once, not once each.
    """
    zone = as_zone(tz)
    for count, wall in enumerate(wall_times):
        if count >= MAX_CANDIDATES:
            return None
        instant = resolve_wall_time(wall, zone)
        if instant > after:
            return instant
    return None


# -- the forms ------------------------------------------------------------------------------


def _wall_times(kind, spec, start) -> Iterator[dt.datetime]:
    """Candidate wall times, increasing, from around `start` (earlier ones are filtered out
    by their instant, so starting a little early is harmless)."""
    if kind == "cron":
        return _cron_wall_times(spec, start)
    at = parse_time_of_day(spec.get("at") if isinstance(spec, dict) else None)
    if kind == "daily":
        return (dt.datetime.combine(day, at) for day in _days_from(start.date()))
    if kind == "weekly":
        weekdays = parse_weekdays(spec.get("days"))
        return (
            dt.datetime.combine(day, at)
            for day in _days_from(start.date())
            if day.weekday() in weekdays
        )
    if kind == "monthly":
        return (dt.datetime.combine(day, at) for day in _monthly_days(spec.get("day"), start))
    raise ScheduleConfigError(f"unknown schedule form '{kind}'")  # pragma: no cover


def _cron_wall_times(expression, start):
    if not isinstance(expression, str) or not croniter.is_valid(expression.strip()):
        raise ScheduleConfigError(f"'{expression}' is not a valid cron expression")
    # Naive on purpose: croniter then counts wall-clock minutes and leaves DST to us.
    iterator = croniter(expression.strip(), start)
    while True:
        yield iterator.get_next(dt.datetime)


def _days_from(day):
    while True:
        yield day
        day += dt.timedelta(days=1)


def _monthly_days(day_of_month, start):
    if not isinstance(day_of_month, int) or not 1 <= day_of_month <= 31:
        raise ScheduleConfigError(f"monthly day must be 1 to 31, not {day_of_month!r}")
    year, month = start.year, start.month
    while True:
        last = calendar.monthrange(year, month)[1]
        yield dt.date(year, month, min(day_of_month, last))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _next_interval(spec, after, anchor):
    every = spec.get("every") if isinstance(spec, dict) else None
    unit = spec.get("unit") if isinstance(spec, dict) else None
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise ScheduleConfigError(f"interval.every must be a whole number >= 1, not {every!r}")
    if unit not in UNIT_SECONDS:
        raise ScheduleConfigError(
            f"interval.unit must be one of {', '.join(UNIT_SECONDS)}, not {unit!r}"
        )
    step = dt.timedelta(seconds=every * UNIT_SECONDS[unit])
    if anchor is None:
        # Whole seconds keep the instants readable and equal across their round trips.
        return after.astimezone(dt.UTC).replace(microsecond=0) + step
    anchor = anchor.astimezone(dt.UTC)
    steps = max(1, (after - anchor) // step + 1)
    return anchor + steps * step


def _once_instant(spec, zone):
    at = spec.get("at") if isinstance(spec, dict) else None
    try:
        moment = dt.datetime.fromisoformat(str(at).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ScheduleConfigError(f"once.at '{at}' is not an ISO 8601 date and time") from exc
    if moment.tzinfo is None:
        return resolve_wall_time(moment, zone)
    return moment.astimezone(dt.UTC)


def _end_of_gap(wall, zone):
    # In a gap, fold=1 reads the wall time with the new offset and lands before the jump;
    # fold=0 reads it with the old offset and lands after it. Offsets change on whole
    # seconds, so bisecting the seconds in between finds the jump exactly.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(dt.UTC).replace(microsecond=0)
    after = wall.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    old_offset = before.astimezone(zone).utcoffset()
    low, high = 0, math.ceil((after - before).total_seconds())
    while low < high:
        middle = (low + high) // 2
        if (before + dt.timedelta(seconds=middle)).astimezone(zone).utcoffset() == old_offset:
            low = middle + 1
        else:
            high = middle
    return before + dt.timedelta(seconds=low)


# -- parsing the parts ----------------------------------------------------------------------


def parse_time_of_day(text):
    """ "09:00" -> time(9, 0)."""
    try:
        hours, minutes = str(text).split(":")
        return dt.time(int(hours), int(minutes))
    except (ValueError, TypeError) as exc:
        raise ScheduleConfigError(f"'{text}' is not a time of day as HH:MM") from exc


def parse_weekdays(days):
    """["mon", "thu"] -> {0, 3} (Python's weekday numbers)."""
    if not isinstance(days, list) or not days:
        raise ScheduleConfigError("weekly.days must be a list such as ['mon', 'thu']")
    unknown = [day for day in days if day not in WEEKDAYS]
    if unknown:
        raise ScheduleConfigError(f"unknown weekdays {unknown}; use {', '.join(WEEKDAYS)}")
    return {WEEKDAYS.index(day) for day in days}
