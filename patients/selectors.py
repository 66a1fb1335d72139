"""Reads about patients that several pages share: likely duplicates, alerts, bloods.

Pages outside this app (visit, prep, order, the day sheet, the Today board) call
these too; patients never imports procedures, so nothing here knows of visits.
"""

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from difflib import SequenceMatcher

from django.conf import settings
from django.db.models import Q, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .models import Allergy, BloodResult, DuplicateOverride, Medication, Patient
from .normalise import fold, phone_key

# How alike two folded names must be (0..1) to count as the same person's.
NAME_SIMILARITY = 0.8
# How far back a year of birth typed with a slip can go (a real one is within it).
OLDEST_AGE_YEARS = 130


def _name_similarity(a: str, b: str) -> float:
    """Word order does not matter; accents and case are folded away first."""
    a_words, b_words = sorted(fold(a).split()), sorted(fold(b).split())
    return SequenceMatcher(None, " ".join(a_words), " ".join(b_words)).ratio()


def _names_alike(a: str, b: str) -> bool:
    """Similar as a whole (typos, accents, order), or every word of the shorter name
    is in the longer one: "José García" and "José García López" (a second family
    name added or dropped) score only 0.79 as a whole (QA 3, #5)."""
    if _name_similarity(a, b) >= NAME_SIMILARITY:
        return True
    a_words, b_words = set(fold(a).split()), set(fold(b).split())
    shorter = min(a_words, b_words, key=len)
    return len(shorter) >= 2 and (a_words <= b_words or b_words <= a_words)


def _near_dates(born: date) -> set[date]:
    """Dates of birth one slip away from `born` (QA 3, #5): another day of the same
    month and year, another month with the same day and year, the day and month
    swapped (5 Jun for 6 May), or a year with one digit changed or two neighbouring
    digits swapped (1968 or 1985 for 1958). At most about sixty dates, read through
    the date-of-birth index; a year typed anyhow is not one of them."""
    near: set[date] = set()

    def add(year: int, month: int, day: int) -> None:
        with suppress(ValueError):  # 31 February
            near.add(date(year, month, day))

    for day in range(1, 32):
        add(born.year, born.month, day)
    for month in range(1, 13):
        add(born.year, month, born.day)
    digits = f"{born.year:04d}"
    years = {int(digits[:i] + d + digits[i + 1 :]) for i in range(4) for d in "0123456789"}
    years |= {int(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]) for i in range(3)}
    this_year = timezone.localdate().year
    for year in years:
        if this_year - OLDEST_AGE_YEARS <= year <= this_year:
            add(year, born.month, born.day)
    if swapped := _swapped(born):
        near.add(swapped)
    near.discard(born)
    return near


def _swapped(born: date) -> date | None:
    """`born` with its day and month swapped (5 June for 6 May), when that is a date."""
    try:
        return date(born.year, born.day, born.month)
    except ValueError:
        return None


def likely_duplicates(
    *,
    given_name: str,
    family_name: str,
    date_of_birth: date | None,
    email: str = "",
    phone: str = "",
    exclude_pk: int | None = None,
) -> list[Patient]:
    """Active records that may be this person: a similar name (typos and accents
    forgiven, or one name's words all in the other's) born the same day, or one slip
    of the date away (`_near_dates`); or the same email address or phone number.

    One query finds the candidates. A date one slip away is asked only together with
    a word of the family name typed (three letters or more, found anywhere in the
    other's name, so given and family name swapped still meet), so the namesakes of
    a common name born on other days are never read. A slip in the date and a typo
    in the family name at once are not caught.

    Records that someone already said are different people are left out.
    """
    condition = Q()
    name = f"{given_name} {family_name}"
    near: set[date] = set()
    if date_of_birth:
        condition |= Q(date_of_birth=date_of_birth)
        words = Q()
        for word in set(fold(family_name).split()):
            if len(word) >= 3:
                # STRPOS, not LIKE: the trigram index would read every patient with the
                # word (thousands of Garcías) to meet the sixty dates' few dozen rows.
                words |= Q(GreaterThan(StrIndex("search_name", Value(word)), 0))
        if words:
            near = _near_dates(date_of_birth)
            condition |= Q(date_of_birth__in=near) & words
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
    swapped = _swapped(date_of_birth) if date_of_birth else None
    matches = []
    for other in candidates.order_by("pk")[:50]:
        reasons = []
        if other.date_of_birth == date_of_birth and _names_alike(name, other.full_name):
            reasons.append(_("same date of birth, similar name"))
        elif other.date_of_birth in near and _names_alike(name, other.full_name):
            if other.date_of_birth == swapped:
                reasons.append(_("similar name, day and month of birth swapped"))
            else:
                reasons.append(_("similar name, date of birth differs in the day, month or year"))
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
