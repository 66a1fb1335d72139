"""Whose record an appointment is, for `care_gated` (clinic.emergency)."""

from collections.abc import Iterable

from procedures.scheduling.models import Appointment


def patient_of_appointment(pk: int) -> int | None:
    return Appointment.objects.filter(pk=pk).values_list("patient_id", flat=True).first()


def patients_of_appointments(pks: Iterable[int]) -> list[int]:
    """The patients of these appointments (one query; none for no appointments): for the
    read of a page listing appointments as plain values (a board, a calendar)."""
    ids = list(pks)
    if not ids:
        return []
    return list(Appointment.objects.filter(pk__in=ids).values_list("patient_id", flat=True))
