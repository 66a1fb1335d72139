"""Whose record an appointment is, for `care_gated` (clinic.emergency)."""

from procedures.scheduling.models import Appointment


def patient_of_appointment(pk: int) -> int | None:
    return Appointment.objects.filter(pk=pk).values_list("patient_id", flat=True).first()


def patients_of_appointments(pks) -> list[int]:
    """The patients of these appointments (one query; none for no appointments): for the
    read of a page listing appointments as plain values (a board, a calendar)."""
    pks = list(pks)
    if not pks:
        return []
    return list(Appointment.objects.filter(pk__in=pks).values_list("patient_id", flat=True))
