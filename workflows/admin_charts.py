"""The runs-per-day chart on a workflow's admin page: one aggregated query, drawn as SVG.

A bar per day over the last 30 days (height = runs, colour = the share that succeeded)
reads faster than a table. Drawing it on the server needs no JavaScript library: this
module counts the runs and computes the shapes, and the template
`admin/workflows/workflow/runs_chart.html` only places them.

Only live runs count; test-mode runs are simulations from the builder, not the workflow's
record. Days are local days of the project's time zone.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import Execution

DAYS = 30
# The drawing, in SVG user units: bars live in PLOT_HEIGHT, labels below and to the left.
WIDTH, PLOT_HEIGHT, LEFT, BOTTOM = 640, 120, 32, 20
BAR_GAP = 2
MIN_BAR_HEIGHT = 2  # a day with one run beside a day with a thousand must still show

# (lowest success rate, colour, legend): the first row whose rate the day reaches wins.
BANDS = (
    (90, "#2e7d32", "90% or more succeeded"),
    (50, "#f9a825", "50 to 90% succeeded"),
    (0, "#c62828", "less than 50% succeeded"),
)
UNFINISHED_COLOUR = "#9e9e9e"  # runs of that day are all still going: no rate yet


@dataclass(frozen=True)
class Day:
    date: dt.date
    runs: int = 0
    succeeded: int = 0
    finished: int = 0

    @property
    def success_rate(self):
        """Percentage of the finished runs that completed, or None before any finished."""
        return round(100 * self.succeeded / self.finished, 1) if self.finished else None


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    label: str
    day: dt.date


def runs_per_day(workflow, *, days=DAYS, now=None):
    """A Day for each of the last `days` local days, oldest first, from one query."""
    zone = timezone.get_current_timezone()
    today = timezone.localdate(now or timezone.now(), zone)
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=zone)
    rows = (
        Execution.objects.filter(workflow=workflow, mode=Execution.Mode.LIVE, created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day")
        .annotate(
            runs=Count("id"),
            succeeded=Count("id", filter=Q(status=Execution.Status.COMPLETED)),
            finished=Count("id", filter=Q(status__in=Execution.FINISHED)),
        )
        # The model's default ordering would split the groups by created_at.
        .order_by()
    )
    counted = {row["day"]: row for row in rows}
    result = []
    for offset in range(days):
        date = first + dt.timedelta(days=offset)
        row = counted.get(date, {})
        result.append(
            Day(
                date=date,
                runs=row.get("runs", 0),
                succeeded=row.get("succeeded", 0),
                finished=row.get("finished", 0),
            )
        )
    return result


def colour_for(rate):
    if rate is None:
        return UNFINISHED_COLOUR
    return next(colour for floor, colour, _ in BANDS if rate >= floor)


def describe_day(day):
    runs = f"{day.runs} run" + ("" if day.runs == 1 else "s")
    if day.success_rate is None:
        return f"{day.date:%a %d %b}: {runs}, none finished yet"
    return f"{day.date:%a %d %b}: {runs}, {day.success_rate:g}% succeeded"


def runs_chart(workflow, *, days=DAYS, now=None):
    """What the chart template draws: bars, axis labels and a one-line summary."""
    series = runs_per_day(workflow, days=days, now=now)
    busiest = max(day.runs for day in series)
    slot = (WIDTH - LEFT) / len(series)
    bars = []
    for index, day in enumerate(series):
        if not day.runs:
            continue
        height = max(MIN_BAR_HEIGHT, PLOT_HEIGHT * day.runs / busiest)
        bars.append(
            Bar(
                x=round(LEFT + index * slot + BAR_GAP / 2, 2),
                y=round(PLOT_HEIGHT - height, 2),
                width=round(slot - BAR_GAP, 2),
                height=round(height, 2),
                colour=colour_for(day.success_rate),
                label=describe_day(day),
                day=day.date,
            )
        )
    total = Day(
        date=series[-1].date,
        runs=sum(day.runs for day in series),
        succeeded=sum(day.succeeded for day in series),
        finished=sum(day.finished for day in series),
    )
    return {
        "days": days,
        "bars": bars,
        "busiest": busiest,
        "width": WIDTH,
        "height": PLOT_HEIGHT + BOTTOM,
        "plot_height": PLOT_HEIGHT,
        "left": LEFT,
        "first_day": series[0].date,
        "last_day": series[-1].date,
        "legend": [(colour, text) for _, colour, text in BANDS]
        + [(UNFINISHED_COLOUR, "still running")],
        "summary": _summary(total, days),
    }


def _summary(total, days):
    if not total.runs:
        return f"No runs in the last {days} days."
    runs = f"{total.runs} run" + ("" if total.runs == 1 else "s")
    if total.success_rate is None:
        return f"{runs} in the last {days} days, none finished yet."
    return (
        f"{runs} in the last {days} days; {total.success_rate:g}% of the finished ones succeeded."
    )
