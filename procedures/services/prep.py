"""The patient's preparation plan as one dated list of steps, and the services that
write its parts: medication holds, the sedation plan, transport and escort.

`prep_timeline(appointment)` is the contract between preparation (holds,
fasting, escort, what to bring) and the reminder plan: the reminder service
turns steps that carry a `reminder_kind` into outbox rows. Keep it a plain
function of the appointment returning ordered, dated steps.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Medication
from procedures.models import (
    Appointment,
    AppointmentEvent,
    FrontDeskTask,
    MedicationClassRule,
    MedicationHold,
    PrepPlan,
    PrepTemplate,
    SedationLevel,
    StepKind,
    TransportMode,
)

from .clock import clinic_datetime, clinic_tz


@dataclass(frozen=True)
class PrepStep:
    at: datetime  # aware; when the step applies (and when its reminder is due)
    kind: str  # "medication_hold", "fasting", "escort", "arrival", "aftercare", ...
    text: str  # patient-facing, in plain words
    reminder_kind: str | None = None  # a Reminder.Kind when the patient is emailed for it
    # Staff and the printed sheet only (may name the medicine); never put in an email.
    detail: str = ""


# --- Settings with defaults (override in settings.py) --------------------------------


def food_fast_range() -> tuple[int, int]:
    return getattr(settings, "PREP_FOOD_FAST_HOURS_RANGE", (2, 12))


def clear_fluid_fast_range() -> tuple[int, int]:
    return getattr(settings, "PREP_CLEAR_FLUID_FAST_HOURS_RANGE", (1, 6))


def child_max_age_years() -> int:
    """Patients younger than this many years count as young children."""
    return getattr(settings, "PREP_CHILD_MAX_AGE_YEARS", 2)


# --- Reading the plan --------------------------------------------------------------


def plan_of(appointment: Appointment) -> PrepPlan:
    """The appointment's prep plan, or an unsaved one with the defaults (no write)."""
    # Not the reverse accessor: it caches "no plan" on the instance, and the plan
    # may have been created since by another service call.
    plan = (
        PrepPlan.objects.filter(appointment_id=appointment.pk).first() if appointment.pk else None
    )
    return plan or PrepPlan(appointment=appointment)


def _plan_for_update(appointment: Appointment) -> PrepPlan:
    plan, _created = PrepPlan.objects.select_for_update().get_or_create(appointment=appointment)
    return plan


def _local_date(at: datetime) -> date:
    return at.astimezone(clinic_tz()).date()


def age_in_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def is_child(appointment: Appointment) -> bool:
    born = appointment.patient.date_of_birth
    return age_in_years(born, _local_date(appointment.start_at)) < child_max_age_years()


def active_medications(appointment: Appointment) -> list[Medication]:
    return list(appointment.patient.medications.filter(is_active=True))


@dataclass(frozen=True)
class HoldRow:
    """One medicine on the hold plan: the physician's decision, and the suggestion."""

    medication: Medication
    hold: MedicationHold | None
    suggested_days: int | None
    suggested_stop: date | None
    note: str


class PrepFacts:
    """What one service call reads about an appointment's preparation, each read at
    most once and only when asked for: the plan, the patient's active medicines, the
    clinic's class rules and the holds, and what follows from them.

    Made for one call (a booking makes one and hands it to the reminder plan and to
    `prep_on_booked`), never kept between requests: a write to the plan, the holds
    or the medicines after it was made is not seen, so make a new one after writing.
    """

    def __init__(self, appointment: Appointment, *, booked_on: date | None = None):
        self.appointment = appointment
        # The day the visit's time was set, for the short-notice rule: the booking's
        # day, or the day of a move to another day (see `prep_on_rescheduled`).
        self.booked_on = booked_on or _local_date(appointment.created_at or timezone.now())

    @classmethod
    def of_new_booking(cls, appointment: Appointment) -> "PrepFacts":
        """For an appointment inserted in the caller's transaction, before anything else
        was written for it: it has no plan yet (the defaults apply), no holds and no
        front-desk tasks, so those are not read."""
        facts = cls(appointment)
        facts.plan = PrepPlan(appointment=appointment)
        facts.holds = []
        facts.open_task_kinds = set()
        return facts

    @cached_property
    def plan(self) -> PrepPlan:
        return plan_of(self.appointment)

    @cached_property
    def medications(self) -> list[Medication]:
        return active_medications(self.appointment)

    @cached_property
    def class_rules(self) -> dict[str, MedicationClassRule]:
        if not self.medications:
            return {}  # only the medicines the patient takes are looked up
        return {r.med_class: r for r in MedicationClassRule.objects.all()}

    @cached_property
    def holds(self) -> list[MedicationHold]:
        """Every decision on this appointment's medicines, in stop order."""
        return list(self.appointment.medication_holds.select_related("medication", "decided_by"))

    @cached_property
    def stops(self) -> list[MedicationHold]:
        """The confirmed plan's stops (none before the physician confirms it)."""
        if not self.plan.hold_plan_confirmed:
            return []
        return [h for h in self.holds if h.action == MedicationHold.Action.STOP]

    @cached_property
    def open_task_kinds(self) -> set[str]:
        """The kinds of this appointment's front-desk tasks that are not done."""
        return set(
            FrontDeskTask.objects.filter(
                appointment=self.appointment, done_at__isnull=True
            ).values_list("kind", flat=True)
        )

    @cached_property
    def hold_rows(self) -> list[HoldRow]:
        if not self.medications:
            return []
        rules = self.class_rules
        holds = {h.medication_id: h for h in self.holds}
        day = _local_date(self.appointment.start_at)
        rows = []
        for medication in self.medications:
            rule = rules.get(medication.med_class)
            days = rule.suggested_hold_days if rule else None
            rows.append(
                HoldRow(
                    medication=medication,
                    hold=holds.get(medication.pk),
                    suggested_days=days,
                    suggested_stop=day - timedelta(days=days) if days else None,
                    note=rule.note if rule else "",
                )
            )
        return rows

    @cached_property
    def hold_period_days(self) -> int:
        if self.appointment.procedure_type.is_discussion:
            return 0  # nothing is taken: no medicine needs stopping
        day = _local_date(self.appointment.start_at)
        longest = 0
        for row in self.hold_rows:
            hold = row.hold
            stale = (
                hold is not None
                and hold.action == MedicationHold.Action.STOP
                and hold.stop_at >= self.appointment.start_at  # dated for a day moved from
            )
            if hold is not None and not stale:
                if hold.action == MedicationHold.Action.STOP:
                    longest = max(longest, (day - _local_date(hold.stop_at)).days)
            elif row.suggested_days:
                longest = max(longest, row.suggested_days)
        return longest

    @cached_property
    def is_short_notice(self) -> bool:
        days = self.hold_period_days
        if not days:
            return False
        return (_local_date(self.appointment.start_at) - self.booked_on).days < days


def hold_rows(appointment: Appointment, *, facts: PrepFacts | None = None) -> list[HoldRow]:
    """Every medicine the patient takes, with the decision made (if any) and what the
    clinic's class rules suggest. A suggestion is shown, never applied."""
    return (facts or PrepFacts(appointment)).hold_rows


def hold_period_days(appointment: Appointment, *, facts: PrepFacts | None = None) -> int:
    """The longest medicine stop this appointment needs, in days: from confirmed holds,
    else from the class suggestions for the medicines the patient takes."""
    return (facts or PrepFacts(appointment)).hold_period_days


def is_short_notice(appointment: Appointment, *, facts: PrepFacts | None = None) -> bool:
    """Booked later than the medicine-stop period allows."""
    return (facts or PrepFacts(appointment)).is_short_notice


# --- The timeline ------------------------------------------------------------------

KIND_ORDER = {kind: n for n, kind in enumerate(StepKind.values)}


# What the timeline reads of a template (rows, not model instances: the timeline
# only reads them, and a booking pays for every one).
_TEMPLATE_FIELDS = (
    "code",
    "kind",
    "text",
    "condition",
    "amount",
    "unit",
    "at_time",
    "reminder_kind",
)


def _templates_for(appointment: Appointment):
    """The active templates for the appointment's procedure: those limited to it and
    those limited to no procedure (one query), as named rows in code order."""
    limits = PrepTemplate.procedure_types.through.objects.filter(preptemplate_id=OuterRef("pk"))
    return (
        PrepTemplate.objects.filter(is_active=True)
        .filter(
            ~Exists(limits) | Exists(limits.filter(proceduretype_id=appointment.procedure_type_id))
        )
        .values_list(*_TEMPLATE_FIELDS, named=True)
    )


def _template_applies(template, *, appointment: Appointment, stops: list, child: bool) -> bool:
    """Whether the template's condition holds (its procedures are `_templates_for`'s)."""
    condition = template.condition
    Condition = PrepTemplate.Condition
    return (
        condition == Condition.ALWAYS
        or (condition == Condition.SEDATED and appointment.is_sedated)
        or (condition == Condition.MEDICATION_HOLD and bool(stops))
        or (condition == Condition.BLEEDING_DISORDER and appointment.patient.bleeding_disorder)
        or (condition == Condition.CHILD and child)
    )


def _template_at(template, appointment: Appointment, hours: int) -> datetime:
    day = _local_date(appointment.start_at)
    Unit = PrepTemplate.Unit
    if template.unit == Unit.HOURS_BEFORE:
        # Real elapsed hours: across a DST change the wall clock moves, the stomach does not.
        return appointment.start_at - timedelta(hours=hours)
    if template.unit == Unit.DAYS_AFTER:
        return clinic_datetime(day + timedelta(days=template.amount), template.at_time)
    # Counted on clinic dates at a wall-clock time, so DST never shifts it by an hour.
    return clinic_datetime(day - timedelta(days=template.amount), template.at_time)


def prep_timeline(appointment: Appointment, *, facts: PrepFacts | None = None) -> list[PrepStep]:
    """The patient's preparation as one ordered, dated list of steps (clinic zone).

    `facts`, when the caller has them, saves reading the plan and the medicines again.
    """
    arrival = PrepStep(
        at=appointment.start_at,
        kind=StepKind.ARRIVAL,
        text=_("Your appointment. Please arrive 15 minutes early."),
    )
    if appointment.procedure_type.is_discussion:
        return [arrival]  # a talk about results: nothing to prepare
    facts = facts or PrepFacts(appointment)
    plan = facts.plan
    child = is_child(appointment)
    confirmed = plan.hold_plan_confirmed
    stops = facts.stops
    steps: list[PrepStep] = []
    for template in _templates_for(appointment):
        if not _template_applies(template, appointment=appointment, stops=stops, child=child):
            continue
        hours = template.amount
        if template.code == "fasting-food":
            hours = plan.food_fast_hours
        elif template.code == "fasting-fluids":
            hours = plan.clear_fluid_fast_hours
        steps.append(
            PrepStep(
                at=_template_at(template, appointment, hours),
                kind=template.kind,
                text=template.text.replace("{hours}", str(hours)),
                reminder_kind=template.reminder_kind or None,
            )
        )
    for hold in stops:
        detail = f"{hold.medication.name} {hold.medication.dose}".strip()
        if hold.resume_guidance:
            detail += f". {_('Start again')}: {hold.resume_guidance}"
        steps.append(
            PrepStep(
                at=hold.stop_at,
                kind=StepKind.MEDICATION_HOLD,
                text=_(
                    "Stop the medicine your doctor named: take no more of it from this time "
                    "until after your procedure."
                ),
                reminder_kind="medication_hold",
                detail=detail,
            )
        )
    if not confirmed and facts.medications:
        steps.append(
            PrepStep(
                at=appointment.created_at or timezone.now(),
                kind=StepKind.NOTICE,
                text=_(
                    "Keep taking your medicines as usual until the clinic tells you "
                    "otherwise: your doctor has not confirmed your medicine plan yet."
                ),
                detail=_("Hold plan not confirmed."),
            )
        )
    if facts.is_short_notice:
        steps.append(
            PrepStep(
                at=appointment.created_at or timezone.now(),
                kind=StepKind.NOTICE,
                text=_(
                    "Your appointment is sooner than the usual time needed to stop some "
                    "medicines. The clinic will call you to plan what to do."
                ),
                detail=_("Booked less than %(days)s days ahead: the front desk is flagged.")
                % {"days": facts.hold_period_days},
            )
        )
    steps.append(arrival)
    # Notices (plan not confirmed, booked at short notice) lead; then by date.
    return sorted(
        steps, key=lambda s: (s.kind != StepKind.NOTICE, s.at, KIND_ORDER.get(s.kind, 99))
    )


# --- Writes ------------------------------------------------------------------------


def _prep_changed(appointment: Appointment) -> None:
    """Tell the reminder plan the timeline changed (a hook the reminders issue provides:
    `reminders_prep_replan(appointment=...)`, re-planning the pending prep-step emails)."""
    from . import reminder_plan

    replan = getattr(reminder_plan, "reminders_prep_replan", None)
    if replan is not None:
        replan(appointment=appointment)


def _event(appointment: Appointment, kind: str, by, note: str = "") -> None:
    AppointmentEvent.objects.create(appointment=appointment, kind=kind, note=note[:300], by=by)


def _locked(appointment_id: int) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("patient", "room", "procedure_type")
        .get(pk=appointment_id)
    )


def medication_hold_set(
    *,
    appointment_id: int,
    medication_id: int,
    action: str,
    stop_at: datetime | None,
    resume_guidance: str = "",
    by,
) -> MedicationHold:
    """Record a physician's decision for one medicine. Any change un-confirms the plan."""
    with transaction.atomic():
        appointment = _locked(appointment_id)
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
        plan = _plan_for_update(appointment)
        was_confirmed = bool(plan.hold_plan_confirmed_at)
        if was_confirmed:
            plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = None, None
            plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by"])
        _event(appointment, "hold_set", by)
        frontdesk_tasks_sync(appointment=appointment)
        if was_confirmed:
            # The confirmed stops no longer stand: their pending emails must not go out
            # (the physician's next confirmation plans them afresh).
            _prep_changed(appointment)
    return hold


def hold_plan_confirm(*, appointment_id: int, by) -> PrepPlan:
    """The physician confirms the hold plan: only now do holds reach the patient."""
    with transaction.atomic():
        appointment = _locked(appointment_id)
        undecided = [r.medication.name for r in hold_rows(appointment) if r.hold is None]
        if undecided:
            raise ValidationError(
                _("Decide first for: %(names)s (stop or keep taking).")
                % {"names": ", ".join(undecided)}
            )
        plan = _plan_for_update(appointment)
        plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = timezone.now(), by
        plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by", "updated_at"])
        _event(appointment, "hold_plan_confirmed", by)
        frontdesk_tasks_sync(appointment=appointment)
        _prep_changed(appointment)
    return plan


def sedation_plan_set(
    *,
    appointment_id: int,
    sedation_level: str,
    food_fast_hours: int,
    clear_fluid_fast_hours: int,
    by,
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
    elif clear_fluid_fast_hours > food_fast_hours:
        errors["clear_fluid_fast_hours"] = _(
            "Clear fluids can stop no earlier than food: make it at most %(hours)s hours."
        ) % {"hours": food_fast_hours}
    if errors:
        raise ValidationError(errors)
    from .booking import appointment_buffers_for, queue_behind_booking_writes  # a cycle

    with transaction.atomic():
        # The room's hold may grow with the sedation: queue like a booking does.
        queue_behind_booking_writes(appointment_id)
        appointment = _locked(appointment_id)
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
        plan = _plan_for_update(appointment)
        plan.food_fast_hours = food_fast_hours
        plan.clear_fluid_fast_hours = clear_fluid_fast_hours
        plan.sedation_set_by, plan.sedation_set_at = by, timezone.now()
        plan.save()
        _event(appointment, "sedation_set", by, SedationLevel(sedation_level).label)
        _prep_changed(appointment)
    return plan


def phone_clean(text: str) -> str:
    """A phone number in international form, or ValidationError in words."""
    text = (text or "").strip()
    try:
        number = phonenumbers.parse(text, getattr(settings, "CLINIC_PHONE_REGION", "GB"))
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValidationError(
            _("%(text)s is not a phone number. Enter it with its area code, e.g. 07700 900123.")
            % {"text": text or _("An empty value")}
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _due_before(appointment: Appointment, days: int) -> date:
    return max(
        _local_date(appointment.start_at) - timedelta(days=days), _local_date(timezone.now())
    )


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
        due=_local_date(timezone.now()),
        note=_("Booked less than %(days)s days ahead.") % {"days": facts.hold_period_days}
        if short
        else "",
        open_kinds=open_kinds,
    )


def prep_on_booked(*, appointment: Appointment, prep: PrepFacts | None = None) -> None:
    """Call in the booking's transaction: flags a booking inside the stop period.
    `prep`: what the booking has read already (see `PrepFacts`)."""
    frontdesk_tasks_sync(appointment=appointment, facts=prep)


def prep_on_rescheduled(*, appointment: Appointment, moved_from: datetime, by) -> None:
    """Call in the reschedule's transaction, after saving the new time and before the
    reminders are re-planned.

    Medicine stops were dated for the old day: moved to another day, a confirmed plan
    with stops goes back to the physician (its stop emails are not planned until it is
    confirmed again, and the patient is told to keep taking their medicines meanwhile).
    The front desk's tasks move with the visit, and a move inside the stop period is
    flagged as short notice.
    """
    moved_day = _local_date(moved_from) != _local_date(appointment.start_at)
    if moved_day:
        plan = PrepPlan.objects.select_for_update().filter(appointment_id=appointment.pk).first()
        stops = appointment.medication_holds.filter(action=MedicationHold.Action.STOP)
        if plan is not None and plan.hold_plan_confirmed_at and stops.exists():
            plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = None, None
            plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by"])
            _event(
                appointment,
                "hold_plan_reopened",
                by,
                _("The stop dates were set for the old day: confirm them again."),
            )
    today = _local_date(timezone.now())
    facts = PrepFacts(appointment, booked_on=today if moved_day else None)
    frontdesk_tasks_sync(appointment=appointment, facts=facts)


def transport_set(
    *,
    appointment_id: int,
    transport_mode: str,
    escort_name: str = "",
    escort_phone: str = "",
    needs_wheelchair: bool = False,
    needs_interpreter: bool = False,
    interpreter_language: str = "",
    by,
) -> Appointment:
    """Record how the patient gets home and their access needs (dated front-desk tasks)."""
    errors = {}
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
        appointment = _locked(appointment_id)
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
        if changed_escort and appointment.escort_confirmed_at:
            appointment.escort_confirmed_at = None  # a new person must confirm again
            fields.append("escort_confirmed_at")
        appointment.save(update_fields=fields)
        plan = _plan_for_update(appointment)
        plan.needs_wheelchair, plan.needs_interpreter = needs_wheelchair, needs_interpreter
        plan.interpreter_language = interpreter_language.strip() if needs_interpreter else ""
        plan.save()
        _event(appointment, "transport_set", by)
        frontdesk_tasks_sync(appointment=appointment)
    return appointment


def escort_confirm(
    *, appointment_id: int, name: str, phone: str, by=None, via: str = "staff"
) -> Appointment:
    """Confirm who takes the patient home: by staff (`by`), or by the patient through
    the signed link (`by=None, via="patient_link"`)."""
    errors = {}
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
        appointment = _locked(appointment_id)
        if appointment.status in Appointment.RELEASED_STATUSES:
            raise ValidationError(_("This appointment is no longer booked."))
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
        plan = _plan_for_update(appointment)
        plan.escort_confirmed_via, plan.escort_confirmed_by = via, by
        plan.save(update_fields=["escort_confirmed_via", "escort_confirmed_by", "updated_at"])
        _event(appointment, "escort_confirmed", by, via)
    return appointment


def frontdesk_task_done(*, task_id: int, by) -> FrontDeskTask:
    """Mark a front-desk task done (who and when)."""
    with transaction.atomic():
        task = FrontDeskTask.objects.select_for_update().get(pk=task_id)
        if task.done_at is None:
            task.done_at, task.done_by = timezone.now(), by
            task.save(update_fields=["done_at", "done_by"])
    return task
