"""The front desk's phone calls to patients: when one falls due, and closing those a
change to the visit made pointless.

A call stands in for an email the patient cannot get, or answers the patient's request.
It is due on a day the site works (invariant 30): a call dated for a Saturday before a
Monday visit is work nobody is there to do, so it falls due on the last working day
before; and it is never due before it was made (it would be "overdue" the moment it
appeared on the list).
"""

from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from procedures.catalog.clock import closed_days
from procedures.catalog.hours import DEFAULT_OPENING_HOURS, WorkingHours
from procedures.catalog.resources import Room
from procedures.messaging.kinds import NOT_ABOUT_THE_VISIT_KINDS, send_window
from procedures.messaging.models import CallTask
from procedures.scheduling.models import Appointment

# A call raised now is due within this time, not at the very minute it appears.
CALL_LEAD = timedelta(hours=1)
# How far to look for a working day (a site closed longer than this is not a site).
_LOOKAHEAD_DAYS = 21


class CallClock:
    """Working days of one visit's site, read once (two or three queries) for the calls
    of one change: the weekdays any of its active rooms is open (a room without its own
    hours keeps the default, Monday to Friday), less its holidays and closures."""

    def __init__(self, appointment: Appointment) -> None:
        self.site = appointment.site
        self.tz = self.site.tz
        self._weekdays: frozenset[int] | None = None
        self._closed: dict[date, bool] = {}

    def weekdays(self) -> frozenset[int]:
        if self._weekdays is None:
            rooms = Room.objects.filter(site=self.site, is_active=True)
            room_ids = set(rooms.values_list("pk", flat=True))
            rows = WorkingHours.objects.filter(room__in=room_ids).values_list("room", "weekday")
            days, with_hours = set(), set()
            for room_id, weekday in rows:
                with_hours.add(room_id)
                days.add(weekday)
            if not room_ids or with_hours != room_ids:
                days |= set(DEFAULT_OPENING_HOURS)
            self._weekdays = frozenset(days)
        return self._weekdays

    def works(self, day: date) -> bool:
        if day.weekday() not in self.weekdays():
            return False
        if day not in self._closed:
            first, last = day - timedelta(days=_LOOKAHEAD_DAYS), day + timedelta(_LOOKAHEAD_DAYS)
            closed = closed_days(first, last, site=self.site)
            for offset in range((last - first).days + 1):
                moment = first + timedelta(days=offset)
                self._closed.setdefault(moment, moment in closed)
        return not self._closed[day]

    def due(self, wanted: datetime, *, now: datetime | None = None) -> datetime:
        """When a call wanted at `wanted` falls due: on the site's last working day on or
        before that day, at the same wall-clock time; and not before `now` plus
        CALL_LEAD (then on the first working day from there, at the send window's
        opening if that day is not today)."""
        now = now or timezone.now()
        local = wanted.astimezone(self.tz)
        day = local.date()
        for _step in range(_LOOKAHEAD_DAYS):
            if self.works(day):
                break
            day -= timedelta(days=1)
        due = datetime.combine(day, local.time(), tzinfo=self.tz)
        soonest = now + CALL_LEAD
        if due >= soonest:
            return due
        day = soonest.astimezone(self.tz).date()
        if self.works(day):
            return soonest
        opening = send_window()[0]
        for _step in range(_LOOKAHEAD_DAYS):
            day += timedelta(days=1)
            if self.works(day):
                return max(datetime.combine(day, opening, tzinfo=self.tz), soonest)
        return soonest


def calls_settle_due(calls: list[CallTask], appointment: Appointment) -> None:
    """Move the due times of `calls` (unsaved, of `appointment`) onto its site's working
    days (see `CallClock.due`). Reads the site's days only when there is a call."""
    if not calls:
        return
    clock = CallClock(appointment)
    now = timezone.now()
    for call in calls:
        call.due_at = clock.due(call.due_at, now=now)


def calls_close_obsolete(*, appointment: Appointment, why: str, moved: bool = False) -> int:
    """Close the open calls about `appointment` that a change made pointless, saying why
    (invariant 30's companion: no open call refers to a released visit): on a move, the
    patient's request to reschedule (answered) and the calls about emails of the old
    time that could not be delivered (the new time's emails take over); on a cancellation
    or a no-show, every call about the visit. Calls about the cancellation itself or a
    result stay. Call inside the transaction of the change."""
    calls = CallTask.objects.filter(appointment=appointment, status=CallTask.Status.OPEN)
    if moved:
        calls = calls.filter(
            Q(reason=CallTask.Reason.RESCHEDULE_REQUEST)
            | Q(reason=CallTask.Reason.EMAIL_FAILED, appointment_version__lt=appointment.version)
        ).exclude(reminder_kind__in=NOT_ABOUT_THE_VISIT_KINDS)
    else:
        calls = calls.exclude(reason=CallTask.Reason.RESULTS_CALL).exclude(
            reminder_kind__in=NOT_ABOUT_THE_VISIT_KINDS
        )
    return calls.update(status=CallTask.Status.CANCELLED, closed_reason=why[:100])
