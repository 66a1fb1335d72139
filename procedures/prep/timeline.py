"""The patient's preparation as one dated list of steps.

`prep_timeline(appointment)` is the contract between preparation (holds, fasting,
escort, what to bring) and the reminder plan: the reminder plan turns steps that carry
a `reminder_kind` into outbox rows. A plain function of the appointment returning
ordered, dated steps.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_datetime
from procedures.prep.facts import PrepFacts, PrepStep, is_child, local_date, plan_of
from procedures.prep.models import (
    PrepPlan,
    PrepTemplate,
    StepKind,
)
from procedures.scheduling.models import Appointment

# --- The timeline ------------------------------------------------------------------

KIND_ORDER = {kind: n for n, kind in enumerate(StepKind.values)}
# The templates whose hours are the plan's fasting times (prep/defaults.py).
FOOD_FAST_CODE, FLUID_FAST_CODE = "fasting-food", "fasting-fluids"


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


def _templates_for(appointment: Appointment) -> QuerySet[PrepTemplate, Any]:
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


def _template_applies(template: Any, *, appointment: Appointment, stops: list, child: bool) -> bool:
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


def _template_at(template: Any, appointment: Appointment, hours: int) -> datetime:
    day = local_date(appointment.start_at)
    Unit = PrepTemplate.Unit
    if template.unit == Unit.HOURS_BEFORE:
        # Real elapsed hours: across a DST change the wall clock moves, the stomach does not.
        return appointment.start_at - timedelta(hours=hours)
    if template.unit == Unit.DAYS_AFTER:
        return clinic_datetime(day + timedelta(days=template.amount), template.at_time)
    # Counted on clinic dates at a wall-clock time, so DST never shifts it by an hour.
    return clinic_datetime(day - timedelta(days=template.amount), template.at_time)


@dataclass(frozen=True)
class FastTimes:
    """A visit's fast: no food from `food_from`; clear drinks until `fluids_until`
    (None when the clinic's templates set no clear-fluid step)."""

    food_from: datetime
    fluids_until: datetime | None


def fast_times(appointment: Appointment, *, plan: PrepPlan | None = None) -> FastTimes | None:
    """When the patient must stop eating, and drinking, for this visit (None: no fast),
    by the same templates and hours as the timeline's fasting steps: those of `plan`
    (default: the visit's plan, or the defaults when it has none yet)."""
    if appointment.procedure_type.is_discussion:
        return None
    food_from = fluids_until = None
    child = is_child(appointment)
    # A visit being planned may have no room yet: then the current zone's clock.
    with timezone.override(appointment.site_tz) if appointment.room_id else nullcontext():
        for template in _templates_for(appointment):
            if template.code not in (FOOD_FAST_CODE, FLUID_FAST_CODE) or not _template_applies(
                template, appointment=appointment, stops=[], child=child
            ):
                continue
            plan = plan or plan_of(appointment)
            if template.code == FOOD_FAST_CODE:
                food_from = _template_at(template, appointment, plan.food_fast_hours)
            else:
                fluids_until = _template_at(template, appointment, plan.clear_fluid_fast_hours)
    return FastTimes(food_from, fluids_until) if food_from is not None else None


def fast_begins(appointment: Appointment, *, plan: PrepPlan | None = None) -> datetime | None:
    """When the patient must stop eating for this visit (None: no fast): `fast_times`'
    "no food" time."""
    times = fast_times(appointment, plan=plan)
    return times.food_from if times is not None else None


def stop_step_text(last_dose: datetime) -> str:
    """A medicine stop in the patient's words, in the active language and zone: the
    dose at that time is the last one taken ("take no more from this time" read as
    either)."""
    local = timezone.localtime(last_dose)
    return _(
        "Take your last dose of the medicine your doctor named at %(time)s on %(date)s. "
        "Then take no more of it until the clinic tells you to start again."
    ) % {
        "time": formats.time_format(local, "H:i"),
        # The catalogue's long date ("Sunday 13 December 2026", "domingo, 13 de ...").
        "date": formats.date_format(local, _("l j F Y")),
    }


def patient_timeline(appointment: Appointment, *, facts: PrepFacts | None = None) -> list[PrepStep]:
    """`prep_timeline` in the patient's own language: what their emails and their page
    say (the staff read it in theirs)."""
    with translation.override(appointment.patient.preferred_language):
        return prep_timeline(appointment, facts=facts)


def prep_timeline(appointment: Appointment, *, facts: PrepFacts | None = None) -> list[PrepStep]:
    """The patient's preparation as one ordered, dated list of steps, its days and
    wall-clock times those of the visit's site (invariant 19).

    `facts`, when the caller has them, saves reading the plan and the medicines again.
    """
    with timezone.override(appointment.site_tz):
        return _timeline(appointment, facts=facts)


def _timeline(appointment: Appointment, *, facts: PrepFacts | None) -> list[PrepStep]:
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
    time_set_at = facts.time_set_at
    steps: list[PrepStep] = []
    for template in _templates_for(appointment):
        if not _template_applies(template, appointment=appointment, stops=stops, child=child):
            continue
        if template.kind == StepKind.ESCORT and appointment.escort_confirmed_at is not None:
            continue  # done: the page says who takes them home, not "confirm who"
        hours = template.amount
        if template.code == FOOD_FAST_CODE:
            hours = plan.food_fast_hours
        elif template.code == FLUID_FAST_CODE:
            hours = plan.clear_fluid_fast_hours
        at = _template_at(template, appointment, hours)
        late = at < time_set_at and template.unit != PrepTemplate.Unit.DAYS_AFTER
        steps.append(
            PrepStep(
                # Passed before the visit's time was set: "as soon as possible", never
                # a date already gone.
                at=min(time_set_at, appointment.start_at) if late else at,
                kind=template.kind,
                # The installed texts are in the catalogue (prep/defaults.py): in the
                # active language; an edited text as written.
                text=_(template.text).replace("{hours}", str(hours)),
                reminder_kind=template.reminder_kind or None,
                as_soon_as_possible=late,
            )
        )
    for hold in stops:
        if hold.stop_at is None:  # never: a stop has its time (a check constraint)
            continue
        detail = f"{hold.medication.name} {hold.medication.dose}".strip()
        if hold.resume_guidance:
            detail += f". {_('Start again')}: {hold.resume_guidance}"
        steps.append(
            PrepStep(
                at=hold.stop_at,
                kind=StepKind.MEDICATION_HOLD,
                text=stop_step_text(hold.stop_at),
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
                staff_note=_("Hold plan not confirmed."),
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
                staff_note=_("Booked less than %(days)s days ahead: the front desk is flagged.")
                % {"days": facts.hold_period_days},
            )
        )
    steps.append(arrival)
    # Notices (plan not confirmed, booked at short notice) lead; then by date.
    return sorted(
        steps, key=lambda s: (s.kind != StepKind.NOTICE, s.at, KIND_ORDER.get(s.kind, 99))
    )
