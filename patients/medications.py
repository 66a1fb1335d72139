"""The patient's medication list: one service per write."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import Medication, Patient


def medication_add(*, patient: Patient, name: str, dose: str = "", med_class: str) -> Medication:
    """Add a medicine to the patient's list."""
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": _("Enter the medicine's name.")})
    if med_class not in Medication.Class.values:
        raise ValidationError({"med_class": _("Choose what kind of medicine this is.")})
    with transaction.atomic():
        return Medication.objects.create(
            patient=patient, name=name, dose=dose.strip(), med_class=med_class
        )


def medication_stop(*, medication_id: int) -> Medication:
    """Mark a medicine as no longer taken (kept on the record)."""
    with transaction.atomic():
        medication = Medication.objects.select_for_update().get(pk=medication_id)
        medication.is_active = False
        medication.save(update_fields=["is_active"])
    return medication
