"""The day-of readiness checklist and `readiness(appointment)`: READY, or what is missing."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Medication, Patient
from patients.selectors import BloodsStatus, bloods_on_days, bloods_status
from procedures.catalog.clock import clinic_today
from procedures.prep.facts import local_date, plan_of
from procedures.prep.models import (
    ChecklistItem,
    ChecklistTick,
    ClinicalOverride,
    MedicationHold,
    PrepPlan,
)
from procedures.prep.rules import rule_findings
from procedures.prep.services import locked_appointment
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.rules import START_REASON_MAX_CHARS

START_NOT_READY = "start_not_ready"
# A reason to start while not ready says what was checked instead: "x" or "ok" is not one.
START_REASON_MIN_CHARS = 10


def checklist_items(appointment: Appointment, *, stop_hold: bool | None = None) -> list[str]:
    """The items that apply to this appointment, in the order they are checked.
    `stop_hold`: whether a medicine is stopped for it, when the caller has read it."""
    items: list[str] = []
    if stop_hold is None:
        stop_hold = appointment.medication_holds.filter(action=MedicationHold.Action.STOP).exists()
    if stop_hold:
        items.append(ChecklistItem.MEDICATIONS_HELD)
    if appointment.is_sedated:
        items += [ChecklistItem.FASTING, ChecklistItem.ESCORT_PRESENT]
    if appointment.patient.bleeding_disorder:
        items.append(ChecklistItem.LABS_BACK)
    # Recorded as "could be pregnant": asked on the day, with who and when (the tick).
    if appointment.patient.pregnancy == Patient.Pregnancy.ASK:
        items.append(ChecklistItem.PREGNANCY)
    items += [ChecklistItem.CONSENT, ChecklistItem.SITE_SIDE]
    return items


@dataclass
class ChecklistRow:
    item: str
    label: str
    tick: ChecklistTick | None


@dataclass
class Readiness:
    rows: list[ChecklistRow] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # The missing items no reason sets aside (the procedure cannot start), in words.
    hard_stops: list[str] = field(default_factory=list)
    # The visit was cancelled or is a no-show: its status in words, and nothing to check.
    no_longer_booked: str = ""
    # In procedure or completed: its status in words. The checks were made at the start
    # (an override's reason is on the timeline); the page shows what is still open
    # without a NOT READY badge on a visit that is over.
    started: str = ""

    @property
    def ready(self) -> bool:
        return not self.missing and not self.no_longer_booked

    @property
    def to_tick(self) -> list[ChecklistRow]:
        """The checklist items still to tick (what the nurse's buttons are)."""
        return [row for row in self.rows if row.tick is None]

    @property
    def not_ticked_here(self) -> list[str]:
        """What is missing that no tick fixes: the physician's decisions (hold plan, site
        and side, a clinical rule) and the bloods to record."""
        unticked = {row.label for row in self.to_tick}
        return [m for m in self.missing if m not in unticked]


@dataclass
class ReadinessFacts:
    """What `readiness` reads about one appointment."""

    ticks: dict[str, ChecklistTick]
    plan: PrepPlan
    on_medicines: bool  # the patient takes a medicine (so the hold plan matters)
    stop_hold: bool  # a medicine is stopped for this visit
    overrides: dict[str, ClinicalOverride]  # the rules set aside, by rule
    # Platelets and INR before the needle, for a patient with a bleeding disorder or on
    # a blood thinner (`patients.selectors.needs_bloods`); None when not needed.
    bloods: BloodsStatus | None = None


def readiness_facts(appointments: Iterable[Appointment]) -> dict[int, ReadinessFacts]:
    """`ReadinessFacts` for each of these (saved) appointments, by id, in six queries
    however many there are: a day's list of a network's site is hundreds of visits
    (issue 18: a query or seven for each was over 9,000 queries for the day-of page).
    The appointments' patients are read with them (`select_related("patient")`) or
    one by one here."""
    appointments = list(appointments)
    ids = [a.pk for a in appointments]
    ticks: dict[int, dict[str, ChecklistTick]] = defaultdict(dict)
    for tick in ChecklistTick.objects.filter(appointment_id__in=ids).select_related("by"):
        ticks[tick.appointment_id][tick.item] = tick
    plans = {p.appointment_id: p for p in PrepPlan.objects.filter(appointment_id__in=ids)}
    on_medicines, thinners = set(), set()
    for patient_id, med_class in Medication.objects.filter(
        patient_id__in={a.patient_id for a in appointments}, is_active=True
    ).values_list("patient_id", "med_class"):
        on_medicines.add(patient_id)
        if med_class in Medication.BLOOD_THINNERS:
            thinners.add(patient_id)
    # Bloods count on the visit's day: the latest within CLINIC_BLOODS_MAX_AGE_DAYS of it.
    bloods_wanted = {
        a.pk: (a.patient_id, local_date(a.start_at))
        for a in appointments
        if a.patient_id in thinners or a.patient.bleeding_disorder
    }
    bloods = bloods_on_days(set(bloods_wanted.values()))
    stopped = set(
        MedicationHold.objects.filter(
            appointment_id__in=ids, action=MedicationHold.Action.STOP
        ).values_list("appointment_id", flat=True)
    )
    overrides: dict[int, dict[str, ClinicalOverride]] = defaultdict(dict)
    for override in ClinicalOverride.objects.filter(appointment_id__in=ids):  # by time
        overrides[override.appointment_id][override.rule] = override
    return {
        a.pk: ReadinessFacts(
            ticks=ticks[a.pk],
            plan=plans.get(a.pk) or PrepPlan(appointment=a),
            on_medicines=a.patient_id in on_medicines,
            stop_hold=a.pk in stopped,
            overrides=overrides[a.pk],
            bloods=bloods[bloods_wanted[a.pk]] if a.pk in bloods_wanted else None,
        )
        for a in appointments
    }


def readiness(appointment: Appointment, facts: ReadinessFacts | None = None) -> Readiness:
    """READY, or every reason the patient is not: unticked checklist items, an
    unconfirmed hold plan, a site not set, a clinical rule not resolved. `facts`: read
    beforehand with those of other appointments (`readiness_facts`), or read here."""
    result = Readiness()
    if appointment.status in Appointment.RELEASED_STATUSES:
        # Cancelled or a no-show: the slot is free and nothing is prepared any more.
        result.no_longer_booked = appointment.get_status_display()
        return result
    if appointment.status in (Appointment.Status.IN_PROCEDURE, Appointment.Status.COMPLETED):
        result.started = appointment.get_status_display()
    if appointment.procedure_type.is_discussion:
        return result  # a talk about results: nothing to check before it starts
    if facts is None:
        facts = readiness_facts([appointment])[appointment.pk]
    ticks, plan = facts.ticks, facts.plan
    if facts.on_medicines and not plan.hold_plan_confirmed:
        result.missing.append(str(_("Hold plan not confirmed")))
    if not plan.site:
        result.missing.append(_("Site and side not set"))
        result.hard_stops.append(
            _(
                "The physician has not set the site and side: the procedure cannot start "
                "until they are set."
            )
        )
    if facts.bloods is not None:
        # Missing, too old or out of the clinic's range: a reason is needed to go ahead.
        result.missing += [str(problem) for problem in facts.bloods.problems]
    for finding in rule_findings(appointment, plan=plan, overrides=facts.overrides):
        if not finding.resolved:
            result.missing.append(finding.message)
            if not finding.overridable:
                result.hard_stops.append(finding.message)
    for item in checklist_items(appointment, stop_hold=facts.stop_hold):
        label = str(ChecklistItem(item).label)
        result.rows.append(ChecklistRow(item, label, ticks.get(item)))
        if item not in ticks:
            result.missing.append(label)
            if item == ChecklistItem.CONSENT:
                result.hard_stops.append(
                    _("Consent is not confirmed: the procedure cannot start until it is.")
                )
            elif item == ChecklistItem.SITE_SIDE and plan.site:
                result.hard_stops.append(
                    _(
                        "The site and side are not confirmed on the checklist: the procedure "
                        "cannot start until they are."
                    )
                )
    return result


def checklist_tick(*, appointment_id: int, item: str, by: User) -> ChecklistTick:
    """Tick one readiness item on the day (who and when)."""
    with transaction.atomic():
        appointment = locked_appointment(appointment_id)
        if item not in checklist_items(appointment):
            raise ValidationError(_("That item is not on this appointment's checklist."))
        if local_date(appointment.start_at) != clinic_today():
            raise ValidationError(_("The checklist is ticked on the day of the procedure."))
        if appointment.status in Appointment.RELEASED_STATUSES:
            raise ValidationError(_("This appointment is no longer booked."))
        plan = plan_of(appointment)
        if item == ChecklistItem.SITE_SIDE and not plan.site:
            raise ValidationError(_("The physician has not set the site and side yet."))
        if item == ChecklistItem.MEDICATIONS_HELD and not plan.hold_plan_confirmed:
            raise ValidationError(_("The hold plan is not confirmed: check with the physician."))
        if item == ChecklistItem.ESCORT_PRESENT and not appointment.escort_name:
            raise ValidationError(_("Record the escort's name and phone first."))
        if item == ChecklistItem.LABS_BACK:
            _bloods_recorded_check(appointment)
        try:
            with transaction.atomic():
                tick = ChecklistTick.objects.create(
                    appointment=appointment, item=item, by=by, at=timezone.now()
                )
        except IntegrityError:
            raise ValidationError(_("That item is already ticked.")) from None
        AppointmentEvent.objects.create(
            appointment=appointment, kind="checklist", note=str(ChecklistItem(item).label), by=by
        )
    return tick


def _bloods_recorded_check(appointment: Appointment) -> None:
    """ "Blood tests back" means the values are on record: refuse the tick until the
    platelet count and INR of the days before the procedure are (their range is judged
    by `readiness`, which keeps a visit out of range NOT READY)."""
    status = bloods_status(appointment.patient, on=local_date(appointment.start_at))
    if not (status.missing_platelets or status.missing_inr):
        return
    what = (
        _("platelet count or INR")
        if status.missing_platelets and status.missing_inr
        else _("platelet count")
        if status.missing_platelets
        else _("INR")
    )
    raise ValidationError(
        _("No %(what)s recorded in the %(days)s days before: record the bloods first.")
        % {"what": what, "days": settings.CLINIC_BLOODS_MAX_AGE_DAYS}
    )


def readiness_start_check(*, appointment: Appointment, reason: str = "", by: User) -> None:
    """For the start-of-procedure transition (call inside its transaction). Refuses,
    whatever the reason, while consent or the site and side are not confirmed (or a rule
    that cannot be set aside stands); otherwise, when not ready, refuses without a real
    reason (START_REASON_MIN_CHARS) and records it: who, why, what was missing, on the
    prep page's overrides and on the visit's timeline. A reason longer than
    START_REASON_MAX_CHARS is refused, not cut: the record keeps it and the list of
    what was missing whole."""
    reason = " ".join((reason or "").split())
    if len(reason) > START_REASON_MAX_CHARS:
        raise ValidationError(
            {
                "reason": _(
                    "The reason may be at most %(limit_value)d characters (this one has "
                    "%(show_value)d): say briefly what was checked instead. Nothing was "
                    "changed."
                )
                % {"limit_value": START_REASON_MAX_CHARS, "show_value": len(reason)}
            }
        )
    state = readiness(appointment)
    if state.ready:
        return
    if state.hard_stops:
        raise ValidationError({"reason": [str(message) for message in state.hard_stops]})
    missing = "; ".join(state.missing)
    if not reason:
        raise ValidationError(
            {
                "reason": _(
                    "Not ready: %(missing)s. Give a reason (at least %(min)s characters) "
                    "to start anyway."
                )
                % {"missing": missing, "min": START_REASON_MIN_CHARS}
            }
        )
    if len(reason) < START_REASON_MIN_CHARS:
        raise ValidationError(
            {
                "reason": _(
                    "Not ready: %(missing)s. The reason to start anyway must be at least "
                    "%(min)s characters: say what was checked instead, and by whom."
                )
                % {"missing": missing, "min": START_REASON_MIN_CHARS}
            }
        )
    ClinicalOverride.objects.create(
        appointment=appointment,
        rule=START_NOT_READY,
        reason=reason,
        missing=missing,
        by=by,
        at=timezone.now(),
    )
    AppointmentEvent.objects.create(
        appointment=appointment,
        kind=START_NOT_READY,
        note=_("Reason: %(reason)s. Missing: %(missing)s.")
        % {"reason": reason.rstrip("."), "missing": missing},  # no ".." after a sentence
        by=by,
    )
