"""The reminder plan: which emails an appointment gets, and when.

Every row is written in the transaction of the change that causes it (booking,
reschedule, cancellation, a reviewed result). Due times are clinic wall-clock
times ("two days before at 10:00"), computed on clinic dates so that they
survive DST changes, then moved into the send window. A patient who cannot
receive email (no address, or opted out) gets a front-desk call task instead.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from procedures.catalog.clock import clinic_datetime, clinic_tz
from procedures.messaging.models import CallTask, EmailOptOut, Reminder, ReminderPolicy
from procedures.prep.facts import PrepFacts, PrepStep
from procedures.prep.timeline import prep_timeline
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
WINDOW_EXEMPT_KINDS = frozenset({Kind.BOOKING_CONFIRMATION, Kind.RESCHEDULED, Kind.CANCELLATION})
# Not about one visit's time: still worth resending after a reschedule or cancellation.
NOT_ABOUT_THE_VISIT_KINDS = frozenset({Kind.CANCELLATION, Kind.RESULTS_READY})
AFTERCARE_USEFUL_FOR = timedelta(days=3)


def send_window() -> tuple[time, time]:
    start, end = settings.REMINDER_SEND_WINDOW
    return time.fromisoformat(start), time.fromisoformat(end)


def into_send_window(due: datetime, *, now: datetime, earlier: bool = False) -> datetime:
    """`due` moved into the daily send window (clinic time).

    Outside the window a reminder goes at the next window opening, or, when it
    is about something before the visit (`earlier`), at the previous window
    closing, so that "stop eating from midnight" arrives the evening before.
    """
    start, end = send_window()
    local = due.astimezone(clinic_tz())
    if start <= local.time() <= end:
        return due
    if earlier:
        day = local.date() if local.time() > end else local.date() - timedelta(days=1)
        candidate = clinic_datetime(day, end)
        if candidate >= now:
            return candidate
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return clinic_datetime(day, start)


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
    local_day = appointment.start_at.astimezone(clinic_tz()).date() + timedelta(days=offset.days)
    return clinic_datetime(local_day, offset.at)


def expiry_for(appointment: Appointment, kind: str, due_at: datetime) -> datetime | None:
    if kind in BEFORE_VISIT_KINDS:
        return appointment.start_at
    if kind == Kind.AFTERCARE:
        return due_at + AFTERCARE_USEFUL_FOR
    return None


def _reminder_row(
    *,
    appointment: Appointment,
    kind: str,
    due_at: datetime | None = None,
    step: PrepStep | None = None,
) -> tuple[Reminder, CallTask | None]:
    """One outbox row, unsaved, and the front-desk call task that stands in for it
    when the patient cannot receive email (see `reminder_add`)."""
    now = timezone.now()
    due = due_at or now
    if kind not in WINDOW_EXEMPT_KINDS:
        due = into_send_window(due, now=now, earlier=kind in BEFORE_VISIT_KINDS)
    reminder = Reminder(
        appointment=appointment,
        kind=kind,
        appointment_version=appointment.version,
        due_at=due,
        expires_at=expiry_for(appointment, kind, due),
    )
    if step is not None:
        reminder.step_kind, reminder.step_text, reminder.step_at = step.kind, step.text, step.at
        reminder.step_detail = getattr(step, "detail", "") or ""
    call = None
    patient = appointment.patient
    if not patient.can_receive_email:
        reminder.status = Reminder.Status.SKIPPED
        reminder.last_error = "no email: front-desk call"
        if kind not in NON_ESSENTIAL_KINDS:
            call = CallTask(
                appointment=appointment,
                reason=CallTask.Reason.NO_EMAIL,
                reminder_kind=kind,
                appointment_version=appointment.version,
                due_at=due,
            )
    elif kind in NON_ESSENTIAL_KINDS and EmailOptOut.objects.filter(patient=patient).exists():
        reminder.status = Reminder.Status.SKIPPED
        reminder.last_error = "patient unsubscribed"
    return reminder, call


def reminder_add(
    *,
    appointment: Appointment,
    kind: str,
    due_at: datetime | None = None,
    step: PrepStep | None = None,
) -> Reminder:
    """Write one outbox row (call inside the transaction of the change that causes it).

    `due_at` defaults to now and is moved into the send window. For a patient who
    cannot receive email the row is written already skipped, and a front-desk
    call task takes its place (for essential mail only).
    """
    reminder, call = _reminder_row(appointment=appointment, kind=kind, due_at=due_at, step=step)
    if call is not None:
        call.save()
    reminder.save()
    return reminder


def _reminders_write(rows: list[tuple[Reminder, CallTask | None]]) -> list[Reminder]:
    """Write a plan's rows with one INSERT per table (a booking plans three to six)."""
    calls = [call for _reminder, call in rows if call is not None]
    if calls:
        CallTask.objects.bulk_create(calls)
    return Reminder.objects.bulk_create([reminder for reminder, _call in rows])


def _prep_steps(appointment: Appointment, prep: PrepFacts | None = None) -> list[PrepStep]:
    """Dated prep steps that carry a reminder (from the prep timeline).
    `prep`: the caller's `prep.PrepFacts`, so that the plan and medicines are read once."""
    own = {Kind.BOOKING_CONFIRMATION, Kind.ESCORT_REQUEST, Kind.DAY_BEFORE, Kind.AFTERCARE}
    steps = []
    for step in prep_timeline(appointment, facts=prep):
        if not step.reminder_kind or step.reminder_kind in own:
            continue  # the plan below sends those itself
        if step.at >= appointment.start_at:
            continue
        steps.append(step)
    return steps


def _plan_visit(
    appointment: Appointment, *, first: str, prep: PrepFacts | None = None
) -> list[Reminder]:
    now = timezone.now()
    planned = [_reminder_row(appointment=appointment, kind=first)]
    policies = reminder_policies()
    if appointment.procedure_type.is_discussion:
        # A talk about results: the confirmation and the day before, no prep, escort
        # or aftercare.
        if (offset := policy_offset(Kind.DAY_BEFORE, policies=policies)) and (
            due := offset_from(appointment, offset)
        ) > now:
            planned.append(_reminder_row(appointment=appointment, kind=Kind.DAY_BEFORE, due_at=due))
        return _reminders_write(planned)
    for step in _prep_steps(appointment, prep):
        kind = step.reminder_kind if step.reminder_kind in PREP_KINDS else Kind.PREP_STEP
        planned.append(
            _reminder_row(appointment=appointment, kind=kind, due_at=max(step.at, now), step=step)
        )
    if appointment.is_sedated and (offset := policy_offset(Kind.ESCORT_REQUEST, policies=policies)):
        # Booked later than the usual day, the request goes at once.
        due = max(offset_from(appointment, offset), now)
        planned.append(_reminder_row(appointment=appointment, kind=Kind.ESCORT_REQUEST, due_at=due))
    if offset := policy_offset(Kind.DAY_BEFORE, policies=policies):
        due = offset_from(appointment, offset)
        if due > now:
            planned.append(_reminder_row(appointment=appointment, kind=Kind.DAY_BEFORE, due_at=due))
    if offset := policy_offset(Kind.AFTERCARE, policies=policies):
        due = max(offset_from(appointment, offset), appointment.end_at)
        planned.append(_reminder_row(appointment=appointment, kind=Kind.AFTERCARE, due_at=due))
    return _reminders_write(planned)


def reminders_plan(
    *, appointment: Appointment, cancellation: bool = False, prep: PrepFacts | None = None
) -> list[Reminder]:
    """Write the reminder rows for a newly booked (or cancelled) appointment.
    `prep`: the booking's `prep.PrepFacts`, shared with the rest of the booking."""
    if cancellation:
        return [reminder_add(appointment=appointment, kind=Kind.CANCELLATION)]
    return _plan_visit(appointment, first=Kind.BOOKING_CONFIRMATION, prep=prep)


def reminders_replan(*, appointment: Appointment) -> list[Reminder]:
    """Re-plan after a reschedule. Call after bumping `appointment.version` and saving
    the new times, in the same transaction: what was planned for the old time is
    cancelled, and the patient gets a "new time" email whose invite keeps the UID
    and carries the new SEQUENCE."""
    reminders_cancel_pending(appointment=appointment)
    return _plan_visit(appointment, first=Kind.RESCHEDULED)


def _step_key(kind: str, step_kind: str, step_at: datetime | None, text: str, detail: str) -> tuple:
    return (kind, step_kind, step_at, text, detail)


def reminders_prep_replan(*, appointment: Appointment) -> list[Reminder]:
    """The prep timeline changed (a hold plan confirmed, the sedation plan changed):
    re-plan the preparation emails that have not gone out. Call inside the
    transaction of the change.

    Pending prep rows are voided and planned afresh from the timeline; a step
    already sent (or handed to the front desk as a call) is not planned again,
    so confirming a plan twice never emails the patient twice. A step whose
    time has passed (a stop the physician set at short notice) goes at once.
    """
    prep_kinds = set(PREP_KINDS)
    Reminder.objects.filter(
        appointment=appointment, status=Reminder.Status.PENDING, kind__in=prep_kinds
    ).update(status=Reminder.Status.CANCELLED)
    done = {
        _step_key(*row)
        for row in Reminder.objects.filter(
            appointment=appointment,
            appointment_version=appointment.version,
            kind__in=prep_kinds,
            status__in=[
                Reminder.Status.SENDING,
                Reminder.Status.SENT,
                Reminder.Status.SKIPPED,
                Reminder.Status.FAILED,
            ],
        ).values_list("kind", "step_kind", "step_at", "step_text", "step_detail")
    }
    now = timezone.now()
    planned = []
    for step in _prep_steps(appointment):
        kind = step.reminder_kind if step.reminder_kind in PREP_KINDS else Kind.PREP_STEP
        key = _step_key(kind, step.kind, step.at, step.text, getattr(step, "detail", "") or "")
        if key in done:
            continue
        planned.append(
            _reminder_row(appointment=appointment, kind=kind, due_at=max(step.at, now), step=step)
        )
    if not appointment.procedure_type.is_discussion:
        planned += _escort_request_replan(appointment, now)
    return _reminders_write(planned)


def _escort_request_replan(appointment: Appointment, now: datetime) -> list:
    """The escort request follows the sedation level, which the prep page may change
    after booking: asked for once a visit becomes sedated, withdrawn (with the call
    standing in for it) while unsent once it no longer is."""
    asked = Reminder.objects.filter(
        appointment=appointment,
        appointment_version=appointment.version,
        kind=Kind.ESCORT_REQUEST,
    )
    if not appointment.is_sedated:
        asked.filter(status__in=[Reminder.Status.PENDING, Reminder.Status.SKIPPED]).update(
            status=Reminder.Status.CANCELLED
        )
        CallTask.objects.filter(
            appointment=appointment,
            status=CallTask.Status.OPEN,
            reason=CallTask.Reason.NO_EMAIL,
            reminder_kind=Kind.ESCORT_REQUEST,
        ).update(status=CallTask.Status.CANCELLED)
        return []
    if asked.exclude(status=Reminder.Status.CANCELLED).exists():
        return []  # asked already (or on its way): never twice
    offset = policy_offset(Kind.ESCORT_REQUEST)
    if offset is None or appointment.start_at <= now:
        return []
    due = max(offset_from(appointment, offset), now)
    return [_reminder_row(appointment=appointment, kind=Kind.ESCORT_REQUEST, due_at=due)]


def reminders_cancel_pending(*, appointment: Appointment) -> int:
    """Void every reminder of `appointment` that has not gone out yet (results notices
    excepted), and the phone calls that stood in for them."""
    CallTask.objects.filter(
        appointment=appointment, status=CallTask.Status.OPEN, reason=CallTask.Reason.NO_EMAIL
    ).exclude(reminder_kind=Kind.RESULTS_READY).update(status=CallTask.Status.CANCELLED)
    return (
        Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING)
        .exclude(kind=Kind.RESULTS_READY)
        .update(status=Reminder.Status.CANCELLED)
    )
