"""The operations dashboard: every figure for one scope, its charts and its CSV tables.

Aggregates only: no patient is named or counted on their own, so the page and its
CSV carry no PHI and write no read-audit rows.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from django.utils import formats
from django.utils.translation import gettext as _

from procedures.reports import metrics
from procedures.reports.charts import BarChart, bar_chart
from procedures.reports.scope import ReportScope
from procedures.results.analytics import TURNAROUND_COLUMNS, TurnaroundRow, turnaround_chart

TABLES = ("rooms", "no-shows", "cancellations", "lead-time", "turnaround")


def percent(share: float | None) -> str:
    """A share as per cent: whole numbers, one decimal below 10% (so 0.4% is not 0%)."""
    if share is None:
        return "\N{EN DASH}"
    value = share * 100
    return f"{value:.1f}%" if 0 < value < 10 else f"{value:.0f}%"


def hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}"


@dataclass
class OperationsReport:
    scope: ReportScope
    rooms: list[metrics.RoomUse]
    rooms_total: metrics.RoomUse
    no_shows: list[metrics.NoShowWeek]
    no_show_total: metrics.NoShowWeek
    cancellations: metrics.Cancellations
    lead_time: metrics.LeadTime
    turnaround: list[TurnaroundRow]

    @property
    def rooms_chart(self) -> BarChart:
        return bar_chart(
            [(u.room, (u.utilisation or 0) * 100, percent(u.utilisation)) for u in self.rooms],
            top=100,
            marker=100,
        )

    @property
    def no_shows_chart(self) -> BarChart:
        return bar_chart(
            [(_week_label(w.week), (w.rate or 0) * 100, percent(w.rate)) for w in self.no_shows],
            top=10,
        )

    @property
    def cancellations_chart(self) -> BarChart:
        return bar_chart([(r.reason, r.count, str(r.count)) for r in self.cancellations.reasons])

    @property
    def lead_time_chart(self) -> BarChart:
        return bar_chart([(b.label, b.count, str(b.count)) for b in self.lead_time.buckets])

    @property
    def turnaround_chart(self) -> dict:
        """The turnaround page's chart: median bars, 90th-percentile ticks, targets."""
        return turnaround_chart(self.turnaround)


def _week_label(week: date) -> str:
    return _("Week of %(day)s") % {"day": formats.date_format(week, "j M")}


def operations_report(scope: ReportScope, *, now: datetime | None = None) -> OperationsReport:
    """Every figure of the dashboard for `scope` (a fixed number of queries)."""
    facts = metrics.visit_facts(scope, now=now)  # the visits counted once, per day
    rooms = metrics.room_utilisation(scope, facts)
    weeks = metrics.no_shows_by_week(scope, facts=facts)
    return OperationsReport(
        scope=scope,
        rooms=rooms,
        rooms_total=metrics.utilisation_total(rooms),
        no_shows=weeks,
        no_show_total=metrics.no_show_total(weeks),
        cancellations=metrics.cancellations_by_reason(scope, facts),
        lead_time=metrics.booking_lead_time(scope, facts),
        turnaround=metrics.turnaround_against_target(scope),
    )


def table_rows(scope: ReportScope, table: str) -> Iterator[list[object]]:
    """One of the dashboard's tables as CSV rows (a header first), computed alone."""
    if table == "rooms":
        yield [_("Room"), _("Open hours"), _("Booked hours"), _("Utilisation (%)")]
        uses = metrics.room_utilisation(scope)
        for use in [*uses, metrics.utilisation_total(uses)]:
            yield [
                use.room,
                hours(use.open_minutes),
                hours(use.booked_minutes),
                _number(use.utilisation),
            ]
    elif table == "no-shows":
        yield [
            _("Week starting"),
            _("No-shows"),
            _("Arrived"),
            _("No-show rate (%)"),
            _("Not recorded"),
        ]
        for week in metrics.no_shows_by_week(scope):
            yield [
                week.week.isoformat(),
                week.no_shows,
                week.arrived,
                _number(week.rate),
                week.not_recorded,
            ]
    elif table == "cancellations":
        yield [_("Reason"), _("Cancelled visits"), _("Share of cancellations (%)")]
        for reason in metrics.cancellations_by_reason(scope).reasons:
            yield [reason.reason, reason.count, _number(reason.share)]
    elif table == "lead-time":
        yield [_("Days from booking to procedure"), _("Visits")]
        for bucket in metrics.booking_lead_time(scope).buckets:
            yield [bucket.label, bucket.count]
    elif table == "turnaround":
        yield list(TURNAROUND_COLUMNS)
        for row in metrics.turnaround_against_target(scope):
            yield [
                row.test_type,
                row.lab,
                row.target_days,
                row.count,
                f"{row.median:g}",
                f"{row.p90:g}",
                row.within_target_percent,
            ]
    else:
        raise KeyError(table)


def _number(share: float | None) -> str:
    """A share as per cent with one decimal, in every row: a spreadsheet sums and sorts
    them, and 0.4% must not read 0."""
    return "" if share is None else f"{share * 100:.1f}"
