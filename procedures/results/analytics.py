"""Turnaround analytics: how long each test type takes at each lab.

Turnaround is counted in working days (weekends and clinic holidays skipped),
like the targets: from the clinic day of collection to the clinic day of the
first final result. A result logged on the day of collection is 0 days.
Percentiles interpolate linearly between the closest ranks (the "inclusive"
method of `statistics.quantiles`, the same as numpy's default).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _

from procedures.catalog.clock import clinic_datetime, clinic_tz
from procedures.catalog.models import ClinicHoliday, TestType
from procedures.results.models import TestOrder


@dataclass
class TurnaroundRow:
    test_type: str
    lab: str
    target_days: int
    count: int
    median: float
    p90: float
    within_target: float  # share, 0..1

    @property
    def within_target_percent(self) -> int:
        return round(self.within_target * 100)


def working_days_between(start: date, end: date, holidays: set[date]) -> int:
    """Working days after `start` up to and including `end`."""
    days, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            days += 1
    return days


def percentile(values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (inclusive method)."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# The turnaround table's columns, on the turnaround page's CSV and the dashboard's.
TURNAROUND_COLUMNS = (
    _("Test"),
    _("Lab"),
    _("Target (working days)"),
    _("Results"),
    _("Median (working days)"),
    _("90th percentile (working days)"),
    _("Within target (%)"),
)


def weighted_percentile(histogram: list[tuple[float, int]], fraction: float) -> float | None:
    """`percentile` (inclusive method) over values with counts."""
    ordered = sorted((value, count) for value, count in histogram if count)
    total = sum(count for _value, count in ordered)
    if not total:
        return None
    position = (total - 1) * fraction
    low_rank, high_rank = int(position), min(int(position) + 1, total - 1)

    def at(rank: int) -> float:
        seen = 0
        for value, count in ordered:
            seen += count
            if rank < seen:
                return float(value)
        return float(ordered[-1][0])

    low, high = at(low_rank), at(high_rank)
    return low + (high - low) * (position - low_rank)


def final_results(*, start: date, end: date) -> QuerySet[TestOrder]:
    """Test orders whose first final result was logged from `start` to `end` (clinic
    days, inclusive), collected."""
    since: datetime = clinic_datetime(start, time.min)
    until: datetime = clinic_datetime(end + timedelta(days=1), time.min)
    return TestOrder.objects.filter(
        final_at__gte=since, final_at__lt=until, collected_at__isnull=False
    )


class TurnaroundPair(NamedTuple):
    """Final results of one test collected on one clinic day and final on another."""

    test_type_id: int
    collected_on: date
    final_on: date
    finals: int


def turnaround_pairs(orders: QuerySet[TestOrder]) -> list[TurnaroundPair]:
    """The final results `orders` holds, grouped in SQL by test and (collection day,
    final day), in the current zone: a network's quarter is hundreds of thousands of
    results, which read one by one took 48 s (issue 18); the pairs are a few thousand
    rows. By the test's id, counting rows (not ids): a site's results are then read from
    its covering index alone (testorder_site_final_idx) and grouped on narrow keys."""
    tz = clinic_tz()
    return [
        TurnaroundPair(*row)
        for row in orders.annotate(
            collected_on=TruncDate("collected_at", tzinfo=tz),
            final_on=TruncDate("final_at", tzinfo=tz),
        )
        .values_list("test_type_id", "collected_on", "final_on")
        .annotate(finals=Count("*"))
        .order_by()
    ]


def turnaround_of(orders: QuerySet[TestOrder], *, end: date) -> list[TurnaroundRow]:
    """Per test type and lab, by name: the final results `orders` holds, counted in
    working days."""
    return turnaround_rows(turnaround_pairs(orders), end=end)


def turnaround_rows(pairs: list[TurnaroundPair], *, end: date) -> list[TurnaroundRow]:
    """Per test type and lab, by name: the results of `pairs` counted in working days
    (the tests' names and the holidays in a query each)."""
    if not pairs:
        return []
    tests = {
        pk: (name, lab, target)
        for pk, name, lab, target in TestType.objects.filter(
            pk__in={pair.test_type_id for pair in pairs}
        ).values_list("pk", "name", "lab", "turnaround_target_days")
    }
    first = min(pair.collected_on for pair in pairs)
    holidays = set(
        ClinicHoliday.objects.filter(date__gte=first, date__lte=end).values_list("date", flat=True)
    )
    groups: dict[tuple[str, str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for pair in pairs:
        key = tests[pair.test_type_id]
        taken = working_days_between(pair.collected_on, pair.final_on, holidays)
        groups[key][taken] += pair.finals
    rows = []
    for (name, lab, target), histogram in sorted(groups.items()):
        count = sum(histogram.values())
        within = sum(n for days, n in histogram.items() if days <= target)
        rows.append(
            TurnaroundRow(
                test_type=name,
                lab=lab,
                target_days=target,
                count=count,
                median=weighted_percentile(list(histogram.items()), 0.5) or 0.0,
                p90=weighted_percentile(list(histogram.items()), 0.9) or 0.0,
                within_target=within / count,
            )
        )
    return rows


def turnaround_chart(rows: list[TurnaroundRow]) -> dict:
    """Geometry for a server-rendered SVG: one bar per row (median), a tick at the
    90th percentile and at the target."""
    bar_height, gap, left, width = 22, 14, 260, 420
    top = max([r.p90 for r in rows] + [r.target_days for r in rows] + [1])
    scale = width / top
    bars = []
    for index, row in enumerate(rows):
        y = index * (bar_height + gap) + 10
        bars.append(
            {
                "row": row,
                "y": y,
                "text_y": y + bar_height * 0.7,
                "width": max(round(row.median * scale, 1), 1),
                "p90_x": round(left + row.p90 * scale, 1),
                "target_x": round(left + row.target_days * scale, 1),
                "label_x": left - 8,
                "value_x": round(left + row.median * scale + 6, 1),
            }
        )
    return {
        "bars": bars,
        "left": left,
        "bar_height": bar_height,
        "height": len(rows) * (bar_height + gap) + 30,
        "width": left + width + 80,
        "axis_y": len(rows) * (bar_height + gap) + 10,
    }
