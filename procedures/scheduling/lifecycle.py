"""The appointment lifecycle: one service that moves an appointment along its
transition table (`Appointment.TRANSITIONS`) and writes the timeline line.

What a step sets off elsewhere (the readiness check before a start, test orders on
completion, emails voided on a cancellation) is `procedures.workflows.visits`.
"""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.scheduling.models import Appointment, AppointmentEvent


def locked_for(appointment_id: int, action: str) -> Appointment:
    """The appointment, locked for this transaction, if the lifecycle allows `action`
    now; ValidationError in words if not."""
    appointment = Appointment.objects.select_for_update().get(pk=appointment_id)
    refusal = appointment.lifecycle_refusal(action, now=timezone.now())
    if refusal:
        raise ValidationError(refusal)
    return appointment


def record_transition(
    appointment: Appointment, *, to: str, by: User | None, kind: str, note: str = ""
) -> None:
    """Write the timeline line of a status change and set the new status (unsaved)."""
    AppointmentEvent.objects.create(
        appointment=appointment,
        kind=kind,
        from_status=appointment.status,
        to_status=to,
        note=note,
        by=by,
    )
    appointment.status = to


def appointment_transition(
    *, appointment_id: int, action: str, by: User | None, note: str = "", **fields: object
) -> Appointment:
    """Move an appointment by `action` (a key of `Appointment.TRANSITIONS`), in one
    transaction: lock, check the table and the time rules, write the event, save the
    status and any `fields` that come with the step (e.g. `completed_at`)."""
    step = Appointment.TRANSITIONS[action]
    with transaction.atomic():
        appointment = locked_for(appointment_id, action)
        record_transition(appointment, to=step.target, by=by, kind=step.event, note=note)
        for name, value in fields.items():
            setattr(appointment, name, value)
        appointment.save(update_fields=["status", "updated_at", *fields])
    return appointment


def cancel_reason_text(
    *, reason: str = "", reason_code: str = "", note: str = ""
) -> tuple[str, str]:
    """(reason text, reason code) of a cancellation, or ValidationError in words.
    `reason_code` is one of Appointment.CancelReason with an optional note; a bare
    `reason` text is kept as it is (code "other")."""
    if reason_code:
        if reason_code not in Appointment.CancelReason.values:
            raise ValidationError({"reason_code": _("Choose a reason from the list.")})
        label = str(Appointment.CancelReason(reason_code).label)
        return (f"{label}: {note}" if note else label), reason_code
    if not reason.strip():
        raise ValidationError({"reason_code": _("Choose a reason for cancelling.")})
    return reason, Appointment.CancelReason.OTHER


def appointment_confirm(*, appointment_id: int, by: User | None) -> Appointment:
    """The patient confirmed they are coming."""
    return appointment_transition(appointment_id=appointment_id, action="confirm", by=by)


def appointment_check_in(*, appointment_id: int, by: User | None) -> Appointment:
    """The patient has arrived: only on the appointment's own clinic day."""
    return appointment_transition(appointment_id=appointment_id, action="check_in", by=by)


def appointment_check_in_undo(*, appointment_id: int, by: User | None) -> Appointment:
    """Take back a check-in made by mistake, before the procedure starts: the visit
    returns to the status it had before (scheduled or confirmed, from the check-in's
    timeline line), and the timeline keeps both lines (invariant 33). The checklist's
    ticks stay: each is its own record of who checked what, and when."""
    action = "undo_check_in"
    step = Appointment.TRANSITIONS[action]
    with transaction.atomic():
        appointment = locked_for(appointment_id, action)
        before = (
            appointment.events.filter(kind=AppointmentEvent.Kind.CHECKED_IN)
            .order_by("-at", "-pk")
            .values_list("from_status", flat=True)
            .first()
        )
        allowed = Appointment.TRANSITIONS["check_in"].sources
        to = before if before in allowed else step.target
        record_transition(appointment, to=to, by=by, kind=step.event)
        appointment.save(update_fields=["status", "updated_at"])
    return appointment
