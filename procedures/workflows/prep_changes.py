"""A change to a visit's preparation replans the patient's emails in the same
transaction: the prep services write the plan, `reminders_prep_replan` turns the
new timeline into a difference of outbox rows."""

from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils.translation import gettext as _

from patients.medications import medication_add as medication_add_to_list
from patients.models import Medication
from procedures.messaging.models import CallTask, Reminder
from procedures.messaging.plan import (
    reminders_prep_replan,
    reminders_stops_reopened,
    reminders_withdraw,
)
from procedures.prep import services as prep
from procedures.prep.frontdesk import frontdesk_tasks_sync
from procedures.prep.models import MedicationHold, PrepPlan
from procedures.scheduling.models import Appointment
from procedures.workflows.merges import open_visits


def _replan(appointment_id: int) -> None:
    reminders_prep_replan(appointment=Appointment.objects.get(pk=appointment_id))


def medication_hold_set(
    *,
    appointment_id: int,
    medication_id: int,
    action: str,
    stop_at: datetime | None,
    resume_guidance: str = "",
    by: User | None,
) -> MedicationHold:
    """Record a physician's decision for one medicine (any change un-confirms the
    plan) and withdraw or replan the stop emails it changes."""
    with transaction.atomic():
        hold = prep.medication_hold_set(
            appointment_id=appointment_id,
            medication_id=medication_id,
            action=action,
            stop_at=stop_at,
            resume_guidance=resume_guidance,
            by=by,
        )
        _replan(appointment_id)
    return hold


def medication_add(
    *, appointment_id: int, name: str, dose: str, med_class: str, by: User | None
) -> Medication:
    """Add a medicine to the patient's list (from a visit's prep page). A confirmed hold
    plan is the physician's word that every medicine was decided: every visit of the
    patient still ahead whose plan now misses one goes back to the physician, its stop
    emails wait, and a stop already emailed becomes a front-desk call (invariant 32)."""
    appointment = Appointment.objects.select_related("patient").get(pk=appointment_id)
    with transaction.atomic():
        medication = medication_add_to_list(
            patient=appointment.patient, name=name, dose=dose, med_class=med_class
        )
        why = _("%(medicine)s was added to the patient's medicines.") % {
            "medicine": f"{medication.name} {medication.dose}".strip()
        }
        visits = open_visits([appointment.patient_id]).order_by("start_at", "pk")
        for visit in visits.select_related("patient", "procedure_type"):
            undecided = prep.hold_plan_reopen_undecided(appointment_id=visit.pk, by=by, why=why)
            visit.refresh_from_db()
            frontdesk_tasks_sync(appointment=visit)
            reminders_prep_replan(appointment=visit)
            if undecided:
                reminders_stops_reopened(appointment=visit, reason=CallTask.Reason.MEDICINE_ADDED)
    return medication


def hold_plan_confirm(*, appointment_id: int, by: User | None) -> PrepPlan:
    """The physician confirms the hold plan: its stop emails are planned."""
    with transaction.atomic():
        plan = prep.hold_plan_confirm(appointment_id=appointment_id, by=by)
        _replan(appointment_id)
    return plan


def sedation_plan_set(
    *,
    appointment_id: int,
    sedation_level: str,
    food_fast_hours: int,
    clear_fluid_fast_hours: int,
    by: User | None,
) -> PrepPlan:
    """Set the sedation plan (see `prep.sedation_plan_set`); fasting and escort
    emails follow it."""
    with transaction.atomic():
        plan = prep.sedation_plan_set(
            appointment_id=appointment_id,
            sedation_level=sedation_level,
            food_fast_hours=food_fast_hours,
            clear_fluid_fast_hours=clear_fluid_fast_hours,
            by=by,
        )
        _replan(appointment_id)
    return plan


def escort_confirm(
    *, appointment_id: int, name: str, phone: str, by: User | None = None, via: str = "staff"
) -> Appointment:
    """Confirm who takes the patient home (staff, or the patient's link): the escort
    request still waiting is withdrawn at once (see `prep.escort_confirm`)."""
    with transaction.atomic():
        appointment = prep.escort_confirm(
            appointment_id=appointment_id, name=name, phone=phone, by=by, via=via
        )
        _replan(appointment_id)
        # Once checked in, the prep plan is no longer replanned, but an answered request
        # is still withdrawn (found by the visit machine: confirmed at the desk on the day).
        reminders_withdraw(
            appointment=appointment, reason="escort confirmed", kinds=[Reminder.Kind.ESCORT_REQUEST]
        )
    return appointment


def transport_set(*, appointment_id: int, by: User | None, **fields: Any) -> Appointment:
    """Record how the patient gets home (see `prep.transport_set`); a new escort must
    confirm again, so the escort request is planned again."""
    with transaction.atomic():
        appointment = prep.transport_set(appointment_id=appointment_id, by=by, **fields)
        _replan(appointment_id)
    return appointment


def getting_home_set(
    *,
    appointment_id: int,
    by: User,
    escort_confirmed: bool,
    escort_take_back: bool = False,
    **fields: Any,
) -> Appointment:
    """The prep page's one "Getting home" form: transport, escort and access needs in
    one transaction. A new escort name or phone clears a confirmation (the escort
    request is planned again) unless `escort_confirmed` confirms the new escort in the
    same save; `escort_take_back` takes a confirmation back. Neither keeps things as
    they are: the form never pre-ticks the box (QA 3, #4)."""
    with transaction.atomic():
        appointment = transport_set(appointment_id=appointment_id, by=by, **fields)
        if escort_take_back and appointment.escort_confirmed_at is not None:
            appointment = prep.escort_unconfirm(appointment_id=appointment_id, by=by)
            _replan(appointment_id)
        elif escort_confirmed and appointment.escort_confirmed_at is None:
            appointment = escort_confirm(
                appointment_id=appointment_id,
                name=appointment.escort_name,
                phone=appointment.escort_phone,
                by=by,
                via="staff",
            )
    return appointment
