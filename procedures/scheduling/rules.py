"""Booking rules about the patient: who may be booked for what."""

from datetime import date, datetime

from django.conf import settings
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_tz
from procedures.catalog.models import ProcedureType

# What a young child may be booked for: aspiration only (from the tibia), or a talk.
CHILD_KINDS = frozenset({ProcedureKind.ASPIRATION, ProcedureKind.RESULTS_DISCUSSION})


def child_max_age_years() -> int:
    """Patients younger than this many years count as young children."""
    return getattr(settings, "PREP_CHILD_MAX_AGE_YEARS", 2)


def age_in_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def child_procedure_message(procedure_name: str) -> str:
    return _(
        "For children under %(age)s, only aspiration from the tibia is offered: "
        "%(procedure)s includes more than that."
    ) % {"age": child_max_age_years(), "procedure": procedure_name}


def child_booking_refusal(
    *, patient: Patient, procedure_type: ProcedureType, start_at: datetime
) -> str | None:
    """Why a young child cannot be booked for this procedure (None: they can), so the
    rule "under 2: aspiration only" is never found only on the day."""
    if procedure_type.kind in CHILD_KINDS:
        return None
    day = start_at.astimezone(clinic_tz()).date()
    if age_in_years(patient.date_of_birth, day) >= child_max_age_years():
        return None
    return child_procedure_message(procedure_type.name)
