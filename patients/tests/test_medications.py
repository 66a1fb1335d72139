"""The patient's medication list: patients/medications.py."""

import pytest
from django.core.exceptions import ValidationError

from patients.medications import medication_add, medication_stop
from patients.models import Medication
from patients.tests.factories import PatientFactory


@pytest.mark.django_db
def test_it_adds_a_medicine_with_its_dose_and_class():
    patient = PatientFactory()
    medication = medication_add(
        patient=patient, name="  Apixaban ", dose="5 mg twice daily", med_class="anticoagulant"
    )
    assert (medication.name, medication.dose) == ("Apixaban", "5 mg twice daily")
    assert medication.thins_blood
    assert list(patient.medications.all()) == [medication]


@pytest.mark.django_db
def test_it_refuses_a_blank_name_or_an_unknown_class():
    patient = PatientFactory()
    with pytest.raises(ValidationError) as exc:
        medication_add(patient=patient, name="  ", med_class="other")
    assert exc.value.message_dict == {"name": ["Enter the medicine's name."]}
    with pytest.raises(ValidationError) as exc:
        medication_add(patient=patient, name="Mystery", med_class="potion")
    assert exc.value.message_dict == {"med_class": ["Choose what kind of medicine this is."]}
    assert not Medication.objects.exists()


@pytest.mark.django_db
def test_a_stopped_medicine_stays_on_the_record():
    medication = medication_add(patient=PatientFactory(), name="Ibuprofen", med_class="nsaid")
    medication_stop(medication_id=medication.pk)
    medication.refresh_from_db()
    assert not medication.is_active


@pytest.mark.django_db
def test_changes_are_audited():
    from auditlog.models import LogEntry

    medication = medication_add(patient=PatientFactory(), name="Fish oil", med_class="supplement")
    assert LogEntry.objects.get_for_object(medication).count() == 1
