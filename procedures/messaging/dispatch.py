"""Patient reminders: planned as outbox rows, dispatched by a periodic task.

The database is the source of truth; the broker only wakes the dispatcher. A
batch of rows is claimed (status `sending` plus a lease) in a short transaction,
sent over one SMTP connection, and marked sent with a conditional UPDATE. A
worker killed between claim and mark leaves its rows `sending`; the sweep hands
them back once the lease expires.

Two things keep the dispatcher close to what the SMTP server can take
(reminder_sending.py):
- a sender thread holds the batch's SMTP connection and sends in order while the
  dispatcher renders the next message (at most RENDER_AHEAD are waiting);
- rows are marked sent in groups: one UPDATE for every MARK_EVERY (20) messages the
  server accepted, or sooner once the oldest of them is MARK_WITHIN (0.2 s) old.
The price is the duplicate window. A worker killed after the server accepted a
message and before its row's UPDATE committed sends that message again once the
sweep hands the row back (same Message-ID). With one UPDATE per row that was at
most one message; it is now at most the unmarked group plus the few accepted
messages whose outcome the dispatcher has not yet read: about MARK_EVERY +
RENDER_AHEAD + 1 messages, sent within the last MARK_WITHIN seconds or so. A
message is never lost: the rows stay `sending` and are swept.
"""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from clinic.models import Heartbeat
from procedures.messaging.mail import reminder_message
from procedures.messaging.models import Reminder
from procedures.messaging.plan import BEFORE_VISIT_KINDS
from procedures.messaging.sending import RENDER_AHEAD, MailSender, Outcome, SentMarks
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
    errors: list[str] = field(default_factory=list)


def reminders_claim(*, now: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due rows: mark them `sending` with a lease, in one short
    transaction. Rows locked by another dispatcher are skipped, not waited for."""
    lease_until = now + timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
    with transaction.atomic():
        ids = list(
            Reminder.objects.due(now)
            .order_by("due_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Reminder.objects.filter(pk__in=ids, status=Reminder.Status.PENDING).update(
                status=Reminder.Status.SENDING, lease_until=lease_until, attempts=F("attempts") + 1
            )
    return ids


def reminders_sweep(*, now: datetime | None = None) -> int:
    """Hand back rows whose lease expired (their worker died mid-send)."""
    now = now or timezone.now()
    return Reminder.objects.filter(status=Reminder.Status.SENDING, lease_until__lt=now).update(
        status=Reminder.Status.PENDING, lease_until=None
    )


def reminders_dispatch(*, batch_size: int | None = None, max_batches: int = 50) -> DispatchReport:
    """Send every due reminder, batch by batch, over one SMTP connection per batch."""
    batch_size = batch_size or settings.REMINDER_BATCH_SIZE
    report = DispatchReport()
    for _batch in range(max_batches):
        ids = reminders_claim(now=timezone.now(), limit=batch_size)
        if not ids:
            break
        report.claimed += len(ids)
        _send_batch(ids, report)
        if len(ids) < batch_size:
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


def _fast_commits(on: bool) -> None:
    """While a batch sends, don't wait for PostgreSQL's WAL flush on each row's mark
    (a round trip and an fsync, most of a send's cost). A killed worker loses no
    committed mark; only a crash of the database server itself could forget the
    last fraction of a second of them, and those rows would be swept and sent
    again: a possible duplicate, never a lost reminder."""
    if db.vendor == "postgresql" and not db.in_atomic_block:
        with db.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO " + ("OFF" if on else "DEFAULT"))


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
    "appointment__patient__given_name",
    "appointment__patient__email",
    "appointment__patient__email_reminders",
    "appointment__patient__preferred_language",
    "appointment__patient__details_in_email",
    "appointment__procedure_type__name",
)


def _send_batch(ids: list[int], report: DispatchReport) -> None:
    reminders = list(
        Reminder.objects.filter(pk__in=ids, status=Reminder.Status.SENDING)
        .select_related("appointment__patient", "appointment__procedure_type")
        .only(*SEND_FIELDS)
        .order_by("due_at", "pk")
    )
    # One send may take up to the mail timeout; start none that could outlast the lease.
    margin = timedelta(seconds=getattr(settings, "EMAIL_TIMEOUT", None) or 60)
    marks = SentMarks()
    sender = MailSender(margin)
    _fast_commits(True)
    try:
        for index, reminder in enumerate(reminders):
            if sender.unreachable:
                # The server cannot be reached: each row left would wait out the same
                # timeout only to fail the same way. Retry them all later.
                for unsent in reminders[index:]:
                    _failed(unsent, sender.unreachable, report)
                break
            if _voided(reminder, report):
                continue
            if timezone.now() + margin >= reminder.lease_until:
                # Past the lease the sweep may give a row to another run, and both
                # would send it: hand the rest back untried instead.
                _release(reminders[index:], report)
                break
            try:
                message = reminder_message(reminder).freeze()
            except Exception as exc:
                _failed(reminder, exc, report)
                continue
            # Rendering the next message overlaps this one's SMTP round trips.
            sender.put(reminder, message)
            while sender.in_flight > RENDER_AHEAD:
                _settle(sender.next_outcome(timeout=marks.wait()), marks, report)
            marks.flush_if_due()
        while sender.in_flight:
            _settle(sender.next_outcome(timeout=marks.wait()), marks, report)
    finally:
        sender.stop()
        for outcome in sender.drain():  # left there only if the loop above raised
            _settle(outcome, marks, report)
        marks.flush()
        report.sent += marks.marked
        _fast_commits(False)


def _settle(outcome: Outcome | None, marks: SentMarks, report: DispatchReport) -> None:
    """Record what became of one message the sender took (None: nothing new yet)."""
    if outcome is None:
        marks.flush_if_due()
        return
    if outcome.sent_at:
        marks.add(outcome.reminder, outcome.sent_at)
        marks.flush_if_due()
    elif outcome.late:
        _release([outcome.reminder], report)
    elif outcome.error is not None:  # (always, when neither sent nor late)
        _failed(outcome.reminder, outcome.error, report)


def _void_reason(reminder: Reminder, now: datetime) -> str | None:
    appointment = reminder.appointment
    if reminder.kind == Reminder.Kind.CANCELLATION:
        # Outlives the appointment it is about, but not the patient's choice:
        # without this, a notice to nobody would be marked "sent".
        return None if appointment.patient.can_receive_email else Reminder.Status.SKIPPED
    if appointment.status in Appointment.RELEASED_STATUSES:
        return Reminder.Status.CANCELLED
    if reminder.appointment_version != appointment.version:
        return Reminder.Status.CANCELLED
    # Too late to be of use (a fasting reminder after the procedure): skipped, not sent.
    if reminder.expires_at and reminder.expires_at <= now:
        return Reminder.Status.SKIPPED
    if reminder.kind in BEFORE_VISIT_KINDS and appointment.start_at <= now:
        return Reminder.Status.SKIPPED
    if not appointment.patient.can_receive_email:
        return Reminder.Status.SKIPPED
    return None


def _voided(reminder: Reminder, report: DispatchReport) -> bool:
    """Close a row that must not be sent (any more); True if it was."""
    void = _void_reason(reminder, timezone.now())
    if void:
        _finish(reminder, status=void)
        setattr(report, void, getattr(report, void) + 1)
    return bool(void)


def _failed(reminder: Reminder, exc: Exception, report: DispatchReport) -> None:
    """A permanent refusal (5xx) fails the row; anything else is retried later."""
    code = _smtp_code(exc)
    reason = f"{code or ''} {exc.__class__.__name__}".strip()
    report.errors.append(reason)
    if code and code >= 500:
        _finish(reminder, status=Reminder.Status.FAILED, last_error=reason)
        report.failed += 1
    elif reminder.attempts >= settings.REMINDER_MAX_ATTEMPTS:
        _finish(reminder, status=Reminder.Status.FAILED, last_error=f"gave up: {reason}")
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
