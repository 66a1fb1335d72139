"""What the prep plan refuses or warns about (QA pass on prep plans, holds and escorts):
a plan changed after the procedure, a last dose inside the fast or at the start, a stop
shorter than its class suggestion, an escort confirmation taken back, the patient as
their own escort, and the "confirm who takes you home" step once it is done."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.medications import medication_add
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep import rules as prep_rules
from procedures.prep import services as prep
from procedures.prep.facts import hold_rows
from procedures.prep.models import MedicationClassRule, MedicationHold, PrepPlan
from procedures.prep.timeline import patient_timeline, prep_timeline
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory
from procedures.today.board import today_arrivals
from procedures.workflows import prep_changes

NOW = clinic_datetime(dt.date(2026, 12, 7), dt.time(9, 0))  # Monday 7 December 2026
DAY = dt.date(2026, 12, 10)  # Thursday 10 December
A = Appointment.Status
pytestmark = [pytest.mark.clock(NOW), pytest.mark.usefixtures("care_for_all")]


@pytest.fixture
def visit(db):
    appointment = AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        patient=PatientFactory(
            given_name="Maria", family_name="Silva", phone="07700 900111", email="m@example.com"
        ),
        start_at=clinic_datetime(DAY, dt.time(10, 0)),
        end_at=clinic_datetime(DAY, dt.time(11, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
        transport_mode="escort_driving",
    )
    PrepPlan.objects.create(appointment=appointment, site="posterior_iliac", side="left")
    return appointment


def url(name, appointment):
    return reverse(f"procedures:{name}", args=[appointment.pk])


def medicine(visit, name="Ibuprofen", med_class="nsaid"):
    return medication_add(patient=visit.patient, name=name, dose="", med_class=med_class)


def stop(visit, med, at, by):
    return prep_changes.medication_hold_set(
        appointment_id=visit.pk,
        medication_id=med.pk,
        action=MedicationHold.Action.STOP,
        stop_at=at,
        by=by,
    )


# 2. The plan is read-only once the procedure has started, or the visit is released ---


@pytest.mark.parametrize("status", [A.IN_PROCEDURE, A.COMPLETED, A.CANCELLED, A.NO_SHOW])
def test_it_refuses_to_change_the_procedures_plan_once_under_way_or_released(
    visit, physician_user, status
):
    med = medicine(visit)
    Appointment.objects.filter(pk=visit.pk).update(status=status)

    with pytest.raises(ValidationError, match="can no longer be changed"):
        prep_changes.sedation_plan_set(
            appointment_id=visit.pk,
            sedation_level=SedationLevel.GENERAL,
            food_fast_hours=6,
            clear_fluid_fast_hours=2,
            by=physician_user,
        )
    with pytest.raises(ValidationError, match="can no longer be changed"):
        prep_rules.procedure_site_set(
            appointment_id=visit.pk, site="posterior_iliac", side="right", by=physician_user
        )
    with pytest.raises(ValidationError, match="can no longer be changed"):
        prep_changes.medication_hold_set(
            appointment_id=visit.pk,
            medication_id=med.pk,
            action=MedicationHold.Action.CONTINUE,
            stop_at=None,
            by=physician_user,
        )
    with pytest.raises(ValidationError, match="can no longer be changed"):
        prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)

    visit.refresh_from_db()
    plan = PrepPlan.objects.get(appointment=visit)
    assert (visit.sedation_level, plan.side) == (SedationLevel.IV_MODERATE, "left")
    assert not visit.medication_holds.exists()


def test_the_page_of_a_completed_visit_shows_the_plan_read_only(physician_client, visit):
    Appointment.objects.filter(pk=visit.pk).update(status=A.COMPLETED)

    page = physician_client.get(url("prep_detail", visit)).content.decode()

    assert "The procedure has started" in page
    assert 'id="sedation-form"' not in page
    assert 'id="site-form"' not in page
    response = physician_client.post(
        url("prep_sedation", visit),
        {
            "sed-sedation_level": "general",
            "sed-food_fast_hours": 6,
            "sed-clear_fluid_fast_hours": 2,
        },
    )
    assert response.status_code == 400
    assert "can no longer be changed" in response.content.decode()
    visit.refresh_from_db()
    assert visit.sedation_level == SedationLevel.IV_MODERATE


def test_a_checked_in_visits_plan_can_still_be_changed(visit, physician_user):
    Appointment.objects.filter(pk=visit.pk).update(status=A.CHECKED_IN)

    prep_rules.procedure_site_set(
        appointment_id=visit.pk, site="posterior_iliac", side="right", by=physician_user
    )

    assert PrepPlan.objects.get(appointment=visit).side == "right"


# 3. A last dose inside the fast, or at the start; a stop shorter than suggested -------


def test_it_refuses_a_last_dose_minutes_before_the_procedure(visit, physician_user):
    med = medicine(visit)
    with pytest.raises(ValidationError, match="before the fast begins") as refused:
        stop(visit, med, clinic_datetime(DAY, dt.time(9, 59)), physician_user)

    assert "Thu 10 Dec 04:00" in str(refused.value)  # 6 hours' fast before 10:00
    assert not visit.medication_holds.exists()
    assert not Reminder.objects.filter(appointment=visit, kind="medication_hold").exists()


def test_it_refuses_a_last_dose_at_the_moment_the_fast_begins(visit, physician_user):
    with pytest.raises(ValidationError, match="before the fast begins"):
        stop(visit, medicine(visit), clinic_datetime(DAY, dt.time(4, 0)), physician_user)


def test_it_accepts_a_last_dose_just_before_the_fast(visit, physician_user):
    stop(visit, medicine(visit), clinic_datetime(DAY, dt.time(3, 59)), physician_user)

    assert visit.medication_holds.count() == 1


def test_it_refuses_a_last_dose_at_the_start_without_sedation(visit, physician_user):
    Appointment.objects.filter(pk=visit.pk).update(sedation_level=SedationLevel.LOCAL)
    med = medicine(visit)

    with pytest.raises(ValidationError, match="must be before the procedure"):
        stop(visit, med, clinic_datetime(DAY, dt.time(10, 0)), physician_user)
    stop(visit, med, clinic_datetime(DAY, dt.time(9, 0)), physician_user)  # no fast: allowed


def test_it_refuses_to_confirm_a_stop_the_fast_has_overtaken(visit, physician_user):
    med = medicine(visit)
    stop(visit, med, clinic_datetime(DAY, dt.time(3, 0)), physician_user)
    # Eight hours' fast from then on: it begins at 02:00, after the last dose was set.
    PrepPlan.objects.filter(appointment=visit).update(food_fast_hours=8)

    with pytest.raises(ValidationError, match="Ibuprofen: With sedation the last dose"):
        prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)


def test_it_warns_of_a_stop_shorter_than_its_class_suggestion(physician_client, visit):
    MedicationClassRule.objects.update_or_create(
        med_class="anticoagulant", defaults={"suggested_hold_days": 3}
    )
    med = medicine(visit, name="Apixaban", med_class="anticoagulant")

    response = physician_client.post(
        url("prep_hold_set", visit),
        {
            "hold-medication": med.pk,
            "hold-action": "stop",
            "hold-stop_date": "2026-12-09",
            "hold-stop_time": "20:00",
        },
        follow=True,
    )

    page = response.content.decode()
    assert "Decision saved" in page
    assert "Apixaban: the stop is shorter than the suggested 3 days" in page
    assert "shorter than the suggested 3 days</span>" in page  # next to the decision
    [row] = hold_rows(visit)
    assert row.shorter_than_suggested


def test_a_stop_as_long_as_suggested_carries_no_warning(physician_user, visit):
    MedicationClassRule.objects.update_or_create(
        med_class="anticoagulant", defaults={"suggested_hold_days": 3}
    )
    med = medicine(visit, name="Apixaban", med_class="anticoagulant")
    stop(visit, med, clinic_datetime(dt.date(2026, 12, 7), dt.time(20, 0)), physician_user)

    [row] = hold_rows(visit)
    assert not row.shorter_than_suggested


# 4. An escort confirmation can be taken back ------------------------------------------


def confirmed(visit, by):
    return prep_changes.getting_home_set(
        appointment_id=visit.pk,
        by=by,
        escort_confirmed=True,
        transport_mode="escort_driving",
        escort_name="Ana Silva",
        escort_phone="07700 900222",
    )


def test_taking_the_escort_back_drops_the_confirmation(frontdesk_client, frontdesk_user, visit):
    confirmed(visit, frontdesk_user)

    response = frontdesk_client.post(
        url("prep_transport", visit),
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Ana Silva",
            "tr-escort_phone": "07700 900222",
            "tr-escort_take_back": "on",
        },
        follow=True,
    )

    assert "The escort is no longer confirmed" in response.content.decode()
    visit.refresh_from_db()
    assert visit.escort_confirmed_at is None
    assert visit.events.filter(kind="escort_unconfirmed").exists()
    plan = PrepPlan.objects.get(appointment=visit)
    assert (plan.escort_confirmed_via, plan.escort_confirmed_by) == ("", None)
    assert Reminder.objects.filter(
        appointment=visit, kind="escort_request", status="pending"
    ).exists()  # asked again
    page = frontdesk_client.get(url("prep_detail", visit)).content.decode()
    assert "Escort not confirmed" in page


def test_the_today_board_flags_the_escort_again_once_taken_back(frontdesk_user, visit, clock):
    confirmed(visit, frontdesk_user)
    prep_changes.getting_home_set(
        appointment_id=visit.pk,
        by=frontdesk_user,
        escort_confirmed=False,
        escort_take_back=True,
        transport_mode="escort_driving",
        escort_name="Ana Silva",
        escort_phone="07700 900222",
    )
    clock.move_to(clinic_datetime(DAY, dt.time(8, 0)), tick=False)

    [row] = today_arrivals(day=DAY)
    assert "escort" in row.flag_codes


# 5. The patient is not their own escort -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "phone", "field"),
    [
        ("maria  SILVA", "07700 900222", "escort_name"),
        ("Ana Silva", "+44 7700 900111", "escort_phone"),
    ],
)
def test_it_refuses_the_patient_as_their_own_escort(visit, frontdesk_user, name, phone, field):
    for service in (prep.escort_confirm, prep.transport_set):
        extra = {} if service is prep.escort_confirm else {"transport_mode": "escort_driving"}
        with pytest.raises(ValidationError) as refused:
            key = "name" if service is prep.escort_confirm else "escort_name"
            phone_key = "phone" if service is prep.escort_confirm else "escort_phone"
            service(
                appointment_id=visit.pk,
                **{key: name, phone_key: phone},
                by=frontdesk_user,
                **extra,
            )
        assert field in refused.value.message_dict
    visit.refresh_from_db()
    assert (visit.escort_name, visit.escort_confirmed_at) == ("", None)


def test_the_getting_home_form_says_why_the_patient_cannot_be_the_escort(frontdesk_client, visit):
    response = frontdesk_client.post(
        url("prep_transport", visit),
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Maria Silva",
            "tr-escort_phone": "07700 900222",
            "tr-escort_confirmed": "on",
        },
    )

    assert response.status_code == 400
    assert "The escort cannot be the patient" in response.content.decode()


# 8. The stop step says the dose at that time is the last one --------------------------


def test_the_stop_step_names_the_last_dose_and_its_time(visit, physician_user):
    med = medicine(visit, name="Warfarin", med_class="anticoagulant")
    stop(visit, med, clinic_datetime(DAY - dt.timedelta(days=3), dt.time(20, 0)), physician_user)
    prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)

    [step] = [s for s in prep_timeline(visit) if s.kind == "medication_hold" and s.detail]

    assert step.text == (
        "Take your last dose of the medicine your doctor named at 20:00 on Monday 7 December "
        "2026. Then take no more of it until the clinic tells you to start again."
    )
    rows = Reminder.objects.filter(appointment=visit, kind="medication_hold", status="pending")
    assert {row.step_text for row in rows} == {step.text}


# 9. Once the escort is confirmed, the page no longer asks to confirm them -------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_confirmed_escort_is_not_asked_for_again(visit, frontdesk_user, language):
    visit.patient.preferred_language = language
    visit.patient.save(update_fields=["preferred_language"])
    asks = [s for s in patient_timeline(visit) if s.kind == "escort"]
    assert asks  # before: "Confirm who is taking you home"

    confirmed(visit, frontdesk_user)

    visit.refresh_from_db()
    assert [s for s in patient_timeline(visit) if s.kind == "escort"] == []
