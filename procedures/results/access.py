"""Care relationships: which patients are a physician's own (CLINIC_CARE_RELATIONSHIP)."""

from typing import Any

from procedures.results.models import TestOrder, TestResult
from procedures.scheduling.models import Appointment


def treats_patient(user: Any, patient_id: int) -> bool:
    """The patient has (or had) an appointment with the provider linked to `user`,
    or one of the patient's test orders names that provider as responsible."""
    return (
        Appointment.objects.filter(patient_id=patient_id, provider__user=user).exists()
        or TestOrder.objects.filter(
            appointment__patient_id=patient_id, responsible__user=user
        ).exists()
    )


def patient_of_order(pk: int) -> int | None:
    return TestOrder.objects.filter(pk=pk).values_list("appointment__patient_id", flat=True).first()


def patient_of_result(pk: int) -> int | None:
    return (
        TestResult.objects.filter(pk=pk)
        .values_list("order__appointment__patient_id", flat=True)
        .first()
    )
