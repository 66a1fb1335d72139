"""Staff actions on the patient email outbox: send a failed email again, or record
that the front desk followed it up another way."""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.messaging.kinds import NOT_ABOUT_THE_VISIT_KINDS
from procedures.messaging.models import CallTask, Reminder
from procedures.messaging.tasks import wake_dispatcher
from procedures.scheduling.models import Appointment


def reminder_resend(*, reminder_id: int, by: User | None) -> Reminder:
    """Send a reminder again, now, as a new outbox row (a new Message-ID: the patient
    may have deleted the first one). A failed original stops being flagged."""
    with transaction.atomic():
        original = (
            Reminder.objects.select_for_update()
            .select_related("appointment__patient")
            .get(pk=reminder_id)
        )
        # The visit's row is the lock every resend of its emails queues behind, so two
        # presses on two rows of the same email see each other's copy.
        Appointment.objects.select_for_update().filter(pk=original.appointment_id).first()
        appointment = original.appointment
        if original.status in (Reminder.Status.PENDING, Reminder.Status.SENDING):
            raise ValidationError(_("This email has not gone out yet: there is nothing to resend."))
        if not appointment.patient.can_receive_email:
            raise ValidationError(_("This patient gets no email: call them instead."))
        voided = appointment.status in Appointment.RELEASED_STATUSES
        about_the_visit = original.kind not in NOT_ABOUT_THE_VISIT_KINDS
        if about_the_visit and (voided or original.appointment_version != appointment.version):
            raise ValidationError(
                _("This email is about an appointment time that no longer stands.")
            )
        # A copy still waiting to go is the resend already asked for: a second press
        # (or a second desk) must not send the patient the same email twice.
        waiting = Reminder.objects.filter(
            appointment=appointment,
            kind=original.kind,
            appointment_version=original.appointment_version,
            step_kind=original.step_kind,
            step_text=original.step_text,
            step_detail=original.step_detail,
            step_at=original.step_at,
            status__in=[Reminder.Status.PENDING, Reminder.Status.SENDING],
        )
        if waiting.exists():
            raise ValidationError(
                _("A copy of this email is already waiting to go: it was not queued again.")
            )
        copy = Reminder.objects.create(
            appointment=appointment,
            kind=original.kind,
            appointment_version=original.appointment_version,
            due_at=timezone.now(),
            step_kind=original.step_kind,
            step_text=original.step_text,
            step_detail=original.step_detail,
            step_at=original.step_at,
        )
        if original.is_flagged:
            original.resolved_at, original.resolved_by = timezone.now(), by
            original.save(update_fields=["resolved_at", "resolved_by"])
            # Sent again: the call that stood in for it is no longer owed.
            _calls_for(original).update(status=CallTask.Status.CANCELLED)
    wake_dispatcher()
    return copy


def reminder_resolve(*, reminder_id: int, by: User | None) -> Reminder:
    """Clear the front desk's flag on a failed email (the patient was reached another way)."""
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
        if not reminder.is_flagged:
            raise ValidationError(_("Only a failed email that is still flagged can be resolved."))
        reminder.resolved_at, reminder.resolved_by = timezone.now(), by
        reminder.save(update_fields=["resolved_at", "resolved_by"])
        _calls_for(reminder).update(
            status=CallTask.Status.DONE, done_at=reminder.resolved_at, done_by=by
        )
    return reminder


def _calls_for(reminder: Reminder) -> QuerySet[CallTask]:
    return CallTask.objects.filter(
        reminder=reminder, reason=CallTask.Reason.EMAIL_FAILED, status=CallTask.Status.OPEN
    )


def reminders_follow_visits(visits: QuerySet[Appointment]) -> int:
    """After `visits` moved to another site (rescheduled into a room there, or their
    room moved), their emails carry the visits' sites again, in the same transaction
    (docs/invariants.md, 21). Returns how many emails moved."""
    site_of_visit = Appointment.objects.filter(pk=OuterRef("appointment_id")).values("site_id")[:1]
    return (
        Reminder.objects.filter(appointment__in=visits)
        .exclude(site=F("appointment__site"))
        .update(site=Subquery(site_of_visit))
    )
