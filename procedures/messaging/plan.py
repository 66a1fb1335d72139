"""The reminder plan: which emails an appointment gets, and when.

Every row is written in the transaction of the change that causes it (booking,
reschedule, cancellation, a reviewed result), due when kinds.py says. A patient
who cannot receive email (no address, or opted out) gets a front-desk call task
instead.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Exists, Q, QuerySet, Subquery
from django.utils import timezone

from procedures.messaging.calls import calls_close_obsolete, calls_settle_due
from procedures.messaging.kinds import (
    BEFORE_VISIT_KINDS,
    FIRST_KINDS,
    NO_EMAIL,
    NO_EMAIL_NO_CALL,
    NON_ESSENTIAL_KINDS,
    PLANNABLE_STATUSES,
    PREP_KINDS,
    WINDOW_EXEMPT_KINDS,
    evening_before,
    expiry_for,
    into_send_window,
    offset_from,
    policy_offset,
    reminder_policies,
)
from procedures.messaging.models import CallTask, EmailOptOut, Reminder
from procedures.prep.facts import PrepFacts, PrepStep
from procedures.prep.timeline import patient_timeline
from procedures.scheduling.models import Appointment, AppointmentEvent

Kind = Reminder.Kind


def no_email_call(reminder: Reminder, *, reason: str = CallTask.Reason.NO_EMAIL) -> CallTask:
    """The front-desk call that stands in for `reminder` (unsaved)."""
    appointment = reminder.appointment
    return CallTask(
        appointment=appointment,
        reason=reason,
        reminder_kind=reminder.kind,
        appointment_version=reminder.appointment_version,
        due_at=reminder.due_at,
        reminder=reminder if reminder.pk else None,
    )


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
        due = into_send_window(
            due, now=now, earlier=kind in BEFORE_VISIT_KINDS, tz=appointment.site_tz
        )
    reminder = Reminder(
        appointment=appointment,
        kind=kind,
        appointment_version=appointment.version,
        due_at=due,
        expires_at=expiry_for(appointment, kind, due),
    )
    if step is not None:
        reminder.step_kind, reminder.step_text = step.kind, step.text
        # "As soon as possible" (a step whose time had passed): the email names no date.
        reminder.step_at = None if step.as_soon_as_possible else step.at
        reminder.step_detail = step.detail
    call = None
    patient = appointment.patient
    if not patient.can_receive_email:
        reminder.status = Reminder.Status.SKIPPED
        if kind in NON_ESSENTIAL_KINDS:
            # Said as it is: nobody calls about aftercare (see kinds.NO_EMAIL_NO_CALL).
            reminder.last_error = reminder.skip_reason = NO_EMAIL_NO_CALL
        else:
            reminder.last_error = reminder.skip_reason = NO_EMAIL
            call = no_email_call(reminder)
    elif kind in NON_ESSENTIAL_KINDS and EmailOptOut.objects.filter(patient=patient).exists():
        reminder.status = Reminder.Status.SKIPPED
        reminder.last_error = reminder.skip_reason = "patient unsubscribed"
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
    reminder.save()
    if call is not None:
        call.reminder = reminder
        calls_settle_due([call], appointment)
        call.save()
    return reminder


def _reminders_write(rows: list[tuple[Reminder, CallTask | None]]) -> list[Reminder]:
    """Write a plan's rows with one INSERT per table (a booking plans three to six)."""
    reminders = Reminder.objects.bulk_create([reminder for reminder, _call in rows])
    calls = []
    for reminder, call in rows:
        if call is not None:
            call.reminder = reminder
            calls.append(call)
    if calls:
        # One visit's plan: its site's working days, read once.
        calls_settle_due(calls, calls[0].appointment)
        CallTask.objects.bulk_create(calls)
    return reminders


def _prep_steps(appointment: Appointment, prep: PrepFacts | None = None) -> list[PrepStep]:
    """Dated prep steps that carry a reminder (from the prep timeline), none at or after
    the start. `prep`: the caller's `prep.PrepFacts`, so that the plan and medicines are
    read once."""
    own = {Kind.BOOKING_CONFIRMATION, Kind.ESCORT_REQUEST, Kind.DAY_BEFORE, Kind.AFTERCARE}
    steps = []
    for step in patient_timeline(appointment, facts=prep):
        if not step.reminder_kind or step.reminder_kind in own:
            continue  # the plan below sends those itself
        if step.at >= appointment.start_at:
            continue
        steps.append(step)
    return steps


def _step_kind(step: PrepStep) -> str:
    return step.reminder_kind if step.reminder_kind in PREP_KINDS else Kind.PREP_STEP


def _step_key(kind: str, step_kind: str, step_at: datetime | None, text: str, detail: str) -> tuple:
    """What makes two prep emails the same email."""
    return (kind, step_kind, step_at, text, detail)


def _row_key(row: Reminder) -> tuple:
    return _step_key(row.kind, row.step_kind, row.step_at, row.step_text, row.step_detail)


def _sent_key(kind: str, step_kind: str, step_at: datetime | None, text: str, detail: str) -> tuple:
    """What makes a prep email one the patient already has, whatever the visit's version:
    a general instruction ("bring your medicine list") by its words, a dated one (a stop,
    fasting) by its words and its time."""
    if kind == Kind.PREP_STEP:
        return (kind, step_kind, text, detail)
    if kind == Kind.MEDICATION_HOLD:
        # Its words follow from its time (timeline.stop_step_text): a stop sent in the
        # earlier wording is the same stop.
        return (kind, step_kind, step_at, detail)
    return (kind, step_kind, step_at, text, detail)


def _already_sent(appointment: Appointment) -> set[tuple]:
    """Prep emails that went out (or are going) for any version of the visit."""
    return {
        _sent_key(*row)
        for row in Reminder.objects.filter(
            appointment=appointment,
            kind__in=PREP_KINDS,
            status__in=[Reminder.Status.SENDING, Reminder.Status.SENT],
        ).values_list("kind", "step_kind", "step_at", "step_text", "step_detail")
    }


def _step_rows(
    appointment: Appointment, steps: list[PrepStep], *, not_before: datetime, skip: set[tuple]
) -> list[tuple[Reminder, CallTask | None]]:
    """The outbox rows of prep steps: none before `not_before` (the visit's first email),
    none the patient already has (`skip`), and a stop whose time has passed is never an
    email: the front desk calls instead."""
    now = timezone.now()
    rows = []
    for step in steps:
        kind = _step_kind(step)
        step_at = None if step.as_soon_as_possible else step.at
        if _sent_key(kind, step.kind, step_at, step.text, step.detail) in skip:
            continue
        due = step.at
        if kind == Kind.FASTING:
            # Told the evening before, not when the fast begins: an afternoon visit's
            # fast begins in the morning, when breakfast may already be eaten.
            due = min(due, evening_before(appointment))
        elif kind == Kind.MEDICATION_HOLD:
            # Told the evening before the last dose's day, not at its minute: a patient
            # who takes that dose earlier in the day would learn too late it is the last.
            due = min(due, evening_before(appointment, step.at))
        reminder, call = _reminder_row(
            appointment=appointment, kind=kind, due_at=max(due, now, not_before), step=step
        )
        if kind == Kind.MEDICATION_HOLD and step.at <= now and reminder.status != "skipped":
            reminder.status = Reminder.Status.SKIPPED
            reminder.skip_reason = "stop time passed: front-desk call"
            call = no_email_call(reminder, reason=CallTask.Reason.MISSED_STOP)
        rows.append((reminder, call))
    return rows


def _plan_visit(
    appointment: Appointment,
    *,
    first: str,
    prep: PrepFacts | None = None,
    skip: frozenset = frozenset(),
) -> list[Reminder]:
    now = timezone.now()
    opening = _reminder_row(appointment=appointment, kind=first)
    planned = [opening]
    policies = reminder_policies()
    if appointment.procedure_type.is_discussion:
        # A talk about results: the confirmation and the day before, no prep, escort
        # or aftercare.
        if (offset := policy_offset(Kind.DAY_BEFORE, policies=policies)) and (
            due := offset_from(appointment, offset)
        ) > now:
            planned.append(_reminder_row(appointment=appointment, kind=Kind.DAY_BEFORE, due_at=due))
        return _reminders_write(planned)
    # Nothing about the visit reaches the patient before "your appointment is booked".
    not_before = opening[0].due_at
    planned += _step_rows(
        appointment, _prep_steps(appointment, prep), not_before=not_before, skip=set(skip)
    )
    if (
        appointment.is_sedated
        and appointment.escort_confirmed_at is None
        and (offset := policy_offset(Kind.ESCORT_REQUEST, policies=policies))
    ):
        # Booked later than the usual day, the request goes at once.
        due = max(offset_from(appointment, offset), not_before)
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
    and carries the new SEQUENCE. A prep email the patient already has is not sent
    again."""
    reminders_cancel_pending(appointment=appointment, reason="visit moved", moved=True)
    return _plan_visit(
        appointment, first=Kind.RESCHEDULED, skip=frozenset(_already_sent(appointment))
    )


def reminders_prep_replan(*, appointment: Appointment) -> list[Reminder]:
    """The prep timeline changed (a hold plan confirmed, the sedation plan changed, an
    escort confirmed): bring the planned emails in line with it, as a difference. Call
    inside the transaction of the change.

    A planned email whose step still stands keeps its row; one whose step is gone is
    cancelled (with the call that stood in for it); a new step gets a row. A step the
    patient already has (sent, or handed to the front desk) is not planned again, so
    confirming a plan twice never emails the patient twice.
    """
    if appointment.status not in PLANNABLE_STATUSES:
        return []  # cancelled, a no-show, under way or done: nothing more about its prep
    current = Reminder.objects.filter(
        appointment=appointment, appointment_version=appointment.version, kind__in=PREP_KINDS
    )
    waiting: dict[tuple, list[Reminder]] = {}
    handled: set[tuple] = set()
    for row in current.exclude(status=Reminder.Status.CANCELLED):
        if row.status == Reminder.Status.PENDING:
            waiting.setdefault(_row_key(row), []).append(row)
        else:
            handled.add(_row_key(row))
    sent = _already_sent(appointment)
    wanted: list[PrepStep] = []
    for step in _prep_steps(appointment):
        kind = _step_kind(step)
        step_at = None if step.as_soon_as_possible else step.at
        key = _step_key(kind, step.kind, step_at, step.text, step.detail)
        if waiting.get(key):
            waiting[key].pop()  # planned already, unchanged: keeps its row
        elif key not in handled:
            wanted.append(step)
    gone = [row.pk for rows in waiting.values() for row in rows]
    if gone:
        reminders_withdraw(appointment=appointment, reason="no longer in the prep plan", ids=gone)
    opening = (
        Reminder.objects.filter(
            appointment=appointment, kind__in=FIRST_KINDS, status=Reminder.Status.PENDING
        )
        .order_by("-due_at")
        .values_list("due_at", flat=True)
        .first()
    )
    planned = _step_rows(appointment, wanted, not_before=opening or timezone.now(), skip=sent)
    if not appointment.procedure_type.is_discussion:
        planned += _escort_request_replan(appointment, timezone.now())
    return _reminders_write(planned)


def stops_sent_before(appointment: Appointment) -> QuerySet[Reminder]:
    """The medicine-stop emails the patient has (sent, or on their way) for an earlier
    time of this visit (an older version)."""
    return Reminder.objects.filter(
        appointment=appointment,
        kind=Kind.MEDICATION_HOLD,
        appointment_version__lt=appointment.version,
        status__in=[Reminder.Status.SENDING, Reminder.Status.SENT],
    )


def reminders_stops_withdraw(*, appointment: Appointment) -> CallTask | None:
    """The visit moved and the stop dates of its old time no longer stand: when the
    patient was already emailed a stop, the front desk calls them now (an open call,
    due at once) to say it no longer applies and give the new dates once the physician
    has confirmed them; the "new time" email of this version says so too
    (`medicines_withdrawn` in messaging.mail). Call in the move's transaction, after
    `reminders_replan`. Nothing (None) when no stop was emailed."""
    if not stops_sent_before(appointment).exists():
        return None
    call, _created = CallTask.objects.get_or_create(
        appointment=appointment,
        reason=CallTask.Reason.STOP_WITHDRAWN,
        appointment_version=appointment.version,
        defaults={
            "reminder_kind": Kind.MEDICATION_HOLD,
            "due_at": timezone.now(),
            "note": "The visit moved after a medicine stop was emailed for the old time: "
            "tell the patient it no longer applies (take their medicines as usual), and "
            "give the new stop dates once the physician has confirmed the hold plan.",
        },
    )
    return call


_REOPENED_NOTES = {
    CallTask.Reason.RECORDS_MERGED: "Two records of this patient were merged after a medicine "
    "stop was emailed: the hold plan has medicines with no decision yet. Tell the patient "
    "the doctor is checking their medicines again, and give the plan (every medicine to "
    "stop) once the physician has confirmed it.",
    CallTask.Reason.MEDICINE_ADDED: "A medicine was added to the patient's list after a "
    "medicine stop was emailed: the hold plan has a medicine with no decision yet. Tell "
    "the patient the doctor is checking their medicines again, and give the plan (every "
    "medicine to stop) once the physician has confirmed it.",
}


def reminders_stops_reopened(
    *, appointment: Appointment, reason: str = CallTask.Reason.RECORDS_MERGED
) -> CallTask | None:
    """The hold plan was un-confirmed because the patient takes a medicine it never
    decided on (two records merged, or a medicine added: `reason`). When a stop of this
    time was already emailed, the patient was told to stop one medicine and keep taking
    the others: the front desk calls them now (due at once) to say their medicines are
    being checked again, and gives the plan once the physician has confirmed it. Pending
    stop emails are withdrawn by the replan (an unconfirmed plan has no stops). Nothing
    (None) when no stop of this time was emailed."""
    sent = Reminder.objects.filter(
        appointment=appointment,
        kind=Kind.MEDICATION_HOLD,
        appointment_version=appointment.version,
        status__in=[Reminder.Status.SENDING, Reminder.Status.SENT],
    )
    if not sent.exists():
        return None
    call, _created = CallTask.objects.get_or_create(
        appointment=appointment,
        reason=reason,
        appointment_version=appointment.version,
        status=CallTask.Status.OPEN,
        defaults={
            "reminder_kind": Kind.MEDICATION_HOLD,
            "due_at": timezone.now(),
            "note": _REOPENED_NOTES[CallTask.Reason(reason)],
        },
    )
    return call


def stops_withdrawn(reminder: Reminder) -> bool:
    """Whether the move that wrote this "new time" email withdrew a stop already
    emailed (see `reminders_stops_withdraw`)."""
    return (
        reminder.kind == Kind.RESCHEDULED
        and CallTask.objects.filter(
            appointment_id=reminder.appointment_id,
            reason=CallTask.Reason.STOP_WITHDRAWN,
            appointment_version=reminder.appointment_version,
        )
        .exclude(status=CallTask.Status.CANCELLED)
        .exists()
    )


def _escort_request_replan(appointment: Appointment, now: datetime) -> list:
    """The escort request follows the sedation level and the escort: asked for once a
    visit becomes sedated without a confirmed escort, withdrawn (with the call standing
    in for it) while unsent once it is no longer needed or the escort is confirmed.

    A request the patient already had is not sent twice, unless it was answered since
    (an escort confirmed after it was written) and that confirmation was dropped: a new
    escort named, or the confirmation taken back. The patient is then asked again
    (invariant 3; QA 3, #4: a request sent and answered would otherwise never go out
    for the new escort)."""
    asked = Reminder.objects.filter(
        appointment=appointment,
        appointment_version=appointment.version,
        kind=Kind.ESCORT_REQUEST,
    )
    if not appointment.is_sedated or appointment.escort_confirmed_at:
        reminders_withdraw(
            appointment=appointment,
            kinds=[Kind.ESCORT_REQUEST],
            reason="escort confirmed" if appointment.is_sedated else "no sedation",
            skipped_too=True,
        )
        return []
    answered = AppointmentEvent.objects.filter(
        appointment=appointment, kind="escort_confirmed"
    ).order_by("-at")
    asked = asked.exclude(status=Reminder.Status.CANCELLED).filter(
        Q(created_at__gt=Subquery(answered.values("at")[:1])) | ~Exists(answered)
    )
    if asked.exists():
        return []  # asked already (or on its way), and not answered since: never twice
    offset = policy_offset(Kind.ESCORT_REQUEST)
    if offset is None or appointment.start_at <= now:
        return []
    due = max(offset_from(appointment, offset), now)
    return [_reminder_row(appointment=appointment, kind=Kind.ESCORT_REQUEST, due_at=due)]


def reminders_withdraw(
    *,
    appointment: Appointment,
    reason: str,
    kinds: Iterable[str] | None = None,
    ids: Iterable[int] | None = None,
    skipped_too: bool = False,
) -> int:
    """Cancel planned emails of `appointment` that must not go out any more (of `kinds`,
    or the rows `ids`), saying why, and the open calls that stood in for them.
    `skipped_too`: also rows written skipped for a patient without email (their call is
    what is withdrawn)."""
    statuses = [Reminder.Status.PENDING]
    if skipped_too:
        statuses.append(Reminder.Status.SKIPPED)
    rows = Reminder.objects.filter(appointment=appointment, status__in=statuses)
    calls = CallTask.objects.filter(
        appointment=appointment,
        status=CallTask.Status.OPEN,
        reason__in=[CallTask.Reason.NO_EMAIL, CallTask.Reason.MISSED_STOP],
    )
    if kinds is not None:
        rows = rows.filter(kind__in=kinds)
        calls = calls.filter(reminder_kind__in=kinds)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
        calls = calls.filter(reminder_id__in=ids)
    calls.update(status=CallTask.Status.CANCELLED, closed_reason=reason[:100])
    return rows.filter(status=Reminder.Status.PENDING).update(
        status=Reminder.Status.CANCELLED, skip_reason=reason
    )


def reminders_cancel_pending(
    *, appointment: Appointment, reason: str = "visit cancelled", moved: bool = False
) -> int:
    """Void every reminder of `appointment` that has not gone out yet (results notices
    excepted), and the phone calls that stood in for them; and close the other open
    calls the change made pointless (`calls.calls_close_obsolete`; `moved`: the visit
    moved rather than ended)."""
    kinds = [kind for kind in Kind.values if kind != Kind.RESULTS_READY]
    voided = reminders_withdraw(appointment=appointment, reason=reason, kinds=kinds)
    calls_close_obsolete(appointment=appointment, why=reason, moved=moved)
    return voided


def reminders_contact_replan(*, appointment: Appointment) -> None:
    """The patient's email address or email preference changed: every planned email of
    the visit becomes a front-desk call at once (no address, or no emails wanted), or
    goes back to being an email (an address again). Nothing planned is dropped."""
    patient = appointment.patient
    if not patient.can_receive_email:
        rows = list(
            Reminder.objects.filter(appointment=appointment, status=Reminder.Status.PENDING)
        )
        calls = [no_email_call(row) for row in rows if row.kind not in NON_ESSENTIAL_KINDS]
        Reminder.objects.filter(
            pk__in=[row.pk for row in rows if row.kind not in NON_ESSENTIAL_KINDS]
        ).update(status=Reminder.Status.SKIPPED, skip_reason=NO_EMAIL, last_error=NO_EMAIL)
        Reminder.objects.filter(
            pk__in=[row.pk for row in rows if row.kind in NON_ESSENTIAL_KINDS]
        ).update(
            status=Reminder.Status.SKIPPED,
            skip_reason=NO_EMAIL_NO_CALL,
            last_error=NO_EMAIL_NO_CALL,
        )
        calls_settle_due(calls, appointment)
        CallTask.objects.bulk_create(calls)
        return
    now = timezone.now()
    open_calls = CallTask.objects.filter(
        appointment=appointment,
        status=CallTask.Status.OPEN,
        reason=CallTask.Reason.NO_EMAIL,
        reminder__status=Reminder.Status.SKIPPED,
        reminder__skip_reason=NO_EMAIL,
    )
    back = dict(open_calls.values_list("pk", "reminder_id"))
    Reminder.objects.filter(pk__in=back.values()).exclude(expires_at__lte=now).update(
        status=Reminder.Status.PENDING, skip_reason="", last_error=""
    )
    CallTask.objects.filter(pk__in=back, reminder__status=Reminder.Status.PENDING).update(
        status=CallTask.Status.CANCELLED
    )
    # Non-essential mail skipped for want of an address (no call stood in for it).
    Reminder.objects.filter(
        appointment=appointment,
        status=Reminder.Status.SKIPPED,
        # Written before the honest label, or after it.
        skip_reason__in=[NO_EMAIL, NO_EMAIL_NO_CALL],
        kind__in=NON_ESSENTIAL_KINDS,
    ).exclude(expires_at__lte=now).update(
        status=Reminder.Status.PENDING, skip_reason="", last_error=""
    )
