"""Reads about patients that several pages share: likely duplicates, alerts, bloods.

Pages outside this app (visit, prep, order, the day sheet, the Today board) call
these too; patients never imports procedures, so nothing here knows of visits.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from difflib import SequenceMatcher

from django.conf import settings
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .models import Allergy, BloodResult, DuplicateOverride, Medication, Patient
from .normalise import fold, phone_key

# How alike two folded names must be (0..1) to count as the same person's.
NAME_SIMILARITY = 0.8


def _name_similarity(a: str, b: str) -> float:
    """Word order does not matter; accents and case are folded away first."""
    a_words, b_words = sorted(fold(a).split()), sorted(fold(b).split())
    return SequenceMatcher(None, " ".join(a_words), " ".join(b_words)).ratio()


def likely_duplicates(
    *,
    given_name: str,
    family_name: str,
    date_of_birth: date | None,
    email: str = "",
    phone: str = "",
    exclude_pk: int | None = None,
) -> list[Patient]:
    """Active records that may be this person: born the same day with a similar name
    (typos and accents forgiven), or with the same email address or phone number.

    Records that someone already said are different people are left out.
    """
    condition = Q()
    if date_of_birth:
        condition |= Q(date_of_birth=date_of_birth)
    if email.strip():
        condition |= Q(email__iexact=email.strip())
    key = phone_key(phone)
    if len(key) >= 7:
        condition |= Q(phone_key=key)
    if not condition:
        return []
    candidates = Patient.objects.active().filter(condition)
    if exclude_pk:
        candidates = candidates.exclude(pk=exclude_pk)
    name = f"{given_name} {family_name}"
    matches = []
    for other in candidates.order_by("pk")[:50]:
        reasons = []
        if (
            other.date_of_birth == date_of_birth
            and _name_similarity(name, other.full_name) >= NAME_SIMILARITY
        ):
            reasons.append(_("same date of birth, similar name"))
        if email.strip() and other.email.lower() == email.strip().lower():
            reasons.append(_("same email"))
        if len(key) >= 7 and other.phone_key == key:
            reasons.append(_("same phone"))
        if reasons:
            other.match_reasons = reasons
            matches.append(other)
    if exclude_pk and matches:
        decided = set()
        for override in DuplicateOverride.objects.filter(patient_id=exclude_pk):
            decided |= override.other_ids
        for override in DuplicateOverride.objects.filter(patient__in=matches):
            if exclude_pk in override.other_ids:
                decided.add(override.patient_id)
        matches = [m for m in matches if m.pk not in decided]
    return matches


# --- Pre-procedure bloods -----------------------------------------------------------


@dataclass
class BloodsStatus:
    """Whether bloods are needed before the needle, the latest values, and what is wrong."""

    required: bool
    platelets: BloodResult | None = None
    inr: BloodResult | None = None
    problems: list[str] = field(default_factory=list)
    missing_inr: bool = False
    missing_platelets: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def needs_bloods(patient: Patient, medicines: list[Medication] | None = None) -> bool:
    """A bleeding disorder, or a blood thinner among the active medicines."""
    if medicines is None:
        medicines = list(patient.medications.filter(is_active=True))
    return patient.bleeding_disorder or any(m.is_blood_thinner for m in medicines)


def bloods_status(
    patient: Patient, *, on: date | None = None, medicines: list[Medication] | None = None
) -> BloodsStatus:
    """The platelet count and INR that count for a procedure on `on` (default today):
    the latest taken within CLINIC_BLOODS_MAX_AGE_DAYS before it, judged against the
    clinic's thresholds (settings; examples, to review with the clinical team)."""
    on = on or timezone.localdate()
    since = on - timedelta(days=settings.CLINIC_BLOODS_MAX_AGE_DAYS)
    recent = list(
        BloodResult.objects.filter(patient=patient, taken_on__gte=since, taken_on__lte=on)
    )
    return _bloods_judged(patient, recent=recent, medicines=medicines)


def bloods_of_patients_needing_them(patient_ids: set[int], *, on: date) -> dict[int, BloodsStatus]:
    """`bloods_status` of patients the caller already knows need bloods (`needs_bloods`:
    it read their bleeding disorder and medicines with its own rows), in one query."""
    since = on - timedelta(days=settings.CLINIC_BLOODS_MAX_AGE_DAYS)
    recent: dict[int, list[BloodResult]] = {pk: [] for pk in patient_ids}
    rows = BloodResult.objects.filter(
        patient__in=patient_ids, taken_on__gte=since, taken_on__lte=on
    )
    for row in rows:
        recent[row.patient_id].append(row)
    return {pk: _judged(required=True, recent=recent[pk]) for pk in patient_ids}


def bloods_on_days(wanted: set[tuple[int, date]]) -> dict[tuple[int, date], BloodsStatus]:
    """`bloods_status` of patients the caller knows need bloods, each for the day of a
    procedure: (patient id, day) -> status, in one query however many (a day's list, or
    the visits of several days: each judged on the rows of its own N days)."""
    if not wanted:
        return {}
    age = timedelta(days=settings.CLINIC_BLOODS_MAX_AGE_DAYS)
    by_patient: dict[int, list[BloodResult]] = {pk: [] for pk, _day in wanted}
    for row in BloodResult.objects.filter(
        patient__in=by_patient,
        taken_on__gte=min(day for _pk, day in wanted) - age,
        taken_on__lte=max(day for _pk, day in wanted),
    ):
        by_patient[row.patient_id].append(row)  # newest first (the model's order)
    return {
        (pk, day): _judged(
            required=True,
            recent=[r for r in by_patient[pk] if day - age <= r.taken_on <= day],
        )
        for pk, day in wanted
    }


def _bloods_judged(
    patient: Patient, *, recent: list[BloodResult], medicines: list[Medication] | None
) -> BloodsStatus:
    """`bloods_status` from rows already read: `recent`, newest first (the model's order)."""
    return _judged(required=needs_bloods(patient, medicines), recent=recent)


def _judged(*, required: bool, recent: list[BloodResult]) -> BloodsStatus:
    status = BloodsStatus(required=required)
    status.platelets = next((r for r in recent if r.platelets is not None), None)
    status.inr = next((r for r in recent if r.inr is not None), None)
    if not status.required:
        return status
    days = settings.CLINIC_BLOODS_MAX_AGE_DAYS
    if status.platelets is None:
        status.missing_platelets = True
        status.problems.append(_("No platelet count in the %(days)s days before.") % {"days": days})
    elif status.platelets.platelets < settings.CLINIC_BLOODS_MIN_PLATELETS:
        status.problems.append(
            _("Platelets %(value)s (taken %(day)s): below the clinic's %(limit)s.")
            % {
                "value": status.platelets.platelets,
                "day": formats.date_format(status.platelets.taken_on, "DATE_FORMAT"),
                "limit": settings.CLINIC_BLOODS_MIN_PLATELETS,
            }
        )
    if status.inr is None:
        status.missing_inr = True
        status.problems.append(_("No INR in the %(days)s days before.") % {"days": days})
    elif status.inr.inr is not None and status.inr.inr > Decimal(
        str(settings.CLINIC_BLOODS_MAX_INR)
    ):
        status.problems.append(
            _("INR %(value)s (taken %(day)s): above the clinic's %(limit)s.")
            % {
                "value": status.inr.inr,
                "day": formats.date_format(status.inr.taken_on, "DATE_FORMAT"),
                "limit": settings.CLINIC_BLOODS_MAX_INR,
            }
        )
    return status


def bloods_by_patient(patients: list[Patient], *, on: date) -> dict[int, BloodsStatus]:
    """`bloods_status` for many patients in two queries (a day's list)."""
    medicines: dict[int, list[Medication]] = {p.pk: [] for p in patients}
    for medicine in Medication.objects.filter(patient__in=patients, is_active=True):
        medicines[medicine.patient_id].append(medicine)
    since = on - timedelta(days=settings.CLINIC_BLOODS_MAX_AGE_DAYS)
    recent: dict[int, list[BloodResult]] = {p.pk: [] for p in patients}
    rows = BloodResult.objects.filter(patient__in=patients, taken_on__gte=since, taken_on__lte=on)
    for row in rows:
        recent[row.patient_id].append(row)
    return {
        p.pk: _bloods_judged(p, recent=recent[p.pk], medicines=medicines[p.pk]) for p in patients
    }


# --- Alerts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    kind: str  # allergy, allergies_unknown, no_known_allergies, bleeding, blood_thinner, bloods
    text: str
    severe: bool = False


def patient_alerts(patient: Patient, *, on: date | None = None) -> list[Alert]:
    """What anyone about to touch this patient must see: allergies (or that nobody has
    asked), a bleeding disorder, blood thinners, and bloods missing or out of range."""
    return alerts_by_patient([patient], on=on or timezone.localdate())[patient.pk]


def alerts_by_patient(patients: list[Patient], *, on: date) -> dict[int, list[Alert]]:
    """`patient_alerts` for many patients in a fixed number of queries (a day sheet)."""
    patients = list({p.pk: p for p in patients}.values())
    allergies: dict[int, list[Allergy]] = {p.pk: [] for p in patients}
    for allergy in Allergy.objects.filter(patient__in=patients, is_active=True):
        allergies[allergy.patient_id].append(allergy)
    medicines: dict[int, list[Medication]] = {p.pk: [] for p in patients}
    for medicine in Medication.objects.filter(patient__in=patients, is_active=True):
        medicines[medicine.patient_id].append(medicine)
    since = on - timedelta(days=settings.CLINIC_BLOODS_MAX_AGE_DAYS)
    recent: dict[int, list[BloodResult]] = {p.pk: [] for p in patients}
    rows = BloodResult.objects.filter(patient__in=patients, taken_on__gte=since, taken_on__lte=on)
    for row in rows:
        recent[row.patient_id].append(row)
    return {
        p.pk: _alerts(
            p,
            allergies=allergies[p.pk],
            medicines=medicines[p.pk],
            bloods=_bloods_judged(p, recent=recent[p.pk], medicines=medicines[p.pk]),
        )
        for p in patients
    }


def _alerts(
    patient: Patient,
    *,
    allergies: list[Allergy],
    medicines: list[Medication],
    bloods: BloodsStatus,
) -> list[Alert]:
    alerts = []
    for allergy in allergies:
        alerts.append(
            Alert(
                "allergy",
                _("Allergy: %(substance)s: %(reaction)s (%(severity)s)")
                % {
                    "substance": allergy.substance_label,
                    "reaction": allergy.reaction,
                    "severity": allergy.get_severity_display(),
                },
                severe=allergy.severity == Allergy.Severity.SEVERE,
            )
        )
    if not allergies:
        if patient.no_known_allergies_at:
            alerts.append(
                Alert(
                    "no_known_allergies",
                    _("No known allergies (stated %(day)s)")
                    % {
                        "day": formats.date_format(
                            timezone.localtime(patient.no_known_allergies_at), "DATE_FORMAT"
                        )
                    },
                )
            )
        else:
            alerts.append(Alert("allergies_unknown", _("Allergies not recorded: ask")))
    if patient.bleeding_disorder:
        alerts.append(Alert("bleeding", _("Bleeding disorder"), severe=True))
    for medicine in medicines:
        if medicine.is_blood_thinner:
            alerts.append(
                Alert(
                    "blood_thinner",
                    _("Blood thinner: %(name)s (%(kind)s)")
                    % {"name": medicine.name, "kind": medicine.get_med_class_display()},
                )
            )
    alerts.extend(Alert("bloods", problem) for problem in bloods.problems)
    return alerts
