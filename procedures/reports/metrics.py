"""The operations dashboard's figures, each counted in SQL.

Every visit figure folds one set of per-day counts (`visit_facts`: statuses and
cancellation reasons, days booked ahead, time held per room), read from the reports'
daily roll-up for the days it holds and counted live, in SQL grouped by clinic day, for
the others (`rollup.py`); Python only folds those groups (a few hundred at most), never
the visits or results themselves. The turnaround figures do the same with the (test,
collection day, final day) pairs.

Definitions, in the clinic's words (the page says them too):

- **Room utilisation**: the time rooms were held by visits that were not
  cancelled and not a no-show, *with* their set-up, turnover and recovery
  buffers (the room cannot be booked then either), divided by the rooms' open
  time: their working hours (the clinic's default hours where a room has none),
  less clinic holidays and the room's own closures. A visit held outside open
  hours can take a room past 100%.
- **No-show rate**: no-shows divided by visits that were due and recorded:
  no-shows plus patients who arrived (checked in, in procedure, completed).
  Past visits still marked scheduled or confirmed are counted apart as "not
  recorded"; cancelled visits are not due.
- **Cancellations by reason**: visits planned in the period that were
  cancelled, by the reason chosen when cancelling (every reason listed, zeros
  included; "Not recorded" where none was chosen).
- **Days from booking to procedure**: calendar days (clinic time) from the day
  the visit was booked to the day of the procedure, for visits in the period
  that were not cancelled; a rescheduled visit counts from its first booking.
- **Turnaround against target**: working days from collection to the first
  final result, per test and lab (`procedures.results.analytics`, the same
  arithmetic as the turnaround page).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_tz
from procedures.reports.rollup import VisitFacts, scope_turnaround_pairs, scope_visit_facts
from procedures.reports.scope import ReportScope
from procedures.results.analytics import TurnaroundRow, turnaround_rows, weighted_percentile
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import availability_load

Facts = dict[date, VisitFacts]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def visit_facts(scope: ReportScope, *, now: datetime | None = None) -> Facts:
    """The period's visits counted per clinic day: from the daily roll-up where a day is
    in it, live for the others (rollup.py). Every visit figure below folds these."""
    return scope_visit_facts(scope.visits(), rolled=scope.rolled, now=now)


def _total(facts: Facts) -> VisitFacts:
    total = VisitFacts()
    for day in facts.values():
        total.add(day)
    return total


# --- Room utilisation ----------------------------------------------------------------


@dataclass
class RoomUse:
    room: str
    open_minutes: int
    booked_minutes: int

    @property
    def utilisation(self) -> float | None:
        return _share(self.booked_minutes, self.open_minutes)


def _open_minutes(
    sessions: list[tuple[datetime, datetime]], closed: list[tuple[datetime, datetime]]
) -> int:
    """Minutes of `sessions` outside every `closed` stretch."""
    total = 0.0
    for start, end in sessions:
        cursor, minutes = start, 0.0
        for c_start, c_end in sorted(closed):
            if c_end <= cursor or c_start >= end:
                continue
            if c_start > cursor:
                minutes += (c_start - cursor).total_seconds() / 60
            cursor = max(cursor, c_end)
        if cursor < end:
            minutes += (end - cursor).total_seconds() / 60
        total += minutes
    return round(total)


def room_utilisation(scope: ReportScope, facts: Facts | None = None) -> list[RoomUse]:
    """Per room: open minutes in the period and minutes held by visits (see above)."""
    rooms = list(scope.room_list())
    # The slot finder's own loader: the same hours, default hours, closures and holidays.
    availability = availability_load(
        providers=[], rooms=rooms, first_day=scope.start, last_day=scope.end
    )
    held = _total(visit_facts(scope) if facts is None else facts).held
    days = [scope.start + timedelta(days=n) for n in range(scope.days)]
    tz = clinic_tz()
    uses = []
    for room in rooms:
        sessions = [s for day in days for s in availability.sessions("room", room.pk, day, tz)]
        closed = [
            (a.starts_at, a.ends_at) for a in availability.absences.get(("room", room.pk), [])
        ]
        uses.append(
            RoomUse(
                room=room.name,
                open_minutes=_open_minutes(sessions, closed),
                booked_minutes=round(held[room.pk] / 60),
            )
        )
    return uses


def utilisation_total(uses: list[RoomUse]) -> RoomUse:
    return RoomUse(
        room=_("All rooms"),
        open_minutes=sum(u.open_minutes for u in uses),
        booked_minutes=sum(u.booked_minutes for u in uses),
    )


# --- No-shows --------------------------------------------------------------------------


@dataclass
class NoShowWeek:
    week: date  # the Monday
    no_shows: int
    arrived: int
    not_recorded: int

    @property
    def due(self) -> int:
        return self.no_shows + self.arrived

    @property
    def rate(self) -> float | None:
        return _share(self.no_shows, self.due)


def no_shows_by_week(
    scope: ReportScope, *, now: datetime | None = None, facts: Facts | None = None
) -> list[NoShowWeek]:
    """Per week (Monday, clinic time) of the period: no-shows, arrivals, not recorded.
    A week is listed when it had a visit, in any state."""
    facts = visit_facts(scope, now=now) if facts is None else facts
    weeks: dict[date, VisitFacts] = defaultdict(VisitFacts)
    for day, counted in facts.items():
        if counted.planned:
            weeks[day - timedelta(days=day.weekday())].add(counted)
    return [
        NoShowWeek(
            week=week,
            no_shows=counted.no_shows,
            arrived=counted.arrived,
            not_recorded=counted.unrecorded,
        )
        for week, counted in sorted(weeks.items())
    ]


def no_show_total(weeks: list[NoShowWeek]) -> NoShowWeek:
    return NoShowWeek(
        week=weeks[0].week if weeks else date.min,
        no_shows=sum(w.no_shows for w in weeks),
        arrived=sum(w.arrived for w in weeks),
        not_recorded=sum(w.not_recorded for w in weeks),
    )


# --- Cancellations ---------------------------------------------------------------------


@dataclass
class CancellationReason:
    code: str
    reason: str
    count: int
    share: float | None  # of all cancellations


@dataclass
class Cancellations:
    planned: int  # visits planned in the period, every status
    reasons: list[CancellationReason]

    @property
    def cancelled(self) -> int:
        return sum(r.count for r in self.reasons)

    @property
    def rate(self) -> float | None:
        return _share(self.cancelled, self.planned)


def cancellations_by_reason(scope: ReportScope, facts: Facts | None = None) -> Cancellations:
    """Visits planned in the period that were cancelled, by reason (zeros included)."""
    total = _total(visit_facts(scope) if facts is None else facts)
    by_code, planned = total.cancelled, total.planned
    choices = [*Appointment.CancelReason.choices, ("", _("Not recorded"))]
    cancelled = sum(by_code.values())
    reasons = [
        CancellationReason(
            code=code or "not_recorded",
            reason=str(label),
            count=by_code.get(code, 0),
            share=_share(by_code.get(code, 0), cancelled),
        )
        for code, label in choices
    ]
    return Cancellations(planned=planned, reasons=reasons)


# --- Days from booking to procedure ----------------------------------------------------

LEAD_BUCKETS: list[tuple[int, int | None]] = [
    (0, 0),
    (1, 7),
    (8, 14),
    (15, 28),
    (29, 56),
    (57, None),
]


@dataclass
class LeadBucket:
    label: str
    low: int
    high: int | None
    count: int


@dataclass
class LeadTime:
    buckets: list[LeadBucket]
    visits: int
    median: float | None
    mean: float | None


def _bucket_label(low: int, high: int | None) -> str:
    if high == 0:
        return _("Same day")
    if high is None:
        return _("%(low)s days or more") % {"low": low}
    return _("%(low)s to %(high)s days") % {"low": low, "high": high}


def booking_lead_time(scope: ReportScope, facts: Facts | None = None) -> LeadTime:
    """Days from booking to procedure: a histogram per day (counted in SQL), summed."""
    histogram = _total(visit_facts(scope) if facts is None else facts).lead
    visits = sum(histogram.values())
    buckets = [
        LeadBucket(
            label=_bucket_label(low, high),
            low=low,
            high=high,
            count=sum(
                n for days, n in histogram.items() if low <= days and (high is None or days <= high)
            ),
        )
        for low, high in LEAD_BUCKETS
    ]
    return LeadTime(
        buckets=buckets,
        visits=visits,
        median=weighted_percentile(list(histogram.items()), 0.5),
        mean=sum(days * n for days, n in histogram.items()) / visits if visits else None,
    )


# --- Turnaround against target ---------------------------------------------------------


def turnaround_against_target(scope: ReportScope) -> list[TurnaroundRow]:
    """Per test and lab: the turnaround page's figures (median, 90th percentile, share
    within target) for the scope's final results."""
    pairs = scope_turnaround_pairs(scope.final_results(), rolled=scope.rolled)
    return turnaround_rows(pairs, end=scope.end)
