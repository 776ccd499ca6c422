"""When each schedule form fires: wall-clock times, both DST changes of 2026, month ends."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from triggers.schedule_times import (
    ScheduleConfigError,
    next_fire_time,
    resolve_wall_time,
    schedule_timezone,
)

# 2026: Berlin springs forward on Mar 29 (02:00 -> 03:00) and falls back on Oct 25
# (03:00 -> 02:00); New York on Mar 8 (02:00 -> 03:00) and Nov 1 (02:00 -> 01:00).
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def local(tz, text):
    """An aware instant from a local wall time ("2026-03-29 09:00"); fold=0 when twice."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def shown(instant, tz):
    """How a fire instant reads on the local wall clock, with its offset (None: no more)."""
    return instant and instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %z")


def fire_times(config, tz, start, count):
    """The next `count` fire instants after `start`, each computed from the previous one
    (exactly as the schedule advances after every fire), ending with None if it ends."""
    instants, after = [], local(tz, start)
    for _ in range(count):
        after = next_fire_time(config, tz, after)
        instants.append(after)
        if after is None:
            break
    return instants


CRON_9 = {"cron": "0 9 * * *"}
CRON_0230 = {"cron": "30 2 * * *"}


@pytest.mark.parametrize(
    ("config", "tz", "start", "expected"),
    [
        # 09:00 stays 09:00 local on the day before, the day of and the day after each change.
        (CRON_9, BERLIN, "2026-03-27 12:00",
         ["2026-03-28 09:00 +0100", "2026-03-29 09:00 +0200", "2026-03-30 09:00 +0200"]),
        (CRON_9, BERLIN, "2026-10-23 12:00",
         ["2026-10-24 09:00 +0200", "2026-10-25 09:00 +0100", "2026-10-26 09:00 +0100"]),
        (CRON_9, NEW_YORK, "2026-03-06 12:00",
         ["2026-03-07 09:00 -0500", "2026-03-08 09:00 -0400", "2026-03-09 09:00 -0400"]),
        (CRON_9, NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 09:00 -0400", "2026-11-01 09:00 -0500", "2026-11-02 09:00 -0500"]),
        # 02:30 does not exist on spring-forward days: once, at the end of the gap (03:00).
        (CRON_0230, BERLIN, "2026-03-27 12:00",
         ["2026-03-28 02:30 +0100", "2026-03-29 03:00 +0200", "2026-03-30 02:30 +0200"]),
        (CRON_0230, NEW_YORK, "2026-03-06 12:00",
         ["2026-03-07 02:30 -0500", "2026-03-08 03:00 -0400", "2026-03-09 02:30 -0400"]),
        # Berlin repeats 02:00-03:00 on Oct 25: 02:30 once, at its first (summer-time) pass.
        (CRON_0230, BERLIN, "2026-10-23 12:00",
         ["2026-10-24 02:30 +0200", "2026-10-25 02:30 +0200", "2026-10-26 02:30 +0100"]),
        # New York repeats 01:00-02:00 on Nov 1, so its 02:30 is ordinary, and 01:30 is the
        # wall time that occurs twice.
        (CRON_0230, NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 02:30 -0400", "2026-11-01 02:30 -0500", "2026-11-02 02:30 -0500"]),
        ({"cron": "30 1 * * *"}, NEW_YORK, "2026-10-30 12:00",
         ["2026-10-31 01:30 -0400", "2026-11-01 01:30 -0400", "2026-11-02 01:30 -0500"]),
        # Wall times swallowed by the gap land on its end once, not once each.
        ({"cron": "*/30 * * * *"}, BERLIN, "2026-03-29 01:00",
         ["2026-03-29 01:30 +0100", "2026-03-29 03:00 +0200", "2026-03-29 03:30 +0200"]),
        # The repeated hour runs on its first pass only (documented; `interval` is real time).
        ({"cron": "*/30 * * * *"}, BERLIN, "2026-10-25 01:45",
         ["2026-10-25 02:00 +0200", "2026-10-25 02:30 +0200", "2026-10-25 03:00 +0100"]),
        # The seed's Monday report, in the project's zone and in New York.
        ({"cron": "0 9 * * 1"}, "UTC", "2026-03-04 10:00",
         ["2026-03-09 09:00 +0000", "2026-03-16 09:00 +0000"]),
        ({"cron": "0 9 * * 1", "timezone": NEW_YORK}, NEW_YORK, "2026-03-04 10:00",
         ["2026-03-09 09:00 -0400", "2026-03-16 09:00 -0400"]),
        # daily, weekly and monthly are wall times too.
        ({"daily": {"at": "09:00"}}, BERLIN, "2026-03-28 09:00",
         ["2026-03-29 09:00 +0200", "2026-03-30 09:00 +0200"]),
        ({"daily": {"at": "02:30"}}, NEW_YORK, "2026-03-07 12:00",
         ["2026-03-08 03:00 -0400", "2026-03-09 02:30 -0400"]),
        ({"weekly": {"days": ["mon", "thu"], "at": "09:00"}}, BERLIN, "2026-03-01 00:00",
         ["2026-03-02 09:00 +0100", "2026-03-05 09:00 +0100", "2026-03-09 09:00 +0100",
          "2026-03-12 09:00 +0100"]),
        ({"weekly": {"days": ["sun"], "at": "02:30"}}, BERLIN, "2026-10-20 00:00",
         ["2026-10-25 02:30 +0200", "2026-11-01 02:30 +0100"]),
        # A monthly day past the month's end is its last day (and 2028 is a leap year).
        ({"monthly": {"day": 31, "at": "08:30"}}, BERLIN, "2026-01-15 00:00",
         ["2026-01-31 08:30 +0100", "2026-02-28 08:30 +0100", "2026-03-31 08:30 +0200",
          "2026-04-30 08:30 +0200", "2026-05-31 08:30 +0200"]),
        ({"monthly": {"day": 30, "at": "00:00"}}, "UTC", "2028-02-01 00:00",
         ["2028-02-29 00:00 +0000", "2028-03-30 00:00 +0000"]),
        ({"monthly": {"day": 15, "at": "12:00"}}, "UTC", "2026-12-20 00:00",
         ["2027-01-15 12:00 +0000", "2027-02-15 12:00 +0000"]),
        # An interval counts absolute time: a day after 09:00 CET is 10:00 CEST.
        ({"interval": {"every": 1, "unit": "days"}}, BERLIN, "2026-03-28 09:00",
         ["2026-03-29 10:00 +0200", "2026-03-30 10:00 +0200"]),
        ({"interval": {"every": 4, "unit": "hours"}}, "UTC", "2026-05-01 22:00",
         ["2026-05-02 02:00 +0000", "2026-05-02 06:00 +0000"]),
        ({"interval": {"every": 15, "unit": "minutes"}}, NEW_YORK, "2026-11-01 01:50",
         ["2026-11-01 01:05 -0500", "2026-11-01 01:20 -0500"]),
        # once: that instant, then nothing; a local `at` is read in the schedule's zone.
        ({"once": {"at": "2026-12-24T17:00:00+01:00"}}, NEW_YORK, "2026-12-01 00:00",
         ["2026-12-24 11:00 -0500", None]),
        ({"once": {"at": "2026-12-24T17:00:00"}}, BERLIN, "2026-12-01 00:00",
         ["2026-12-24 17:00 +0100", None]),
        ({"once": {"at": "2026-03-29T02:30"}}, BERLIN, "2026-03-01 00:00",
         ["2026-03-29 03:00 +0200", None]),
        ({"once": {"at": "2026-12-24T17:00:00Z"}}, "UTC", "2026-12-24 17:00", [None]),
        ({"once": {"at": "2026-12-24T17:00:00Z"}}, "UTC", "2027-01-01 00:00", [None]),
        # A valid expression for a day that never comes never fires.
        ({"cron": "0 0 31 2 *"}, "UTC", "2026-01-01 00:00", [None]),
    ],
)  # fmt: skip
def test_fire_times(config, tz, start, expected):
    assert [shown(t, tz) for t in fire_times(config, tz, start, len(expected))] == expected


@pytest.mark.parametrize(
    ("tz", "day", "cron"),
    [
        (BERLIN, "2026-03-29", "30 2 * * *"),
        (BERLIN, "2026-10-25", "30 2 * * *"),
        (NEW_YORK, "2026-03-08", "30 2 * * *"),
        (NEW_YORK, "2026-11-01", "30 2 * * *"),
        (NEW_YORK, "2026-11-01", "30 1 * * *"),
        (BERLIN, "2026-03-29", "0 9 * * *"),
        (BERLIN, "2026-10-25", "0 9 * * *"),
        (NEW_YORK, "2026-03-08", "0 9 * * *"),
        (NEW_YORK, "2026-11-01", "0 9 * * *"),
    ],
)
def test_a_daily_job_runs_exactly_once_on_a_change_day(tz, day, cron):
    zone = ZoneInfo(tz)
    first = dt.date.fromisoformat(day)
    instants = fire_times({"cron": cron}, tz, f"{first - dt.timedelta(days=2)} 12:00", 6)
    on_the_day = [t for t in instants if t.astimezone(zone).date() == first]
    assert len(on_the_day) == 1
    assert len(set(instants)) == len(instants)
    assert instants == sorted(instants)


@pytest.mark.parametrize(
    ("tz", "wall", "utc"),
    [
        (BERLIN, "2026-03-29 01:59", "2026-03-29 00:59"),  # just before the gap
        (BERLIN, "2026-03-29 02:00", "2026-03-29 01:00"),  # in the gap -> its end, 03:00 CEST
        (BERLIN, "2026-03-29 02:59:59", "2026-03-29 01:00"),
        (BERLIN, "2026-03-29 03:00", "2026-03-29 01:00"),
        (BERLIN, "2026-10-25 02:30", "2026-10-25 00:30"),  # twice -> the first, 02:30 CEST
        (BERLIN, "2026-10-25 03:00", "2026-10-25 02:00"),
        (NEW_YORK, "2026-03-08 02:30", "2026-03-08 07:00"),  # 03:00 EDT
        (NEW_YORK, "2026-11-01 01:30", "2026-11-01 05:30"),  # 01:30 EDT
        ("Australia/Lord_Howe", "2026-10-04 02:10", "2026-10-03 15:30"),  # a 30-minute gap
    ],
)
def test_resolve_wall_time(tz, wall, utc):
    instant = resolve_wall_time(dt.datetime.fromisoformat(wall), tz)
    assert instant == dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC)


def test_an_interval_keeps_the_rhythm_of_its_last_fire():
    config = {"interval": {"every": 4, "unit": "hours"}}
    last_fire = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)
    # Long after the last fire (a pause, an outage): the next step of the same rhythm.
    after = dt.datetime(2026, 5, 1, 14, 30, tzinfo=dt.UTC)
    assert next_fire_time(config, "UTC", after, anchor=last_fire) == dt.datetime(
        2026, 5, 1, 17, 0, tzinfo=dt.UTC
    )
    # Exactly on a step: strictly after it.
    on_step = dt.datetime(2026, 5, 1, 5, 0, tzinfo=dt.UTC)
    assert next_fire_time(config, "UTC", on_step, anchor=last_fire) == on_step + dt.timedelta(
        hours=4
    )


def test_an_interval_without_anchor_starts_counting_at_whole_seconds():
    after = dt.datetime(2026, 5, 1, 12, 0, 3, 654321, tzinfo=dt.UTC)
    nxt = next_fire_time({"interval": {"every": 10, "unit": "minutes"}}, "UTC", after)
    assert nxt == dt.datetime(2026, 5, 1, 12, 10, 3, tzinfo=dt.UTC)


def test_results_are_utc():
    nxt = next_fire_time(CRON_9, BERLIN, local(BERLIN, "2026-07-01 00:00"))
    assert nxt.utcoffset() == dt.timedelta(0)
    assert nxt == dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("config", "workflow_tz", "expected"),
    [
        ({"cron": "0 9 * * *", "timezone": NEW_YORK}, BERLIN, NEW_YORK),
        ({"cron": "0 9 * * *"}, BERLIN, BERLIN),
        ({"cron": "0 9 * * *"}, "", "Asia/Tokyo"),  # the project's TIME_ZONE
    ],
)
def test_schedule_timezone(settings, config, workflow_tz, expected):
    settings.TIME_ZONE = "Asia/Tokyo"
    assert schedule_timezone(config, workflow_tz) == expected


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "exactly one of"),
        ({"cron": "0 9 * * *", "daily": {"at": "09:00"}}, "exactly one of"),
        ({"cron": "61 9 * * *"}, "not a valid cron"),
        ({"daily": {"at": "9 o'clock"}}, "HH:MM"),
        ({"daily": {"at": "25:00"}}, "HH:MM"),
        ({"weekly": {"days": ["monday"], "at": "09:00"}}, "unknown weekdays"),
        ({"weekly": {"days": [], "at": "09:00"}}, "weekly.days"),
        ({"monthly": {"day": 32, "at": "09:00"}}, "1 to 31"),
        ({"interval": {"every": 0, "unit": "hours"}}, "interval.every"),
        ({"interval": {"every": 2, "unit": "weeks"}}, "interval.unit"),
        ({"once": {"at": "next Tuesday"}}, "ISO 8601"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_configs_that_cannot_be_evaluated_say_why(config, message):
    tz = config.get("timezone", "UTC")
    with pytest.raises(ScheduleConfigError, match=message):
        next_fire_time(config, tz, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


def test_after_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        next_fire_time(CRON_9, "UTC", dt.datetime(2026, 1, 1))
