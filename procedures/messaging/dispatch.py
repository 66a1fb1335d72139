"""Patient reminders: planned as outbox rows, dispatched by a periodic task.

The database is the source of truth; the broker only wakes the dispatcher. A
batch of rows is claimed (status `sending` plus a lease) in one short
transaction and one UPDATE, loaded with what rendering needs in one query, sent
over one SMTP connection, and each row is marked sent with a conditional UPDATE
as soon as the server accepted its message. A worker killed between claim and
mark leaves its rows `sending`; the sweep (or the next run, once the lease and
its grace are over) hands them back. So a message is never lost, and a duplicate
is possible only for the one message the server accepted just before the kill
(same Message-ID, so the patient's mail client can tell).
"""

import contextlib
import logging
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.models import Heartbeat
from procedures.messaging.calls import calls_settle_due
from procedures.messaging.kinds import (
    BEFORE_VISIT_KINDS,
    FIRST_KINDS,
    NO_EMAIL,
    NO_EMAIL_NO_CALL,
    NON_ESSENTIAL_KINDS,
    NOT_ABOUT_THE_VISIT_KINDS,
    PREP_KINDS,
)
from procedures.messaging.mail import reminder_context, reminder_message, reminder_words
from procedures.messaging.models import CallTask, Reminder
from procedures.messaging.plan import no_email_call
from procedures.prep.models import StepKind
from procedures.prep.timeline import patient_timeline
from procedures.scheduling.models import Appointment

log = logging.getLogger(__name__)


# --- Dispatch ---------------------------------------------------------------------


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    released: int = 0
    deferred: int = 0
    # Rows whose email read word for word as one just sent to the patient: sent with it.
    merged: int = 0
    errors: list[str] = field(default_factory=list)


def reminders_claim(*, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows: mark them `sending` with a lease, in one short
    transaction. Rows locked by another dispatcher are skipped, not waited for.

    Lease-aware: a row still `sending` after its lease ended (its worker died) is due
    again at once, so the every-minute run sends it within a minute of the lease's end
    without waiting for the sweep. Its old lease no longer matches, so the dead run,
    were it alive after all, could not mark it. A live but slow run may still be
    recording a group of accepted messages just past its lease: only a lease over by
    REMINDER_LEASE_GRACE_SECONDS is taken, or both runs would send those messages."""
    lease_until = now + timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    expired = lease_expired_before(now)
    with transaction.atomic():
        ids = list(
            Reminder.objects.due(now)
            .order_by("due_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if len(ids) < limit:
            ids += list(
                Reminder.objects.filter(status=Reminder.Status.SENDING, lease_until__lt=expired)
                .order_by("lease_until", "pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[: limit - len(ids)]
            )
        if ids:
            Reminder.objects.filter(pk__in=ids).filter(
                Q(status=Reminder.Status.PENDING)
                | Q(status=Reminder.Status.SENDING, lease_until__lt=expired)
            ).update(
                status=Reminder.Status.SENDING, lease_until=lease_until, attempts=F("attempts") + 1
            )
    return ids


def lease_expired_before(now: datetime) -> datetime:
    """Rows whose lease ended before this moment are their dead worker's no more."""
    return now - timedelta(seconds=settings.REMINDER_LEASE_GRACE_SECONDS)


def reminders_sweep(*, now: datetime | None = None) -> int:
    """Hand back rows whose lease expired (their worker died mid-send)."""
    expired = lease_expired_before(now or timezone.now())
    return Reminder.objects.filter(status=Reminder.Status.SENDING, lease_until__lt=expired).update(
        status=Reminder.Status.PENDING, lease_until=None
    )


def reminders_dispatch(
    *,
    batch_size: int | None = None,
    max_batches: int = 50,
    more_due: Callable[[], None] | None = None,
) -> DispatchReport:
    """Send every due reminder, batch by batch, over one SMTP connection per batch.

    A run claims batches for up to REMINDER_RUN_SECONDS, well inside the task's time
    limit. `more_due` (the Celery task passes a wake-up) is called when more rows may be
    waiting: once the first batch came back full, so that an idle worker process joins
    in on a large morning batch (the claims skip each other's rows), and when the run
    stops with rows left, so that a fresh run carries on."""
    batch_size = batch_size or settings.REMINDER_BATCH_SIZE
    deadline = time.monotonic() + settings.REMINDER_RUN_SECONDS
    report = DispatchReport()
    for batch in range(max_batches):
        ids = reminders_claim(now=timezone.now(), limit=batch_size)
        if not ids:
            break
        full = len(ids) == batch_size
        if batch == 0 and full and more_due is not None:
            more_due()
        report.claimed += len(ids)
        _send_batch(ids, report)
        if not full:
            break
        if time.monotonic() >= deadline or batch == max_batches - 1:
            if more_due is not None:
                more_due()
            break
    Heartbeat.beat("dispatcher")
    return report


def _finish(reminder: Reminder, **changes: Any) -> bool:
    """Move a claimed row to its outcome, only if it is still ours: still `sending`
    under our lease (not handed back by the sweep and claimed by another run)."""
    changes.setdefault("lease_until", None)
    return bool(
        Reminder.objects.filter(
            pk=reminder.pk, status=Reminder.Status.SENDING, lease_until=reminder.lease_until
        ).update(**changes)
    )


def mark_sent(reminder: Reminder) -> bool:
    """Mark one claimed row sent, at once, as the server accepted its message (one
    conditional UPDATE): a worker killed at any moment can send one message twice at
    most, the one accepted and not yet marked. False if the row is no longer ours."""
    return _finish(reminder, status=Reminder.Status.SENT, sent_at=timezone.now(), last_error="")


def _retry_delay(attempts: int) -> timedelta:
    base = settings.REMINDER_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def _smtp_code(exc: Exception) -> int | None:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return max(codes) if codes else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code
    return None


# What deciding, writing and recording a reminder reads: a batch loads no more (a field
# missing here would cost a query per email: test_reminders pins the count).
SEND_FIELDS = (
    "kind",
    "appointment_version",
    "due_at",
    "expires_at",
    "step_kind",
    "step_text",
    "step_detail",
    "step_at",
    "status",
    "attempts",
    "lease_until",
    "appointment__status",
    "appointment__version",
    "appointment__start_at",
    "appointment__end_at",
    "appointment__sedation_level",
    "appointment__escort_confirmed_at",
    "appointment__patient__given_name",
    "appointment__patient__email",
    "appointment__patient__email_reminders",
    "appointment__patient__preferred_language",
    "appointment__patient__details_in_email",
    "appointment__procedure_type__name",
    # The fasting times in the fasting and day-before emails (a child's fast, no fast
    # for a results discussion): mail._fast_context.
    "appointment__patient__date_of_birth",
    "appointment__procedure_type__kind",
    # The visit's site: name, address, phone and time zone in the email (issue 18).
    "appointment__room__site__name",
    "appointment__room__site__address",
    "appointment__room__site__phone",
    "appointment__room__site__time_zone",
)


def _send_batch(ids: list[int], report: DispatchReport) -> None:
    reminders = list(
        Reminder.objects.filter(pk__in=ids, status=Reminder.Status.SENDING)
        .select_related(
            "appointment__patient", "appointment__procedure_type", "appointment__room__site"
        )
        .only(*SEND_FIELDS)
        .order_by("due_at", "pk")
    )
    # "Your appointment is booked" (or "new time") leads whatever else is in the batch.
    reminders.sort(key=lambda r: r.kind not in FIRST_KINDS)
    checks = SendTimeChecks(reminders)
    # One send may take up to the mail timeout; start none that could outlast the lease.
    margin = timedelta(seconds=getattr(settings, "EMAIL_TIMEOUT", None) or 60)
    connection = get_connection()
    sent_words: dict[tuple, int] = {}
    try:
        for index, reminder in enumerate(reminders):
            if _voided(reminder, report, checks) or _deferred(reminder, report, checks):
                continue
            if timezone.now() + margin >= reminder.lease_until:
                # Past the lease the sweep may give a row to another run, and both
                # would send it: hand the rest back untried instead.
                _release(reminders[index:], report)
                return
            if unreachable := _send(reminder, connection, report, sent_words):
                # The server cannot be reached: each row left would wait out the same
                # timeout only to fail the same way. Retry them all later.
                for unsent in reminders[index + 1 :]:
                    _failed(unsent, unreachable, report)
                return
    finally:
        with contextlib.suppress(Exception):  # closing a broken connection changes nothing
            connection.close()


def _send(
    reminder: Reminder,
    connection: BaseEmailBackend,
    report: DispatchReport,
    sent_words: dict[tuple, int],
) -> Exception | None:
    """Render, send and mark one row over the batch's connection; the error if the
    server cannot be reached at all (any other failure is the row's own).

    A row whose email reads word for word as one the server accepted earlier in the
    batch (`sent_words`: the `reminder_words` of each) is not sent again but marked
    sent with it: two prep steps due at once, for a patient who gets no details by
    email, are both "There is something to do..." and the same link (invariant 26)."""
    try:
        context = reminder_context(reminder)
        message = reminder_message(reminder, connection=connection, context=context)
        words = reminder_words(reminder, context)
    except Exception as exc:
        _failed(reminder, exc, report)
        return None
    if words is not None and (first := sent_words.get(words)) is not None:
        if _finish(
            reminder,
            status=Reminder.Status.SENT,
            sent_at=timezone.now(),
            last_error="",
            skip_reason=SENT_WITH.format(first),
        ):
            report.merged += 1
        return None
    try:
        connection.open()  # a no-op while open: the batch shares one session
    except Exception as exc:
        _failed(reminder, exc, report)
        return exc
    try:
        message.send()
    except Exception as exc:
        # A refused or dropped connection is reopened for the next message.
        with contextlib.suppress(Exception):  # already broken
            connection.close()
        _failed(reminder, exc, report)
        return None
    if mark_sent(reminder):
        report.sent += 1
        if words is not None:
            sent_words.setdefault(words, reminder.pk)
    return None


# What a row merged into an earlier email of its batch records (`Reminder.skip_reason`):
# the clinic's words and the row whose email it went as, never patient data.
SENT_WITH = "same words as email {}: sent once"


# A stop email may go a little after its time (a late run, a retry); past this it would
# name a time already gone: the front desk calls instead.
STOP_GRACE = timedelta(hours=2)


class SendTimeChecks:
    """What the send-time judgement of one batch reads, once per batch: first emails
    still waiting elsewhere, and the current prep timeline of visits with prep rows."""

    def __init__(self, reminders: list[Reminder]):
        ids = [r.pk for r in reminders]
        visits = {r.appointment_id for r in reminders if r.kind not in FIRST_KINDS}
        self.first_waiting: dict[int, datetime] = {}
        if visits:
            for appointment_id, due in (
                Reminder.objects.filter(
                    appointment_id__in=visits,
                    kind__in=FIRST_KINDS,
                    status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING],
                    appointment_version=F("appointment__version"),
                )
                .exclude(pk__in=ids)
                .values_list("appointment_id", "due_at")
            ):
                self.first_waiting[appointment_id] = max(
                    due, self.first_waiting.get(appointment_id, due)
                )
        self._prep_visits = {r.appointment_id for r in reminders if r.kind in PREP_KINDS}
        self._steps: dict[int, set[tuple]] | None = None

    def steps(self, appointment_id: int) -> set[tuple]:
        """The prep steps that stand now for this visit, keyed as their emails are."""
        if self._steps is None:
            self._steps = {}
            for appointment in Appointment.objects.select_related(
                "patient", "procedure_type"
            ).filter(pk__in=self._prep_visits):
                self._steps[appointment.pk] = {
                    step_key(step.kind, None if step.as_soon_as_possible else step.at, step.text)
                    for step in patient_timeline(appointment)
                }
        return self._steps.get(appointment_id, set())


def step_key(step_kind: str, step_at: datetime | None, text: str) -> tuple:
    """What makes a prep email's step the timeline's step. A medicine stop by its time
    alone: its words follow from the time (`timeline.stop_step_text`), and a row written
    in an earlier wording is the same stop, not one withdrawn."""
    if step_kind == StepKind.MEDICATION_HOLD:
        return (step_kind, step_at)
    return (step_kind, step_at, text)


def _void_reason(
    reminder: Reminder, now: datetime, checks: SendTimeChecks | None = None
) -> tuple[str, str, str | None] | None:
    """Whether a claimed row must not be sent (any more), judged now, at send time:
    (status, why, the front-desk call that stands in for it or None), or None to send."""
    appointment = reminder.appointment
    S = Reminder.Status
    kind = reminder.kind
    essential = kind not in NON_ESSENTIAL_KINDS
    no_email = (
        (S.SKIPPED, NO_EMAIL, CallTask.Reason.NO_EMAIL)
        if essential
        else (S.SKIPPED, NO_EMAIL_NO_CALL, None)
    )
    if kind == Reminder.Kind.CANCELLATION:
        # Outlives the appointment it is about, but not the patient's choice:
        # without this, a notice to nobody would be marked "sent".
        return None if appointment.patient.can_receive_email else no_email
    if (
        appointment.status in Appointment.RELEASED_STATUSES
        and kind not in NOT_ABOUT_THE_VISIT_KINDS
    ):
        return S.CANCELLED, f"visit {appointment.get_status_display().lower()}", None
    if reminder.appointment_version != appointment.version and kind != Reminder.Kind.RESULTS_READY:
        return S.CANCELLED, "visit moved", None
    if kind in BEFORE_VISIT_KINDS:
        if appointment.status in (
            Appointment.Status.CHECKED_IN,
            Appointment.Status.IN_PROCEDURE,
            Appointment.Status.COMPLETED,
        ):
            return S.SKIPPED, f"visit {appointment.get_status_display().lower()}", None
        if appointment.start_at <= now:
            return S.SKIPPED, "visit has started", None
    # Too late to be of use (a fasting reminder after the procedure): skipped, not sent.
    if reminder.expires_at and reminder.expires_at <= now:
        return S.SKIPPED, "too late to be of use", None
    if kind == Reminder.Kind.ESCORT_REQUEST and appointment.escort_confirmed_at:
        return S.CANCELLED, "escort confirmed", None
    if kind in PREP_KINDS and reminder.step_kind and checks is not None:
        # The step must still stand, as the timeline says now (the replanning withdraws
        # a changed step at once; this catches whatever it did not).
        if reminder.step_at and reminder.step_at >= appointment.start_at:
            return S.SKIPPED, "step not before the visit", None
        if step_key(reminder.step_kind, reminder.step_at, reminder.step_text) not in checks.steps(
            appointment.pk
        ):
            return S.CANCELLED, "no longer in the prep plan", None
        if (
            kind == Reminder.Kind.MEDICATION_HOLD
            and reminder.step_at
            and reminder.step_at + STOP_GRACE < now
        ):
            return S.SKIPPED, "stop time passed: front-desk call", CallTask.Reason.MISSED_STOP
    if not appointment.patient.can_receive_email:
        return no_email
    return None


def _voided(
    reminder: Reminder, report: DispatchReport, checks: SendTimeChecks | None = None
) -> bool:
    """Close a row that must not be sent (any more), saying why, with the front-desk
    call that stands in for it where one is owed; True if it was."""
    void = _void_reason(reminder, timezone.now(), checks)
    if void:
        status, why, call = void
        if _finish(reminder, status=status, skip_reason=why) and call:
            _call_for(reminder, call)
        setattr(report, status, getattr(report, status) + 1)
    return bool(void)


def _deferred(reminder: Reminder, report: DispatchReport, checks: SendTimeChecks) -> bool:
    """Nothing about a visit goes before its first email ("your appointment is booked",
    "new time"): while that one waits (a retry, another worker), this one waits too."""
    if reminder.kind in FIRST_KINDS or reminder.kind in NOT_ABOUT_THE_VISIT_KINDS:
        return False
    first_due = checks.first_waiting.get(reminder.appointment_id)
    if first_due is None:
        return False
    due = max(first_due, timezone.now()) + timedelta(seconds=1)
    if _finish(reminder, status=Reminder.Status.PENDING, due_at=due, attempts=F("attempts") - 1):
        report.deferred += 1
    return True


def _call_for(reminder: Reminder, reason: str) -> CallTask:
    """The front-desk call that stands in for an email that will not reach the patient:
    a refused email or a missed stop is chased now (the same minute); one the patient
    cannot receive falls due as the plan's calls do (invariant 30)."""
    call = no_email_call(reminder, reason=reason)
    if reason == CallTask.Reason.NO_EMAIL:
        calls_settle_due([call], reminder.appointment)
    else:
        call.due_at = timezone.now()
    call.save()
    return call


def _failed(reminder: Reminder, exc: Exception, report: DispatchReport) -> None:
    """A permanent refusal (5xx) fails the row; anything else is retried later."""
    code = _smtp_code(exc)
    reason = f"{code or ''} {exc.__class__.__name__}".strip()
    report.errors.append(reason)
    if code and code >= 500:
        # Refused for good: the front desk calls the patient, from this minute.
        if _finish(reminder, status=Reminder.Status.FAILED, last_error=reason):
            _call_for(reminder, CallTask.Reason.EMAIL_FAILED)
        report.failed += 1
    elif reminder.attempts >= settings.REMINDER_MAX_ATTEMPTS:
        if _finish(reminder, status=Reminder.Status.FAILED, last_error=f"gave up: {reason}"):
            _call_for(reminder, CallTask.Reason.EMAIL_FAILED)
        report.failed += 1
    else:
        _finish(
            reminder,
            status=Reminder.Status.PENDING,
            due_at=timezone.now() + _retry_delay(reminder.attempts),
            last_error=reason,
        )
        report.retried += 1
    log.warning("reminder %s not sent: %s", reminder.pk, reason)


def _release(reminders: list[Reminder], report: DispatchReport) -> None:
    """Hand claimed rows back untried: pending again, and the attempt not counted."""
    for reminder in reminders:
        if _finish(reminder, status=Reminder.Status.PENDING, attempts=F("attempts") - 1):
            report.released += 1


# --- Front desk: resend and resolve ----------------------------------------------
