"""Care relationships: which patients are a physician's own (CLINIC_CARE_RELATIONSHIP).

A physician's own patients are those they saw or answer results for; a physician
covering a colleague's results (`ResultCoverage`, from one date to another) also
treats the colleague's patients for that period: cover is care, not an emergency.
"""

from typing import Any

from procedures.catalog.clock import clinic_today
from procedures.results.models import ResultCoverage, TestOrder, TestResult
from procedures.scheduling.models import Appointment

OWN, COVER = "own", "cover"


def care_basis(user: Any, patient_id: int) -> str | None:
    """ "own" when the patient is the physician's own, "cover" when they are a patient of
    a colleague whose results the physician covers today, None otherwise."""
    if (
        Appointment.objects.filter(patient_id=patient_id, provider__user=user).exists()
        or TestOrder.objects.filter(
            appointment__patient_id=patient_id, responsible__user=user
        ).exists()
    ):
        return OWN
    today = clinic_today()
    covered = ResultCoverage.objects.filter(
        covering__user=user, starts_on__lte=today, ends_on__gte=today
    ).values("absent")
    if (
        Appointment.objects.filter(patient_id=patient_id, provider__in=covered).exists()
        or TestOrder.objects.filter(
            appointment__patient_id=patient_id, responsible__in=covered
        ).exists()
    ):
        return COVER
    return None


def treats_patient(user: Any, patient_id: int) -> bool:
    """The patient has (or had) an appointment with the provider linked to `user`, one
    of the patient's test orders names that provider as responsible, or `user` covers
    the results of a physician for whom either holds, today."""
    return care_basis(user, patient_id) is not None


def patient_of_order(pk: int) -> int | None:
    return TestOrder.objects.filter(pk=pk).values_list("appointment__patient_id", flat=True).first()


def patient_of_result(pk: int) -> int | None:
    return (
        TestResult.objects.filter(pk=pk)
        .values_list("order__appointment__patient_id", flat=True)
        .first()
    )
