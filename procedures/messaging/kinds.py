"""The kinds of patient email: what each is about, and when it goes.

Due times are clinic wall-clock times ("two days before at 10:00"), computed on
clinic dates so that they survive DST changes, then moved into the send window.
The plan (plan.py) and the dispatcher's send-time judgement (dispatch.py) both
read these.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from procedures.catalog.clock import clinic_tz
from procedures.messaging.models import Reminder, ReminderPolicy
from procedures.scheduling.models import Appointment

Kind = Reminder.Kind


@dataclass(frozen=True)
class Offset:
    days: int  # from the appointment's clinic date: -2 two days before, 1 the day after
    at: time  # clinic wall-clock time


# Used for a kind that has no ReminderPolicy row (admin: Procedures > Reminder policies).
DEFAULT_OFFSETS: dict[str, Offset] = {
    Kind.ESCORT_REQUEST: Offset(-2, time(10, 0)),
    Kind.DAY_BEFORE: Offset(-1, time(10, 0)),
    Kind.AFTERCARE: Offset(1, time(10, 0)),
}
# About something before the visit: useless once it has started, and moved
# earlier (never later) into the send window.
BEFORE_VISIT_KINDS = frozenset(
    {
        Kind.BOOKING_CONFIRMATION,
        Kind.RESCHEDULED,
        Kind.MEDICATION_HOLD,
        Kind.FASTING,
        Kind.PREP_STEP,
        Kind.ESCORT_REQUEST,
        Kind.DAY_BEFORE,
    }
)
PREP_KINDS = frozenset({Kind.MEDICATION_HOLD, Kind.FASTING, Kind.PREP_STEP})
# Mail a patient may unsubscribe from through a link; everything else is essential.
NON_ESSENTIAL_KINDS = frozenset({Kind.AFTERCARE})
# Sent at once whatever the hour: the answer to something just done (a booking,
# a new time, a cancellation: the patient must not travel for nothing). The
# send window is for scheduled reminders.
WINDOW_EXEMPT_KINDS = frozenset(
    {Kind.BOOKING_CONFIRMATION, Kind.RESCHEDULED, Kind.CANCELLATION, Kind.WARNING_SIGNS}
)
# The first email about a visit's time: nothing else about the visit goes before it.
FIRST_KINDS = frozenset({Kind.BOOKING_CONFIRMATION, Kind.RESCHEDULED})
# Not about one visit's time: still worth resending after a reschedule or cancellation.
NOT_ABOUT_THE_VISIT_KINDS = frozenset({Kind.CANCELLATION, Kind.RESULTS_READY})
AFTERCARE_USEFUL_FOR = timedelta(days=3)
WARNING_SIGNS_USEFUL_FOR = timedelta(days=2)
NO_EMAIL = "no email: front-desk call"
# Aftercare (non-essential) for a patient without email: no call stands in for it. The
# warning signs reach the patient the same day on the printed sheet handed over at
# discharge, and the warning-signs message (essential) is a call when there is no email.
NO_EMAIL_NO_CALL = "no email (no call needed)"
# A visit still ahead: its prep emails may be planned.
PLANNABLE_STATUSES = (
    Appointment.Status.REQUESTED,
    Appointment.Status.SCHEDULED,
    Appointment.Status.CONFIRMED,
)


def send_window() -> tuple[time, time]:
    start, end = settings.REMINDER_SEND_WINDOW
    return time.fromisoformat(start), time.fromisoformat(end)


def into_send_window(
    due: datetime, *, now: datetime, earlier: bool = False, tz: ZoneInfo | None = None
) -> datetime:
    """`due` moved into the daily send window, on the wall clock of `tz` (the visit's
    site; default: the current zone).

    Outside the window a reminder goes at the next window opening, or, when it
    is about something before the visit (`earlier`), at the previous window
    closing, so that "stop eating from midnight" arrives the evening before. When
    that closing has passed (a visit booked late in the evening for the next
    morning), it goes at once: at the next opening it would come after the time it
    is about (a fast that began at 03:00, a medicine to stop at 02:00), or after the
    visit itself.
    """
    start, end = send_window()
    tz = tz or clinic_tz()
    local = due.astimezone(tz)
    if start <= local.time() <= end:
        return due
    if earlier:
        day = local.date() if local.time() > end else local.date() - timedelta(days=1)
        candidate = datetime.combine(day, end, tzinfo=tz)
        return candidate if candidate >= now else now
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=tz)


def reminder_policies() -> dict[str, ReminderPolicy]:
    """Every configured policy by kind, in one query (a plan asks about several kinds)."""
    return {policy.kind: policy for policy in ReminderPolicy.objects.all()}


def policy_offset(kind: str, *, policies: dict[str, ReminderPolicy] | None = None) -> Offset | None:
    """The configured offset of `kind`; None when the clinic switched it off.
    `policies`: from `reminder_policies()`, when the caller asks about several kinds."""
    if policies is None:
        policy = ReminderPolicy.objects.filter(kind=kind).first()
    else:
        policy = policies.get(kind)
    if policy is None:
        return DEFAULT_OFFSETS.get(kind)
    if not policy.enabled:
        return None
    return Offset(policy.days_offset, policy.send_time)


def offset_from(appointment: Appointment, offset: Offset) -> datetime:
    """ "N days before (or after) the visit at HH:MM", on the wall clock of the visit's
    site (invariant 19): a New York visit's "day before at 09:00" is 09:00 there."""
    tz = appointment.site_tz
    local_day = appointment.start_at.astimezone(tz).date() + timedelta(days=offset.days)
    return datetime.combine(local_day, offset.at, tzinfo=tz)


def evening_before(appointment: Appointment, moment: datetime | None = None) -> datetime:
    """The send window's closing on the day before the visit (or before `moment`'s
    day: a medicine stop's), on the visit's site's clock."""
    if moment is None:
        return offset_from(appointment, Offset(-1, send_window()[1]))
    tz = appointment.site_tz
    day = moment.astimezone(tz).date() - timedelta(days=1)
    return datetime.combine(day, send_window()[1], tzinfo=tz)


def expiry_for(appointment: Appointment, kind: str, due_at: datetime) -> datetime | None:
    if kind in BEFORE_VISIT_KINDS:
        return appointment.start_at
    if kind == Kind.AFTERCARE:
        return due_at + AFTERCARE_USEFUL_FOR
    if kind == Kind.WARNING_SIGNS:
        return due_at + WARNING_SIGNS_USEFUL_FOR
    return None
