"""The prep page and its actions (procedures/views/prep.py), through the test client."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import ReadAccess
from patients.medications import medication_add
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep.models import ChecklistTick, FrontDeskTask, MedicationHold, PrepPlan
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    RoomFactory,
    SiteFactory,
)

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))
DAY = dt.date(2027, 3, 10)  # a Wednesday
pytestmark = [pytest.mark.clock(NOW), pytest.mark.usefixtures("care_for_all")]


@pytest.fixture
def appointment(db):
    return AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        patient=PatientFactory(given_name="Maria", bleeding_disorder=False),
        start_at=clinic_datetime(DAY, dt.time(9, 0)),
        end_at=clinic_datetime(DAY, dt.time(10, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
    )


@pytest.fixture
def warfarin(appointment):
    return medication_add(
        patient=appointment.patient, name="Warfarin", dose="3 mg", med_class="anticoagulant"
    )


def url(name, appointment):
    return reverse(f"procedures:{name}", args=[appointment.pk])


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_the_page_shows_the_plan_and_records_the_read(physician_client, appointment, warfarin):
    response = physician_client.get(url("prep_detail", appointment))
    assert response.status_code == 200
    page = text(response)
    assert "NOT READY" in page
    assert "Hold plan not confirmed" in page
    assert "stop 3 days before (Sun 7 Mar)" in page
    assert "Confirm who is taking you home" in page  # the escort step of the timeline
    assert ReadAccess.objects.filter(
        object_type="procedures.appointment", object_id=str(appointment.pk)
    ).exists()


def test_the_appointment_page_shows_readiness_and_links_the_plan(nurse_client, appointment):
    medication_add(patient=appointment.patient, name="Aspirin", med_class="aspirin")
    page = text(nurse_client.get(appointment.get_absolute_url()))
    assert "NOT READY" in page
    assert "Hold plan not confirmed" in page
    assert url("prep_detail", appointment) in page
    assert url("prep_print", appointment) in page


def test_a_physician_sets_and_confirms_a_hold(physician_client, appointment, warfarin):
    response = physician_client.post(
        url("prep_hold_set", appointment),
        {
            "hold-medication": warfarin.pk,
            "hold-action": "stop",
            "hold-stop_date": "2027-03-06",
            "hold-stop_time": "20:00",
            "hold-resume_guidance": "Thursday evening",
        },
    )
    assert response.status_code == 302
    hold = MedicationHold.objects.get()
    assert hold.stop_at == clinic_datetime(dt.date(2027, 3, 6), dt.time(20, 0))
    assert "Hold plan not confirmed" in text(physician_client.get(url("prep_detail", appointment)))

    physician_client.post(url("prep_hold_confirm", appointment))
    page = text(physician_client.get(url("prep_detail", appointment)))
    assert "Hold plan confirmed" in page
    assert (
        '<td class="text-nowrap">Sat 6 March, 20:00</td><td>Take your last dose of the medicine '
        "your doctor named at 20:00 on Saturday 6 March 2027. Then take no more of it" in page
    )
    assert "Warfarin 3 mg. Start again: Thursday evening" in page


def test_a_stop_after_the_procedure_is_refused_on_the_page(physician_client, appointment, warfarin):
    response = physician_client.post(
        url("prep_hold_set", appointment),
        {"hold-medication": warfarin.pk, "hold-action": "stop", "hold-stop_date": "2027-03-11"},
    )
    assert response.status_code == 400
    assert "The stop must be before the procedure (Wed 10 Mar 09:00)" in text(response)
    assert not MedicationHold.objects.exists()


def test_a_last_dose_at_a_time_the_clocks_skip_is_asked_again(physician_client, db, settings):
    """QA 1, #2: the last dose typed for 01:30 on the night the clocks go forward."""
    settings.CLINIC_TIME_ZONE = settings.TIME_ZONE = "Europe/London"
    later = AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        start_at=clinic_datetime(dt.date(2027, 3, 31), dt.time(9, 0)),
        end_at=clinic_datetime(dt.date(2027, 3, 31), dt.time(10, 0)),
        sedation_level=SedationLevel.IV_MODERATE,
    )
    warfarin = medication_add(patient=later.patient, name="Warfarin", med_class="anticoagulant")

    response = physician_client.post(
        url("prep_hold_set", later),
        {
            "hold-medication": warfarin.pk,
            "hold-action": "stop",
            "hold-stop_date": "2027-03-28",
            "hold-stop_time": "01:30",
        },
    )

    assert response.status_code == 400
    assert (
        "The clocks go forward at 01:00 on Sunday 28 March 2027: 01:00\u201302:00 does not exist."
    ) in text(response)
    assert not MedicationHold.objects.exists()


def test_fasting_hours_out_of_range_are_refused_on_the_page(physician_client, appointment):
    response = physician_client.post(
        url("prep_sedation", appointment),
        {
            "sed-sedation_level": "general",
            "sed-food_fast_hours": 30,
            "sed-clear_fluid_fast_hours": 2,
        },
    )
    assert response.status_code == 400
    assert "No food for 2 to 12 hours: 30 is out of range." in text(response)
    appointment.refresh_from_db()
    assert appointment.sedation_level == SedationLevel.IV_MODERATE
    assert not PrepPlan.objects.exists()


def test_a_negative_food_fast_is_refused_once_not_with_a_misleading_second_message(
    physician_client, appointment
):
    """QA pass 1, #11: -1 hours of food fast also said "Clear fluids can stop no earlier
    than food: make it at most -1 hours"."""
    response = physician_client.post(
        url("prep_sedation", appointment),
        {
            "sed-sedation_level": "general",
            "sed-food_fast_hours": -1,
            "sed-clear_fluid_fast_hours": 2,
        },
    )

    assert response.status_code == 400
    page = text(response)
    assert "No food for 2 to 12 hours: -1 is out of range." in page
    assert "Clear fluids can stop no earlier than food" not in page
    assert "at most -1 hours" not in page
    assert not PrepPlan.objects.exists()


def test_a_level_the_room_cannot_host_is_refused_on_the_page(physician_client, appointment):
    appointment.room = RoomFactory(name="Side room", is_monitored=False)
    appointment.sedation_level = SedationLevel.LOCAL
    appointment.save()
    response = physician_client.post(
        url("prep_sedation", appointment),
        {
            "sed-sedation_level": "general",
            "sed-food_fast_hours": 6,
            "sed-clear_fluid_fast_hours": 2,
        },
    )
    assert response.status_code == 400
    assert "Side room has no monitoring, so it cannot host General anaesthesia." in text(response)


def test_an_escort_phone_that_is_not_a_phone_is_refused_on_the_page(frontdesk_client, appointment):
    response = frontdesk_client.post(
        url("prep_transport", appointment),
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Ana",
            "tr-escort_phone": "ring ana",
            "tr-escort_confirmed": "on",
        },
    )
    assert response.status_code == 400
    assert "ring ana is not a phone number." in text(response)
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at is None


def test_the_front_desk_confirms_the_escort_and_closes_access_tasks(frontdesk_client, appointment):
    frontdesk_client.post(
        url("prep_transport", appointment),
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Ana",
            "tr-escort_phone": "020 7946 0001",
            "tr-needs_interpreter": "on",
            "tr-interpreter_language": "Portuguese",
        },
    )
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at is None  # recorded, not yet confirmed
    response = frontdesk_client.post(
        url("prep_transport", appointment),
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Ana",
            "tr-escort_phone": "020 7946 0001",
            "tr-escort_confirmed": "on",
            "tr-needs_interpreter": "on",
            "tr-interpreter_language": "Portuguese",
        },
    )
    assert response.status_code == 302
    task = FrontDeskTask.objects.get()
    assert (task.kind, task.due_date) == ("interpreter", dt.date(2027, 3, 7))
    frontdesk_client.post(reverse("procedures:prep_task_done", args=[task.pk]))
    task.refresh_from_db()
    assert task.done_at == NOW
    page = text(frontdesk_client.get(url("prep_detail", appointment)))
    assert "Escort confirmed" in page
    assert "done" in page


def test_the_site_rule_message_is_shown_on_the_page(physician_client, appointment):
    response = physician_client.post(
        url("prep_site", appointment), {"site-site": "tibia", "site-side": "left"}
    )
    assert response.status_code == 400
    assert "A biopsy is only taken from the pelvis" in text(response)
    assert not PrepPlan.objects.exists()


def test_a_nurse_ticks_the_checklist_on_the_day(
    nurse_client, nurse_user, physician_client, appointment, time_machine
):
    physician_client.post(
        url("prep_site", appointment), {"site-site": "posterior_iliac", "site-side": "left"}
    )
    appointment.escort_name = "Ana"
    appointment.save()
    items = ["fasting", "escort_present", "consent", "site_side"]
    response = nurse_client.post(url("prep_checklist_tick", appointment), {"item": "consent"})
    assert response.status_code == 302
    assert not ChecklistTick.objects.exists()  # not the day yet: refused with a message
    time_machine.move_to(clinic_datetime(DAY, dt.time(8, 0)), tick=False)
    nurse_client.force_login(nurse_user)  # the idle session has expired by then
    for item in items:
        nurse_client.post(url("prep_checklist_tick", appointment), {"item": item})
    page = text(nurse_client.get(url("prep_detail", appointment)))
    assert ChecklistTick.objects.count() == 4
    assert "READY</strong> Every check is done." in page


def test_the_print_sheet_speaks_to_the_patient(frontdesk_client, appointment):
    page = text(frontdesk_client.get(url("prep_print", appointment)))
    assert "Getting ready for your appointment, Maria" in page
    assert "someone must take you home, and you must not drive for 24 hours" in page
    assert "Wednesday 10 March 2027, 09:00" in page
    assert "css/prep.css" in page


def test_the_print_sheet_heads_a_notice_please_note(frontdesk_client, appointment, warfarin):
    """Warfarin, and no plan confirmed yet: "keep taking your medicines" is a notice with
    no time of its own. The sheet heads it "Please note", not with the minute the visit
    was booked."""
    page = text(frontdesk_client.get(url("prep_print", appointment)))
    assert '<td class="text-nowrap">Please note</td><td>Keep taking your medicines as usual' in page


def test_the_print_sheet_is_the_visits_site_on_its_clock_in_the_patients_language(
    frontdesk_client, appointment
):
    """It named the clinic of the settings (the first site) and its phone, whatever the
    visit's site, and was in English for a patient who reads Spanish."""
    harbour = SiteFactory(
        name="Harbour Clinic",
        address="1 Quay Street, Boston",
        phone="+1 617 555 0100",
        time_zone="America/New_York",
    )
    appointment.room = RoomFactory(site=harbour, is_monitored=True)
    appointment.save()
    appointment.patient.preferred_language = "es"
    appointment.patient.save()

    page = text(frontdesk_client.get(url("prep_print", appointment)))

    assert "Cómo prepararse para su cita, Maria" in page
    assert "miércoles, 10 de marzo de 2027, 04:00 · Harbour Clinic, 1 Quay Street, Boston" in page
    assert "Llámenos al +1 617 555 0100" in page
    assert "Riverside" not in page.split("prep-sheet")[1]  # the first site, not this one
    assert "Recibirá sedación" in page
    # The steps in Spanish, dated on the site's clock; the staff's own bar in English.
    assert "lun 8 de marzo" in page or "lun. 8 de marzo" in page
    assert "Back to the prep plan" in page


def test_the_page_makes_the_same_number_of_queries_for_any_number_of_medicines(
    physician_client, physician_user, appointment
):
    def add(n):
        for i in range(n):
            medication = medication_add(
                patient=appointment.patient, name=f"Med {i}", med_class="nsaid"
            )
            MedicationHold.objects.create(
                appointment=appointment,
                medication=medication,
                action="continue",
                decided_by=physician_user,
                decided_at=NOW,
            )

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert physician_client.get(url("prep_detail", appointment)).status_code == 200
        return len(queries)

    add(1)
    physician_client.get(url("prep_detail", appointment))  # the session's first load
    one = count()
    add(10)
    assert count() == one


def test_a_medicine_added_after_the_plan_was_confirmed_reopens_it(
    physician_client, appointment, warfarin
):
    """A confirmed plan is the physician's word that every medicine was decided: a
    medicine added later (clopidogrel, heard of at a pre-op call) sends it back
    to the physician, and no stop email goes out until they confirm again (invariant 32)."""
    from procedures.messaging.models import Reminder

    physician_client.post(
        url("prep_hold_set", appointment),
        {
            "hold-medication": warfarin.pk,
            "hold-action": "stop",
            "hold-stop_date": "2027-03-06",
            "hold-stop_time": "20:00",
        },
    )
    physician_client.post(url("prep_hold_confirm", appointment))
    stops = Reminder.objects.filter(appointment=appointment, kind="medication_hold")
    assert stops.filter(status="pending").count() == 1

    response = physician_client.post(
        url("prep_medication_add", appointment),
        {"med-name": "Clopidogrel", "med-dose": "75 mg", "med-med_class": "antiplatelet"},
    )

    assert response.status_code == 302
    assert "Hold plan not confirmed" in text(physician_client.get(url("prep_detail", appointment)))
    timeline = text(physician_client.get(appointment.get_absolute_url())).split("Timeline")[-1]
    assert "Clopidogrel 75 mg was added to the patient&#x27;s medicines." in timeline
    assert "No decision yet for Clopidogrel 75 mg" in timeline
    assert not stops.filter(status="pending").exists()  # the stop email waits
    assert not PrepPlan.objects.get(appointment=appointment).hold_plan_confirmed_at
