"""A patient's contact details changed: their visits' planned emails follow at once."""

from django.db import transaction

from procedures.messaging.plan import reminders_contact_replan
from procedures.scheduling.models import Appointment


def patient_contact_changed(*, patient_id: int) -> None:
    """The email address or the email preference changed (patients' `patient_update`
    calls this through settings.PATIENTS_CONTACT_CHANGED): every planned email of the
    patient's visits becomes a front-desk call, or an email again. Nothing planned is
    dropped without a call."""
    with transaction.atomic():
        appointments = Appointment.objects.active().filter(patient_id=patient_id)
        for appointment in appointments.select_related("patient", "procedure_type"):
            reminders_contact_replan(appointment=appointment)
