"""What a visit's preparation is made of, read once: settings, the plan, the medicine holds."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Medication
from procedures.catalog.clock import clinic_tz
from procedures.prep.models import (
    FrontDeskTask,
    MedicationClassRule,
    MedicationHold,
    PrepPlan,
)
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.rules import age_in_years, child_max_age_years


@dataclass(frozen=True)
class PrepStep:
    at: datetime  # aware; when the step applies (and when its reminder is due)
    kind: str  # "medication_hold", "fasting", "escort", "arrival", "aftercare", ...
    text: str  # patient-facing, in plain words
    reminder_kind: str | None = None  # a Reminder.Kind when the patient is emailed for it
    # Staff and the printed sheet only (may name the medicine); never put in an email.
    detail: str = ""
    # Staff only ("Hold plan not confirmed."): never on a page or paper the patient sees.
    staff_note: str = ""
    # Its time had passed when the visit's time was set: "as soon as possible", not a date.
    as_soon_as_possible: bool = False


# --- Settings with defaults (override in settings.py) --------------------------------


def food_fast_range() -> tuple[int, int]:
    return getattr(settings, "PREP_FOOD_FAST_HOURS_RANGE", (2, 12))


def clear_fluid_fast_range() -> tuple[int, int]:
    return getattr(settings, "PREP_CLEAR_FLUID_FAST_HOURS_RANGE", (1, 6))


# --- Reading the plan --------------------------------------------------------------


def plan_of(appointment: Appointment) -> PrepPlan:
    """The appointment's prep plan, or an unsaved one with the defaults (no write)."""
    # Not the reverse accessor: it caches "no plan" on the instance, and the plan
    # may have been created since by another service call.
    plan = (
        PrepPlan.objects.filter(appointment_id=appointment.pk).first() if appointment.pk else None
    )
    return plan or PrepPlan(appointment=appointment)


def confirmed_stops(appointment: Appointment) -> list[MedicationHold]:
    """`PrepFacts.stops` in one query, with their medicines: the medicines the patient
    was told to stop for this visit. For an email, which reads nothing else of the plan
    (the stop email counts them; the after-visit emails say when to start again)."""
    return list(
        MedicationHold.objects.filter(
            appointment_id=appointment.pk,
            action=MedicationHold.Action.STOP,
            stop_at__lt=appointment.start_at,
            appointment__prep_plan__hold_plan_confirmed_at__isnull=False,
        ).select_related("medication")
    )


def plan_for_update(appointment: Appointment) -> PrepPlan:
    plan, _created = PrepPlan.objects.select_for_update().get_or_create(appointment=appointment)
    return plan


def local_date(at: datetime) -> date:
    return at.astimezone(clinic_tz()).date()


def is_child(appointment: Appointment) -> bool:
    born = appointment.patient.date_of_birth
    return age_in_years(born, local_date(appointment.start_at)) < child_max_age_years()


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

    @property
    def shorter_than_suggested(self) -> bool:
        """A stop decided later than the class suggestion: allowed (the physician
        decides), and shown as a warning next to it."""
        hold = self.hold
        return bool(
            hold is not None
            and hold.action == MedicationHold.Action.STOP
            and hold.stop_at is not None
            and self.suggested_stop is not None
            and local_date(hold.stop_at) > self.suggested_stop
        )


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
        self.booked_on = booked_on or local_date(appointment.created_at or timezone.now())

    @classmethod
    def of_new_booking(cls, appointment: Appointment) -> "PrepFacts":
        """For an appointment inserted in the caller's transaction, before anything else
        was written for it: it has no plan yet (the defaults apply), no holds and no
        front-desk tasks, so those are not read."""
        facts = cls(appointment)
        facts.plan = PrepPlan(appointment=appointment)
        facts.holds = []
        facts.open_task_kinds = set()
        facts.time_set_at = appointment.created_at or timezone.now()
        return facts

    @cached_property
    def time_set_at(self) -> datetime:
        """When the visit's current time was set: booked, or last moved. A step dated
        before it was never a dated instruction the patient could follow."""
        moved = (
            AppointmentEvent.objects.filter(appointment_id=self.appointment.pk, kind="rescheduled")
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
            if self.appointment.pk
            else None
        )
        return moved or self.appointment.created_at or timezone.now()

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
        # A stop at or after the start is no stop (a move the plan did not follow).
        start = self.appointment.start_at
        return [
            h
            for h in self.holds
            if h.action == MedicationHold.Action.STOP
            and h.stop_at is not None
            and h.stop_at < start
        ]

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
        day = local_date(self.appointment.start_at)
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
        day = local_date(self.appointment.start_at)
        longest = 0
        for row in self.hold_rows:
            hold = row.hold
            stale = (
                hold is not None
                and hold.action == MedicationHold.Action.STOP
                and hold.stop_at is not None  # (a stop always has one: a check constraint)
                and hold.stop_at >= self.appointment.start_at  # dated for a day moved from
            )
            if hold is not None and not stale:
                if hold.action == MedicationHold.Action.STOP and hold.stop_at is not None:
                    longest = max(longest, (day - local_date(hold.stop_at)).days)
            elif row.suggested_days:
                longest = max(longest, row.suggested_days)
        return longest

    @cached_property
    def is_short_notice(self) -> bool:
        days = self.hold_period_days
        if not days:
            return False
        return (local_date(self.appointment.start_at) - self.booked_on).days < days


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


def prep_event(appointment: Appointment, kind: str, by: User | None, note: str = "") -> None:
    AppointmentEvent.objects.create(appointment=appointment, kind=kind, note=note[:300], by=by)


def hold_plan_reopen(plan: PrepPlan, appointment: Appointment, by: User | None, note: str) -> None:
    """Take back the physician's confirmation of the hold plan (locked `plan`), saying
    why on the visit's timeline: its stops leave the timeline until confirmed again."""
    plan.hold_plan_confirmed_at, plan.hold_plan_confirmed_by = None, None
    plan.save(update_fields=["hold_plan_confirmed_at", "hold_plan_confirmed_by"])
    prep_event(appointment, "hold_plan_reopened", by, note)


# Once the procedure has begun, the sedation, the site and side and the medicine holds
# record what was done; a visit released (cancelled, no-show) has nothing left to plan.
_UNDER_WAY = (Appointment.Status.IN_PROCEDURE, Appointment.Status.COMPLETED)


def plan_locked_reason(appointment: Appointment) -> str:
    """Why the parts of the prep plan that describe the procedure (sedation, site and
    side, medicine holds) can no longer be changed, or "" while they can."""
    if appointment.status in _UNDER_WAY:
        return _(
            "The procedure has started: the sedation, site and side and medicine holds "
            "record what was done and can no longer be changed."
        )
    if appointment.status in Appointment.RELEASED_STATUSES:
        return _(
            "This visit is %(status)s: its sedation, site and side and medicine holds can "
            "no longer be changed."
        ) % {"status": appointment.get_status_display().lower()}
    return ""


def plan_unlocked_check(appointment: Appointment) -> None:
    """Refuse a change to the procedure's plan once it is under way or released
    (see `plan_locked_reason`). Call on the locked appointment."""
    if reason := plan_locked_reason(appointment):
        raise ValidationError(reason)


def locked_appointment(appointment_id: int) -> Appointment:
    return (
        Appointment.objects.select_for_update()
        .select_related("patient", "room", "procedure_type")
        .get(pk=appointment_id)
    )
