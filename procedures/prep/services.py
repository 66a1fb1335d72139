"""The services that write a visit's preparation: medication holds, the sedation plan,
transport and escort. Each is one transaction; the workflows replan the patient's
emails after them (procedures.workflows.prep_changes).
"""

from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.phones import phone_clean
from patients.models import Medication
from procedures.catalog.choices import SedationLevel, TransportMode
from procedures.catalog.clock import clinic_tz
from procedures.prep.facts import (
    clear_fluid_fast_range,
    food_fast_range,
    hold_plan_reopen,
    hold_rows,
    locked_appointment,
    plan_for_update,
    plan_locked_reason,
    plan_unlocked_check,
    prep_event,
)
from procedures.prep.frontdesk import frontdesk_tasks_sync
from procedures.prep.models import (
    FrontDeskTask,
    MedicationHold,
    PrepPlan,
)
from procedures.prep.timeline import fast_begins
from procedures.scheduling.booking import appointment_buffers_for, queue_behind_booking_writes
from procedures.scheduling.models import Appointment

# --- Writes ------------------------------------------------------------------------


def _stop_in_fast(appointment: Appointment, stop_at: datetime) -> str:
    """Why a last dose at `stop_at` cannot be, for a sedated visit whose fast has begun
    by then, or "": the patient would be told to swallow a tablet after "nothing to
    eat", and the timeline would read "no food", then "stop the medicine"."""
    if not appointment.is_sedated:
        return ""
    begins = fast_begins(appointment)
    if begins is None or stop_at < begins:
        return ""
    return _(
        "With sedation the last dose must be before the fast begins (nothing to eat from "
        "%(when)s): choose an earlier last dose, or keep taking it."
    ) % {"when": f"{begins.astimezone(clinic_tz()):%a %d %b %H:%M}"}


def medication_hold_set(
    *,
    appointment_id: int,
    medication_id: int,
    action: str,
    stop_at: datetime | None,
    resume_guidance: str = "",
    by: User | None,
) -> MedicationHold:
    """Record a physician's decision for one medicine. Any change un-confirms the plan."""
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        plan_unlocked_check(appointment)
        medication = Medication.objects.filter(
            pk=medication_id, patient_id=appointment.patient_id
        ).first()
        if medication is None:
            raise ValidationError({"medication": _("Choose one of this patient's medicines.")})
        if action not in MedicationHold.Action.values:
            raise ValidationError({"action": _("Choose stop or keep taking.")})
        if action == MedicationHold.Action.STOP:
            if stop_at is None:
                raise ValidationError(
                    {"stop_date": _("Enter when the patient takes the last dose.")}
                )
            if stop_at >= appointment.start_at:
                raise ValidationError(
                    {
                        "stop_date": _(
                            "The stop must be before the procedure (%(when)s). Choose an "
                            "earlier date, or keep taking it."
                        )
                        % {"when": f"{appointment.start_at.astimezone(clinic_tz()):%a %d %b %H:%M}"}
                    }
                )
            if message := _stop_in_fast(appointment, stop_at):
                raise ValidationError({"stop_date": message})
            if stop_at <= timezone.now():
                raise ValidationError(
                    {
                        "stop_date": _(
                            "That time has passed: the patient cannot stop then. Choose a "
                            "last dose still to come, or keep taking it (the front desk can "
                            "call the patient)."
                        )
                    }
                )
        else:
            stop_at = None
        hold, _created = MedicationHold.objects.update_or_create(
            appointment=appointment,
            medication=medication,
            defaults={
                "action": action,
                "stop_at": stop_at,
                "resume_guidance": resume_guidance.strip(),
                "decided_by": by,
                "decided_at": timezone.now(),
            },
        )
        plan = plan_for_update(appointment)
        was_confirmed = bool(plan.hold_plan_confirmed_at)
        if was_confirmed:
            plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = None, None
            plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by"])
        prep_event(appointment, "hold_set", by)
        # Were the stops confirmed, they no longer stand: the workflow's replan withdraws
        # their pending emails (the physician's next confirmation plans them afresh).
        frontdesk_tasks_sync(appointment=appointment)
    return hold


def hold_plan_confirm(*, appointment_id: int, by: User | None) -> PrepPlan:
    """The physician confirms the hold plan: only now do holds reach the patient."""
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        plan_unlocked_check(appointment)
        rows = hold_rows(appointment)
        undecided = [r.medication.name for r in rows if r.hold is None]
        if undecided:
            raise ValidationError(
                _("Decide first for: %(names)s (stop or keep taking).")
                % {"names": ", ".join(undecided)}
            )
        # No stop at or after the start, and none already past: the patient could not
        # follow it, and it would be emailed as an instruction.
        now = timezone.now()
        for row in rows:
            hold = row.hold
            if hold is None or hold.action != MedicationHold.Action.STOP or hold.stop_at is None:
                continue
            when = f"{hold.stop_at.astimezone(clinic_tz()):%a %d %b %H:%M}"
            if hold.stop_at >= appointment.start_at:
                raise ValidationError(
                    _(
                        "The last dose of %(name)s (%(when)s) is not before the procedure: "
                        "enter an earlier last dose, or keep taking it."
                    )
                    % {"name": row.medication.name, "when": when}
                )
            if message := _stop_in_fast(appointment, hold.stop_at):
                raise ValidationError(
                    _("%(name)s: %(message)s") % {"name": row.medication.name, "message": message}
                )
            if hold.stop_at <= now:
                raise ValidationError(
                    _(
                        "The last dose of %(name)s (%(when)s) has already passed: enter a "
                        "last dose still to come, or keep taking it, and ask the front desk "
                        "to call the patient."
                    )
                    % {"name": row.medication.name, "when": when}
                )
        plan = plan_for_update(appointment)
        plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = timezone.now(), by
        plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by", "updated_at"])
        prep_event(appointment, "hold_plan_confirmed", by)
        frontdesk_tasks_sync(appointment=appointment)
    return plan


def hold_plan_reopen_undecided(*, appointment_id: int, by: User | None, why: str) -> list[str]:
    """Un-confirm the hold plan when the patient takes a medicine it never decided on
    (records merged: the other record's medicines arrived after the confirmation), and
    say so on the visit's timeline. Returns the undecided medicines' names ([] when the
    plan stands, or was not confirmed). A visit under way or released is left as it was.

    A confirmed plan is the physician's word that every medicine was decided; with one
    undecided, its stop emails would tell the patient to stop one medicine and keep
    taking the rest. Unconfirmed, its stops leave the timeline, so the workflow's replan
    withdraws their pending emails until the physician confirms again."""
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        if plan_locked_reason(appointment):
            return []
        plan = plan_for_update(appointment)
        if not plan.hold_plan_confirmed_at:
            return []
        undecided = [
            f"{r.medication.name} {r.medication.dose}".strip()
            for r in hold_rows(appointment)
            if r.hold is None
        ]
        if not undecided:
            return []
        hold_plan_reopen(
            plan,
            appointment,
            by,
            _("%(why)s No decision yet for %(names)s: decide, then confirm the plan again.")
            % {"why": why, "names": ", ".join(undecided)},
        )
    return undecided


def sedation_plan_set(
    *,
    appointment_id: int,
    sedation_level: str,
    food_fast_hours: int,
    clear_fluid_fast_hours: int,
    by: User | None,
) -> PrepPlan:
    """Set the sedation level and its fasting times; refuse a room that cannot host it."""
    errors = {}
    if sedation_level not in SedationLevel.values:
        errors["sedation_level"] = _("Choose a sedation level.")
    low, high = food_fast_range()
    if not low <= food_fast_hours <= high:
        errors["food_fast_hours"] = _(
            "No food for %(low)s to %(high)s hours: %(value)s is out of range."
        ) % {"low": low, "high": high, "value": food_fast_hours}
    low, high = clear_fluid_fast_range()
    if not low <= clear_fluid_fast_hours <= high:
        errors["clear_fluid_fast_hours"] = _(
            "No clear fluids for %(low)s to %(high)s hours: %(value)s is out of range."
        ) % {"low": low, "high": high, "value": clear_fluid_fast_hours}
    elif "food_fast_hours" not in errors and clear_fluid_fast_hours > food_fast_hours:
        # Against a food fast already refused (-1 hours), "make it at most -1 hours"
        # would mislead (QA pass 1, #11): that field's own message says what to fix.
        errors["clear_fluid_fast_hours"] = _(
            "Clear fluids can stop no earlier than food: make it at most %(hours)s hours."
        ) % {"hours": food_fast_hours}
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        # The room's hold may grow with the sedation: queue like a booking does.
        queue_behind_booking_writes(appointment_id)
        appointment = locked_appointment(appointment_id)
        plan_unlocked_check(appointment)
        if not appointment.room.can_host(sedation_level):
            raise ValidationError(
                {
                    "sedation_level": _(
                        "%(room)s has no monitoring, so it cannot host %(level)s. Move the "
                        "appointment to a monitored room first."
                    )
                    % {"room": appointment.room.name, "level": SedationLevel(sedation_level).label}
                }
            )
        appointment_buffers_for(appointment, sedation_level=sedation_level)
        appointment.sedation_level = sedation_level
        appointment.save(
            update_fields=[
                "sedation_level",
                "buffer_before_minutes",
                "buffer_after_minutes",
                "blocked_from",
                "blocked_until",
                "updated_at",
            ]
        )
        plan = plan_for_update(appointment)
        plan.food_fast_hours = food_fast_hours
        plan.clear_fluid_fast_hours = clear_fluid_fast_hours
        plan.sedation_set_by, plan.sedation_set_at = by, timezone.now()
        plan.save()
        prep_event(appointment, "sedation_set", by, str(SedationLevel(sedation_level).label))
    return plan


def transport_set(
    *,
    appointment_id: int,
    transport_mode: str,
    escort_name: str = "",
    escort_phone: str = "",
    needs_wheelchair: bool = False,
    needs_interpreter: bool = False,
    interpreter_language: str = "",
    by: User | None,
) -> Appointment:
    """Record how the patient gets home and their access needs (dated front-desk tasks)."""
    errors: dict[str, str | list[str]] = {}
    if transport_mode not in TransportMode.values:
        errors["transport_mode"] = _("Choose how the patient gets home.")
    escort_name = " ".join(escort_name.split())
    if escort_phone.strip():
        try:
            escort_phone = phone_clean(escort_phone)
        except ValidationError as exc:
            errors["escort_phone"] = exc.messages
    if needs_interpreter and not interpreter_language.strip():
        errors["interpreter_language"] = _("Say which language the interpreter speaks.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        if refused := _not_the_patient(appointment, escort_name, escort_phone):
            raise ValidationError(refused)
        if appointment.is_sedated and transport_mode == TransportMode.SELF:
            raise ValidationError(
                {
                    "transport_mode": _(
                        "After sedation the patient must not drive or travel alone for 24 "
                        "hours: choose a way home with an escort."
                    )
                }
            )
        changed_escort = (escort_name, escort_phone) != (
            appointment.escort_name,
            appointment.escort_phone,
        )
        appointment.transport_mode = transport_mode
        appointment.escort_name, appointment.escort_phone = escort_name, escort_phone
        fields = ["transport_mode", "escort_name", "escort_phone", "updated_at"]
        cleared = bool(changed_escort and appointment.escort_confirmed_at)
        if cleared:
            appointment.escort_confirmed_at = None  # a new person must confirm again
            fields.append("escort_confirmed_at")
        appointment.save(update_fields=fields)
        plan = plan_for_update(appointment)
        if cleared:
            plan.escort_confirmed_via, plan.escort_confirmed_by = "", None
            prep_event(
                appointment,
                "escort_unconfirmed",
                by,
                _("A new escort name or phone: not confirmed until they are asked."),
            )
        plan.needs_wheelchair, plan.needs_interpreter = needs_wheelchair, needs_interpreter
        plan.interpreter_language = interpreter_language.strip() if needs_interpreter else ""
        plan.save()
        prep_event(appointment, "transport_set", by)
        frontdesk_tasks_sync(appointment=appointment)
    return appointment


def _not_the_patient(appointment: Appointment, name: str, phone: str) -> dict[str, str]:
    """Errors for an escort who is the patient themself (their name or their phone):
    after sedation the patient cannot take themself home."""
    patient = appointment.patient
    errors = {}
    if name and name.casefold() == " ".join(patient.full_name.split()).casefold():
        errors["escort_name"] = _(
            "The escort cannot be the patient: enter the person who will take them home."
        )
    own_phone = ""
    if patient.phone.strip():
        try:
            own_phone = phone_clean(patient.phone)
        except ValidationError:
            own_phone = ""  # a number that is not one cannot be the escort's either
    if phone and own_phone and phone == own_phone:
        errors["escort_phone"] = _(
            "This is the patient's own phone number: enter the escort's phone."
        )
    return errors


def escort_unconfirm(*, appointment_id: int, by: User | None) -> Appointment:
    """Take back an escort confirmation (the escort cannot come after all, or it was
    ticked in error): the visit reads "escort not confirmed" again, on its timeline."""
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        if appointment.escort_confirmed_at is None:
            return appointment
        appointment.escort_confirmed_at = None
        appointment.save(update_fields=["escort_confirmed_at", "updated_at"])
        plan = plan_for_update(appointment)
        plan.escort_confirmed_via, plan.escort_confirmed_by = "", None
        plan.save(update_fields=["escort_confirmed_via", "escort_confirmed_by", "updated_at"])
        prep_event(appointment, "escort_unconfirmed", by, _("Confirmation taken back by staff."))
    return appointment


def escort_confirm(
    *, appointment_id: int, name: str, phone: str, by: User | None = None, via: str = "staff"
) -> Appointment:
    """Confirm who takes the patient home: by staff (`by`), or by the patient through
    the signed link (`by=None, via="patient_link"`)."""
    errors: dict[str, str | list[str]] = {}
    name = " ".join((name or "").split())
    if not name:
        errors["escort_name"] = _("Enter the escort's name.")
    try:
        phone = phone_clean(phone)
    except ValidationError as exc:
        errors["escort_phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        if appointment.status in Appointment.RELEASED_STATUSES:
            raise ValidationError(_("This appointment is no longer booked."))
        if refused := _not_the_patient(appointment, name, phone):
            raise ValidationError(refused)
        appointment.escort_name, appointment.escort_phone = name, phone
        appointment.escort_confirmed_at = timezone.now()
        if not appointment.transport_mode or appointment.transport_mode == TransportMode.SELF:
            appointment.transport_mode = TransportMode.ESCORT_DRIVING
        appointment.save(
            update_fields=[
                "escort_name",
                "escort_phone",
                "escort_confirmed_at",
                "transport_mode",
                "updated_at",
            ]
        )
        plan = plan_for_update(appointment)
        plan.escort_confirmed_via, plan.escort_confirmed_by = via, by
        plan.save(update_fields=["escort_confirmed_via", "escort_confirmed_by", "updated_at"])
        prep_event(appointment, "escort_confirmed", by, via)
    return appointment


def frontdesk_task_done(*, task_id: int, by: User | None) -> FrontDeskTask:
    """Mark a front-desk task done (who and when)."""
    with transaction.atomic():
        task = FrontDeskTask.objects.select_for_update().get(pk=task_id)
        if task.done_at is None:
            task.done_at, task.done_by = timezone.now(), by
            task.save(update_fields=["done_at", "done_by"])
    return task
