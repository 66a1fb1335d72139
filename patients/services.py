from django.db import IntegrityError, transaction

from .models import Patient, new_mrn


def patient_register(*, patient: Patient) -> Patient:
    """Save a new (already validated) patient with a fresh, unique MRN."""
    for _attempt in range(5):
        patient.mrn = new_mrn()
        try:
            with transaction.atomic():
                patient.save()
            return patient
        except IntegrityError:
            # An MRN collision (1 in 10^8 per existing patient): draw again.
            continue
    raise RuntimeError("Could not allocate a unique MRN")
