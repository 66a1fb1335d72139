"""The waitlist: a patient waits for a procedure (with a physician or any); when a
cancellation frees a slot, the front desk sees who could take it and books them."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.scheduling.models import Appointment
from procedures.scheduling.waitlist import waitlist_add
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))
DAY = dt.date(2025, 3, 12)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, day: dt.date = DAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour))


@pytest.fixture
def biopsy():
    return ProcedureTypeFactory(
        default_duration_minutes=60, default_sedation_level=SedationLevel.LOCAL
    )


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def cancelled(biopsy, lee, frontdesk_user):
    appointment = visits.appointment_book(
        patient=PatientFactory(family_name="Leaving"),
        procedure_type=biopsy,
        provider=lee,
        room=RoomFactory(name="Procedure room 1"),
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )
    visits.appointment_cancel(
        appointment_id=appointment.pk, reason_code="patient_request", by=frontdesk_user
    )
    return appointment


def test_a_freed_slot_shows_the_matching_waiting_patients(
    frontdesk_client, frontdesk_user, biopsy, lee, cancelled
):
    with_lee = waitlist_add(
        patient=PatientFactory(family_name="Okafor"),
        procedure_type=biopsy,
        provider=lee,
        by=frontdesk_user,
    )
    anyone = waitlist_add(
        patient=PatientFactory(family_name="Khan"), procedure_type=biopsy, by=frontdesk_user
    )
    waitlist_add(
        patient=PatientFactory(family_name="OtherDoctor"),
        procedure_type=biopsy,
        provider=ProviderFactory(),
        by=frontdesk_user,
    )
    waitlist_add(
        patient=PatientFactory(family_name="TooLate"),
        procedure_type=biopsy,
        earliest=DAY + dt.timedelta(days=1),
        by=frontdesk_user,
    )
    waitlist_add(
        patient=PatientFactory(family_name="OtherProcedure"),
        procedure_type=ProcedureTypeFactory(code="bmac", name="BMAC"),
        by=frontdesk_user,
    )

    page = frontdesk_client.get("/waitlist/")

    [(slot, matches)] = page.context["freed"]
    assert slot == cancelled
    assert matches == [with_lee, anyone]
    # The cancelled appointment's page says the same.
    detail = frontdesk_client.get(f"/appointments/{cancelled.pk}/")
    assert detail.context["waitlist_matches"] == [with_lee, anyone]
    assert "Waiting patients who could take this freed slot" in detail.content.decode()


def test_the_front_desk_books_a_waiting_patient_into_the_freed_slot(
    frontdesk_client, frontdesk_user, biopsy, lee, cancelled
):
    entry = waitlist_add(patient=PatientFactory(), procedure_type=biopsy, by=frontdesk_user)

    response = frontdesk_client.post(f"/waitlist/{entry.pk}/offer/", {"freed": cancelled.pk})

    entry.refresh_from_db()
    booked = entry.booked_appointment
    assert response["Location"] == f"/appointments/{booked.pk}/"
    assert entry.status == WaitlistEntry.Status.BOOKED
    assert (booked.patient, booked.provider, booked.room) == (
        entry.patient,
        lee,
        cancelled.room,
    )
    assert (booked.start_at, booked.end_at) == (at(9), at(10))
    # Taken: the slot no longer shows as freed.
    assert frontdesk_client.get("/waitlist/").context["freed"] == []


def test_a_freed_slot_taken_meanwhile_is_refused_in_words(
    frontdesk_client, frontdesk_user, biopsy, lee, cancelled
):
    entry = waitlist_add(patient=PatientFactory(), procedure_type=biopsy, by=frontdesk_user)
    visits.appointment_book(
        patient=PatientFactory(),
        procedure_type=biopsy,
        provider=lee,
        room=RoomFactory(),
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )

    response = frontdesk_client.post(
        f"/waitlist/{entry.pk}/offer/", {"freed": cancelled.pk}, follow=True
    )

    assert "Dr Lee is booked 09:00-10:00 with another patient." in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.WAITING


def test_it_adds_a_patient_once_per_procedure(frontdesk_client, frontdesk_user, biopsy, lee):
    patient = PatientFactory()
    form = {"patient": patient.pk, "procedure_type": biopsy.pk, "provider": lee.pk, "action": "add"}

    response = frontdesk_client.post("/waitlist/", form)
    assert response.status_code == 302
    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.provider, entry.created_by) == (patient, lee, frontdesk_user)

    again = frontdesk_client.post("/waitlist/", form)
    assert again.context["form"].errors["procedure_type"] == [
        "This patient is already waiting for this procedure."
    ]
    assert WaitlistEntry.objects.count() == 1
    with pytest.raises(ValidationError):
        waitlist_add(patient=patient, procedure_type=biopsy, by=frontdesk_user)


def test_it_refuses_a_window_that_ends_before_it_starts(frontdesk_client, biopsy):
    response = frontdesk_client.post(
        "/waitlist/",
        {
            "patient": PatientFactory().pk,
            "procedure_type": biopsy.pk,
            "earliest": "2025-03-20",
            "latest": "2025-03-10",
        },
    )

    assert response.context["form"].errors["latest"] == [
        "'Needed by' must not be before 'available from'."
    ]
    assert not WaitlistEntry.objects.exists()


def test_it_removes_a_patient_from_the_waitlist(frontdesk_client, frontdesk_user, biopsy):
    entry = waitlist_add(patient=PatientFactory(), procedure_type=biopsy, by=frontdesk_user)

    frontdesk_client.post(f"/waitlist/{entry.pk}/remove/")

    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.REMOVED
    assert list(frontdesk_client.get("/waitlist/").context["entries"]) == []


def test_a_nurse_sees_the_waitlist_but_cannot_change_it(nurse_client, frontdesk_user, biopsy):
    entry = waitlist_add(patient=PatientFactory(), procedure_type=biopsy, by=frontdesk_user)

    assert nurse_client.get("/waitlist/").status_code == 200
    assert nurse_client.post(f"/waitlist/{entry.pk}/remove/").status_code == 403
    nurse_client.post("/waitlist/", {"patient": entry.patient.pk, "procedure_type": biopsy.pk})
    assert WaitlistEntry.objects.count() == 1
    assert Appointment.objects.count() == 0
