"""Turnaround analytics: how long each test type takes at each lab.

Turnaround is counted in working days (weekends and clinic holidays skipped),
like the targets: from the clinic day of collection to the clinic day of the
first final result. A result logged on the day of collection is 0 days.
Percentiles interpolate linearly between the closest ranks (the "inclusive"
method of `statistics.quantiles`, the same as numpy's default).
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils.translation import gettext_lazy as _

from procedures.catalog.clock import clinic_datetime, clinic_tz
from procedures.catalog.models import ClinicHoliday
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


def turnaround_by_test(*, start: date, end: date) -> list[TurnaroundRow]:
    """Per test type and lab: final results logged from `start` to `end` (clinic days,
    inclusive)."""
    since: datetime = clinic_datetime(start, time.min)
    until: datetime = clinic_datetime(end + timedelta(days=1), time.min)
    orders = (
        TestOrder.objects.filter(
            final_at__gte=since, final_at__lt=until, collected_at__isnull=False
        )
        .select_related("test_type")
        .order_by("test_type__name", "test_type__lab", "pk")
    )
    tz = clinic_tz()
    holidays = set(ClinicHoliday.objects.values_list("date", flat=True))
    groups: dict[tuple, list[int]] = {}
    targets: dict[tuple, int] = {}
    for order in orders:
        key = (order.test_type.name, order.test_type.lab)
        taken = working_days_between(
            order.collected_at.astimezone(tz).date(), order.final_at.astimezone(tz).date(), holidays
        )
        groups.setdefault(key, []).append(taken)
        targets[key] = order.test_type.turnaround_target_days
    rows = []
    for (name, lab), days in groups.items():
        target = targets[(name, lab)]
        rows.append(
            TurnaroundRow(
                test_type=name,
                lab=lab,
                target_days=target,
                count=len(days),
                median=float(statistics.median(days)),
                p90=percentile(days, 0.9),
                within_target=sum(1 for d in days if d <= target) / len(days),
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
