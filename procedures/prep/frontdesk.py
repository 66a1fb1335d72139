"""Front-desk tasks that follow a visit's preparation: a booking inside the stop
period, an escort to confirm, stops to re-date after a move.
"""

from datetime import date, datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.catalog.choices import TransportMode
from procedures.prep.facts import PrepFacts, hold_plan_reopen, local_date, prep_event
from procedures.prep.models import (
    FrontDeskTask,
    MedicationHold,
    PrepPlan,
)
from procedures.scheduling.models import Appointment


def _due_before(appointment: Appointment, days: int) -> date:
    return max(local_date(appointment.start_at) - timedelta(days=days), local_date(timezone.now()))


def _task(
    appointment: Appointment, kind: str, *, wanted: bool, due: date, open_kinds: set, note: str = ""
) -> None:
    """Open (or re-date) the task when wanted; drop it when no longer wanted and not done
    (`open_kinds`: the kinds of this appointment's tasks not done yet)."""
    if wanted:
        FrontDeskTask.objects.update_or_create(
            appointment=appointment, kind=kind, defaults={"due_date": due, "note": note}
        )
    elif kind in open_kinds:
        FrontDeskTask.objects.filter(
            appointment=appointment, kind=kind, done_at__isnull=True
        ).delete()


def frontdesk_tasks_sync(*, appointment: Appointment, facts: PrepFacts | None = None) -> None:
    """Bring the front desk's tasks for this appointment in line with its prep plan."""
    facts = facts or PrepFacts(appointment)
    plan = facts.plan
    # One read of what is open, rather than one attempt at a delete per kind.
    open_kinds = facts.open_task_kinds
    _task(
        appointment,
        FrontDeskTask.Kind.WHEELCHAIR,
        wanted=plan.needs_wheelchair,
        due=_due_before(appointment, 2),
        open_kinds=open_kinds,
    )
    _task(
        appointment,
        FrontDeskTask.Kind.INTERPRETER,
        wanted=plan.needs_interpreter,
        due=_due_before(appointment, 3),
        note=plan.interpreter_language,
        open_kinds=open_kinds,
    )
    _task(
        appointment,
        FrontDeskTask.Kind.TRANSPORT,
        wanted=appointment.transport_mode
        in (TransportMode.CLINIC_TRANSPORT, TransportMode.WHEELCHAIR),
        due=_due_before(appointment, 3),
        open_kinds=open_kinds,
    )
    short = facts.is_short_notice
    _task(
        appointment,
        FrontDeskTask.Kind.SHORT_NOTICE,
        wanted=short,
        due=local_date(timezone.now()),
        note=_("Booked less than %(days)s days ahead.") % {"days": facts.hold_period_days}
        if short
        else "",
        open_kinds=open_kinds,
    )


def prep_on_booked(*, appointment: Appointment, prep: PrepFacts | None = None) -> None:
    """Call in the booking's transaction: flags a booking inside the stop period.
    `prep`: what the booking has read already (see `PrepFacts`)."""
    frontdesk_tasks_sync(appointment=appointment, facts=prep)


def prep_on_rescheduled(*, appointment: Appointment, moved_from: datetime, by: User | None) -> bool:
    """Call in the reschedule's transaction, after saving the new time and before the
    reminders are re-planned.

    Medicine stops were dated for the old day: moved to another day, a confirmed plan
    with stops goes back to the physician (its stop emails are not planned until it is
    confirmed again, and the patient is told to keep taking their medicines meanwhile).
    The front desk's tasks move with the visit, and a move inside the stop period is
    flagged as short notice.

    Returns whether the stop dates of the old time no longer stand (another day, or a
    stop now at or after the start): a stop already emailed must then be withdrawn
    (`workflows.visits.appointment_reschedule`).
    """
    moved_day = local_date(moved_from) != local_date(appointment.start_at)
    stops = appointment.medication_holds.filter(action=MedicationHold.Action.STOP)
    # Another day, or a stop the new time puts at or after the start: back to the physician.
    stops_void = moved_day or stops.filter(stop_at__gte=appointment.start_at).exists()
    if stops_void:
        plan = PrepPlan.objects.select_for_update().filter(appointment_id=appointment.pk).first()
        if plan is not None and plan.hold_plan_confirmed_at and stops.exists():
            again = _("The stop dates were set for the old time: confirm them again.")
            hold_plan_reopen(plan, appointment, by, again)
    if moved_day and appointment.escort_confirmed_at:
        # Confirmed for the old day: the escort is asked again for the new one.
        appointment.escort_confirmed_at = None
        appointment.save(update_fields=["escort_confirmed_at", "updated_at"])
        prep_event(appointment, "escort_unconfirmed", by, _("The visit moved to another day."))
    today = local_date(timezone.now())
    facts = PrepFacts(appointment, booked_on=today if moved_day else None)
    frontdesk_tasks_sync(appointment=appointment, facts=facts)
    return stops_void
