"""Writes to the patient record: one service per action, each one transaction."""

import hashlib
import json
import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .models import DETAILS_FIELDS, Allergy, BloodResult, DuplicateOverride, Patient, new_mrn


class DuplicateSuspected(ValidationError):
    """The record looks like others; the caller shows them and asks for a decision."""

    def __init__(self, matches: list[Patient]):
        self.matches = matches
        super().__init__(
            _("This looks like a patient who is already registered."), code="duplicate"
        )


class DetailsChanged(Exception):
    """The details were saved by someone else since the page was opened: nothing saved.
    `current` is the record as it is now."""

    def __init__(self, current: Patient):
        self.current = current
        super().__init__(f"patient {current.pk} changed since the page was opened")


def details_seen(patient: Patient) -> str:
    """A fingerprint of the patient's details (DETAILS_FIELDS) as a page shows them. The
    details themselves, not a version number or updated_at: every writer (an edit, a
    merge's contact choice, one undone) changes it with no bookkeeping, and
    a change of weight or allergies does not make a details page stale."""
    values = [str(getattr(patient, name)) for name in DETAILS_FIELDS]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:32]


class AlreadySubmitted(Exception):
    """The same registration form was posted before: here is the record it made."""

    def __init__(self, patient: Patient):
        self.patient = patient
        super().__init__(f"form already submitted for patient {patient.pk}")


def _check_duplicates(
    *, patient: Patient, different_person_reason: str, user: Any
) -> list[Patient]:
    from .selectors import likely_duplicates

    matches = likely_duplicates(
        given_name=patient.given_name,
        family_name=patient.family_name,
        date_of_birth=patient.date_of_birth,
        email=patient.email,
        phone=patient.phone,
        exclude_pk=patient.pk,
    )
    if matches and not different_person_reason.strip():
        raise DuplicateSuspected(matches)
    return matches


def _record_override(*, patient: Patient, matches: list[Patient], reason: str, user: Any) -> None:
    if matches:
        DuplicateOverride.objects.create(
            patient=patient,
            others=[{"id": m.pk, "mrn": m.mrn} for m in matches],
            reason=reason.strip(),
            decided_by=user if getattr(user, "is_authenticated", False) else None,
        )


def patient_register(
    *,
    patient: Patient,
    submission_key: uuid.UUID | None = None,
    different_person_reason: str = "",
    user: Any = None,
) -> Patient:
    """Save a new (already validated) patient with a fresh, unique MRN.

    Raises AlreadySubmitted when this form's one-time key made a record before (the
    form posted twice), and DuplicateSuspected when the person looks already
    registered and nobody said why this is a different person.
    """
    if submission_key is not None:
        earlier = Patient.objects.filter(submission_key=submission_key).first()
        if earlier:
            raise AlreadySubmitted(earlier)
    with transaction.atomic():
        matches = _check_duplicates(
            patient=patient, different_person_reason=different_person_reason, user=user
        )
        patient.submission_key = submission_key
        for _attempt in range(5):
            patient.mrn = new_mrn()
            try:
                with transaction.atomic():
                    patient.save()
                break
            except IntegrityError:
                # Two posts of one form at the same moment: the other one won.
                if submission_key is not None:
                    earlier = Patient.objects.filter(submission_key=submission_key).first()
                    if earlier:
                        raise AlreadySubmitted(earlier) from None
                # Otherwise an MRN collision (1 in 10^8 per existing patient): draw again.
                patient.pk = None
                continue
        else:
            raise RuntimeError("Could not allocate a unique MRN")
        _record_override(
            patient=patient, matches=matches, reason=different_person_reason, user=user
        )
    return patient


def patient_update(
    *,
    patient: Patient,
    different_person_reason: str = "",
    user: Any = None,
    seen_details: str | None = None,
) -> Patient:
    """Save edited (already validated) details; a change that makes the record look
    like another patient's needs a reason, as at registration.

    `seen_details`: `details_seen` of the page the person opened. When the details were
    saved by someone else since, nothing is saved (DetailsChanged): the whole form would
    put back what the colleague changed (QA 1, #6). None or "": not checked."""
    with transaction.atomic():
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        if seen_details and details_seen(current) != seen_details:
            raise DetailsChanged(current)
        matches = _check_duplicates(
            patient=patient, different_person_reason=different_person_reason, user=user
        )
        before = (
            Patient.objects.filter(pk=patient.pk).values_list("email", "email_reminders").first()
        )
        patient.save()
        _record_override(
            patient=patient, matches=matches, reason=different_person_reason, user=user
        )
        if before != (patient.email, patient.email_reminders):
            # The planned emails follow in the same transaction (the domain's answer:
            # patients imports no procedures).
            import_string(settings.PATIENTS_CONTACT_CHANGED)(patient_id=patient.pk)
    return patient


# --- The clinical record -------------------------------------------------------------


def patient_measurements_set(*, patient: Patient) -> Patient:
    """Save weight, height, ASA class and pregnancy applicability (validated by the form)."""
    with transaction.atomic():
        patient.save(
            update_fields=[
                "weight_kg",
                "height_cm",
                "measured_on",
                "asa_class",
                "pregnancy",
                "updated_at",
            ]
        )
    return patient


def _same_allergy_on_file(allergy: Allergy) -> Allergy | None:
    """The patient's active allergy to the same substance (one named as "something
    else" is the same when its name is, ignoring case), if any."""
    on_file = Allergy.objects.filter(
        patient=allergy.patient, is_active=True, substance=allergy.substance
    ).select_related("recorded_by")
    if allergy.substance == Allergy.Substance.OTHER:
        on_file = on_file.filter(substance_other__iexact=allergy.substance_other)
    return on_file.first()


def allergy_add(
    *,
    patient: Patient,
    substance: str,
    reaction: str,
    severity: str,
    substance_other: str = "",
    user: Any = None,
) -> Allergy:
    """Record an allergy; it replaces any "no known allergies" statement."""
    allergy = Allergy(
        patient=patient,
        substance=substance,
        substance_other=" ".join(substance_other.split()),
        reaction=" ".join(reaction.split()),
        severity=severity,
        recorded_by=user,
    )
    if substance == Allergy.Substance.OTHER and not allergy.substance_other:
        raise ValidationError({"substance_other": _("Name the substance.")})
    allergy.full_clean(exclude=["patient", "recorded_by", "removed_by"])
    with transaction.atomic():
        # One at a time per patient: two posts of the same form (a resubmit, Back) are
        # one allergy, not two lines on every banner (QA 1, #9).
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        if same := _same_allergy_on_file(allergy):
            raise ValidationError(
                {
                    "substance": _(
                        "%(substance)s is already on file (%(reaction)s, %(severity)s; "
                        "recorded %(on)s by %(who)s). To change it, remove it and record "
                        "it again."
                    )
                    % {
                        "substance": same.substance_label,
                        "reaction": same.reaction,
                        "severity": same.get_severity_display(),
                        "on": formats.date_format(timezone.localtime(same.recorded_at), "j F Y"),
                        "who": (
                            (same.recorded_by.get_full_name() or same.recorded_by.get_username())
                            if same.recorded_by
                            else _("someone")
                        ),
                    }
                }
            )
        allergy.save()
        if patient.no_known_allergies_at:
            patient.no_known_allergies_at = None
            patient.no_known_allergies_by = None
            patient.save(update_fields=["no_known_allergies_at", "no_known_allergies_by"])
    return allergy


def allergy_remove(*, allergy_id: int, user: Any = None) -> Allergy:
    """Take an allergy off the active list (entered in error, or no longer true); kept
    on the record with who and when."""
    with transaction.atomic():
        allergy = Allergy.objects.select_for_update().get(pk=allergy_id)
        if allergy.is_active:
            allergy.is_active = False
            allergy.removed_at = timezone.now()
            allergy.removed_by = user
            allergy.save(update_fields=["is_active", "removed_at", "removed_by"])
    return allergy


def allergies_none_known(*, patient: Patient, user: Any = None) -> Patient:
    """State, today and by this user, that the patient has no known allergies."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        if patient.allergies.filter(is_active=True).exists():
            raise ValidationError(
                _("Allergies are recorded for this patient: remove them first if they are wrong.")
            )
        patient.no_known_allergies_at = timezone.now()
        patient.no_known_allergies_by = user
        patient.save(update_fields=["no_known_allergies_at", "no_known_allergies_by"])
    return patient


def patient_bleeding_disorder_set(*, patient_id: int, bleeding_disorder: bool) -> Patient:
    """Record or clear the bleeding-disorder flag (nurses and physicians, from the
    clinical record): it adds the blood-test step and the longer pressure to the prep.
    The change is audited with who made it (auditlog)."""
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        if patient.bleeding_disorder != bleeding_disorder:
            patient.bleeding_disorder = bleeding_disorder
            patient.save(update_fields=["bleeding_disorder", "updated_at"])
    return patient


def blood_result_add(*, result: BloodResult, user: Any = None) -> BloodResult:
    """Record a pre-procedure blood result (validated by the form)."""
    result.recorded_by = user
    result.full_clean(exclude=["recorded_by"])
    with transaction.atomic():
        result.save()
    return result
