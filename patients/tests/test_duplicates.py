"""One person, one record: likely duplicates stop a registration or an edit until
someone says why this is a different person; a form posted twice makes one record."""

import datetime as dt
import uuid

import pytest
from auditlog.models import LogEntry

from patients.models import DuplicateOverride, Patient
from patients.tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.clock(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)),
]


@pytest.fixture
def zoe():
    return PatientFactory(
        given_name="Zoë",
        family_name="O'Brien-Núñez",
        date_of_birth=dt.date(1965, 3, 14),
        email="zoe@example.com",
        phone="07700 900111",
    )


def registration(**overrides):
    data = {
        "submission_key": str(uuid.uuid4()),
        "given_name": "Zoe",
        "family_name": "Obrien Nunez",
        "date_of_birth": "1965-03-14",
        "sex": "female",
        "email": "someone.else@example.com",
        "phone": "07700 900222",
        "preferred_language": "en",
        "email_reminders": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # same date of birth, the name without accents or apostrophe
        {"given_name": "Zoey", "family_name": "O'Brian-Nunez"},  # typos
        {"given_name": "Nunez", "family_name": "Zoe O'Brien"},  # order
        {"given_name": "Ann", "family_name": "Other", "email": "ZOE@example.com"},
        {"given_name": "Ann", "family_name": "Other", "phone": "+44 7700 900111"},
    ],
)
def test_it_stops_a_registration_that_looks_like_a_registered_patient(
    frontdesk_client, zoe, overrides
):
    response = frontdesk_client.post("/patients/new/", registration(**overrides))

    assert response.status_code == 200
    page = response.content.decode()
    # Said once, in the summary at the top, not again by the form below it.
    assert page.count("This looks like a patient who is already registered") == 1
    assert f'href="/patients/{zoe.pk}/"' in page
    assert zoe.mrn in page
    assert "How do you know this is a different person?" in page
    assert Patient.objects.count() == 1


def test_it_lets_an_unrelated_person_through(frontdesk_client, zoe):
    frontdesk_client.post("/patients/new/", registration(given_name="Maria", family_name="Garcia"))
    assert Patient.objects.count() == 2


def test_it_needs_the_reason_as_well_as_the_box(frontdesk_client, zoe):
    response = frontdesk_client.post(
        "/patients/new/", registration(different_person="on", different_person_reason=" ")
    )

    assert "Say why this is a different person, in a few words" in response.content.decode()
    assert Patient.objects.count() == 1


def test_it_needs_a_reason_someone_can_check_later(frontdesk_client, zoe):
    response = frontdesk_client.post(
        "/patients/new/", registration(different_person="on", different_person_reason="x")
    )

    assert "(at least 10 letters)" in response.content.decode()
    assert Patient.objects.count() == 1


def test_it_registers_a_namesake_with_the_reason_recorded_and_audited(
    frontdesk_client, frontdesk_user, zoe
):
    response = frontdesk_client.post(
        "/patients/new/",
        registration(different_person="on", different_person_reason="Twin sister, own GP"),
    )

    namesake = Patient.objects.exclude(pk=zoe.pk).get()
    assert response["Location"] == f"/patients/{namesake.pk}/"
    override = DuplicateOverride.objects.get()
    assert override.patient == namesake
    assert override.others == [{"id": zoe.pk, "mrn": zoe.mrn}]
    assert override.reason == "Twin sister, own GP"
    assert override.decided_by == frontdesk_user
    assert LogEntry.objects.get_for_object(override).filter(action=LogEntry.Action.CREATE).exists()
    # The decision is shown on the record, and not asked again on the next edit.
    assert (
        "Twin sister, own GP" in frontdesk_client.get(f"/patients/{namesake.pk}/").content.decode()
    )
    edit = registration(given_name="Zoe", family_name="Obrien Nunez")
    del edit["submission_key"]
    response = frontdesk_client.post(f"/patients/{namesake.pk}/edit/", edit)
    assert response.status_code == 302


def test_it_stops_an_edit_that_makes_a_record_look_like_another(frontdesk_client, zoe):
    other = PatientFactory(given_name="Ann", family_name="Other", email="ann@example.com")
    data = registration(given_name="Ann", family_name="Other", email="zoe@example.com")
    del data["submission_key"]

    response = frontdesk_client.post(f"/patients/{other.pk}/edit/", data)

    assert response.status_code == 200
    assert zoe.mrn in response.content.decode()
    other.refresh_from_db()
    assert other.email == "ann@example.com"


def test_the_same_form_posted_twice_makes_one_record(frontdesk_client):
    data = registration()

    first = frontdesk_client.post("/patients/new/", data)
    again = frontdesk_client.post("/patients/new/", data)  # Back, then Register again

    patient = Patient.objects.get()
    assert first["Location"] == again["Location"] == f"/patients/{patient.pk}/"
    page = frontdesk_client.get(again["Location"]).content.decode()
    assert "This form was already sent: the patient is registered with MRN" in page


def test_a_form_without_its_key_is_refused_and_offered_again(frontdesk_client):
    data = registration()
    del data["submission_key"]

    response = frontdesk_client.post("/patients/new/", data)

    assert "This form could not be used" in response.content.decode()
    assert Patient.objects.count() == 0
    assert response.context["form"]["submission_key"].value()


def test_each_new_form_carries_a_fresh_key(frontdesk_client):
    first = frontdesk_client.get("/patients/new/").context["form"]["submission_key"].value()
    second = frontdesk_client.get("/patients/new/").context["form"]["submission_key"].value()
    assert first and second and first != second
