"""Whose record an appointment is, for `care_gated` (clinic.emergency)."""

from procedures.scheduling.models import Appointment


def patient_of_appointment(pk: int) -> int | None:
    return Appointment.objects.filter(pk=pk).values_list("patient_id", flat=True).first()
