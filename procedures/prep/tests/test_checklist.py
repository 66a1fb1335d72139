"""Day-of readiness: services/prep_checklist.py."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from patients.medications import medication_add
from patients.models import BloodResult
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep import checklist as prep_checklist
from procedures.prep import rules as prep_rules
from procedures.prep.models import ChecklistItem, ChecklistTick, ClinicalOverride
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory
from procedures.workflows import prep_changes

DAY = dt.date(2027, 3, 10)
BOOKED = clinic_datetime(dt.date(2027, 2, 1), dt.time(9, 0))
ON_THE_DAY = clinic_datetime(DAY, dt.time(8, 0))


@pytest.fixture
def appointment(db, time_machine):
    time_machine.move_to(BOOKED, tick=False)
    return AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        patient=PatientFactory(bleeding_disorder=True),
        start_at=clinic_datetime(DAY, dt.time(9, 0)),
        end_at=clinic_datetime(DAY, dt.time(10, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
        escort_name="Ana",
        escort_phone="+44 20 7946 0001",
    )


def test_it_lists_what_is_missing_until_everything_is_done(
    appointment, physician_user, nurse_user, time_machine
):
    warfarin = medication_add(
        patient=appointment.patient, name="Warfarin", med_class="anticoagulant"
    )
    state = prep_checklist.readiness(appointment)
    assert not state.ready
    assert state.missing == [
        "Hold plan not confirmed",
        "Site and side not set",
        # Bleeding disorder and warfarin: platelets and INR before the needle.
        "No platelet count in the 7 days before.",
        "No INR in the 7 days before.",
        "Fasting confirmed",
        "Escort present",
        "Pre-procedure blood tests back",
        "Consent signed",
        "Site and side confirmed",
    ]
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action="stop",
        stop_at=clinic_datetime(dt.date(2027, 3, 6), dt.time(20, 0)),
        by=physician_user,
    )
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)
    prep_rules.procedure_site_set(
        appointment_id=appointment.pk, site="posterior_iliac", side="left", by=physician_user
    )
    time_machine.move_to(ON_THE_DAY, tick=False)
    BloodResult.objects.create(
        patient=appointment.patient, taken_on=DAY, platelets=180, inr=Decimal("1.1")
    )
    items = prep_checklist.checklist_items(appointment)
    assert items[0] == ChecklistItem.MEDICATIONS_HELD
    for item in items:
        prep_checklist.checklist_tick(appointment_id=appointment.pk, item=item, by=nurse_user)
    state = prep_checklist.readiness(appointment)
    assert state.ready, state.missing
    assert {(r.tick.by, r.tick.at) for r in state.rows} == {(nurse_user, ON_THE_DAY)}


def test_an_unsedated_patient_without_medicines_has_a_shorter_list(db):
    appointment = AppointmentFactory(
        sedation_level=SedationLevel.LOCAL, patient=PatientFactory(bleeding_disorder=False)
    )
    assert prep_checklist.checklist_items(appointment) == ["consent", "site_side"]


def test_it_ticks_only_on_the_day(appointment, nurse_user):
    with pytest.raises(ValidationError, match="on the day of the procedure"):
        prep_checklist.checklist_tick(appointment_id=appointment.pk, item="consent", by=nurse_user)
    assert not ChecklistTick.objects.exists()


def test_it_refuses_items_that_cannot_be_true_yet(appointment, nurse_user, time_machine):
    time_machine.move_to(ON_THE_DAY, tick=False)
    with pytest.raises(ValidationError, match="not set the site and side"):
        prep_checklist.checklist_tick(
            appointment_id=appointment.pk, item="site_side", by=nurse_user
        )
    with pytest.raises(ValidationError, match="not on this appointment's checklist"):
        prep_checklist.checklist_tick(
            appointment_id=appointment.pk, item="medications_held", by=nurse_user
        )
    prep_checklist.checklist_tick(appointment_id=appointment.pk, item="consent", by=nurse_user)
    with pytest.raises(ValidationError, match="already ticked"):
        prep_checklist.checklist_tick(appointment_id=appointment.pk, item="consent", by=nurse_user)


def test_starting_when_not_ready_needs_a_recorded_reason(
    appointment, physician_user, nurse_user, time_machine
):
    prep_rules.procedure_site_set(
        appointment_id=appointment.pk, site="posterior_iliac", side="left", by=physician_user
    )
    time_machine.move_to(ON_THE_DAY, tick=False)
    for item in ("consent", "site_side"):
        prep_checklist.checklist_tick(appointment_id=appointment.pk, item=item, by=nurse_user)
    with pytest.raises(ValidationError) as exc:
        prep_checklist.readiness_start_check(appointment=appointment, by=physician_user)
    assert "Not ready: No platelet count in the 7 days before.;" in str(exc.value)
    assert "Give a reason (at least 10 characters) to start anyway." in str(exc.value)
    prep_checklist.readiness_start_check(
        appointment=appointment, reason="Urgent: haematology agreed", by=physician_user
    )
    override = ClinicalOverride.objects.get()
    assert override.rule == prep_checklist.START_NOT_READY
    assert override.reason == "Urgent: haematology agreed"
    assert override.missing.startswith("No platelet count")
    assert override.by == physician_user


def test_a_patient_who_could_be_pregnant_is_asked_on_the_day_with_who_and_when(
    appointment, nurse_user, time_machine
):
    appointment.patient.pregnancy = appointment.patient.Pregnancy.ASK
    appointment.patient.save()

    assert ChecklistItem.PREGNANCY in prep_checklist.checklist_items(appointment)
    assert (
        "Asked whether the patient could be pregnant"
        in prep_checklist.readiness(appointment).missing
    )

    time_machine.move_to(ON_THE_DAY, tick=False)
    tick = prep_checklist.checklist_tick(
        appointment_id=appointment.pk, item=ChecklistItem.PREGNANCY, by=nurse_user
    )
    assert (tick.by, tick.at) == (nurse_user, ON_THE_DAY)
    missing = prep_checklist.readiness(appointment).missing
    assert "Asked whether the patient could be pregnant" not in missing


def test_a_patient_who_cannot_be_pregnant_is_not_asked(appointment):
    appointment.patient.pregnancy = appointment.patient.Pregnancy.NOT_APPLICABLE
    appointment.patient.save()

    assert ChecklistItem.PREGNANCY not in prep_checklist.checklist_items(appointment)
