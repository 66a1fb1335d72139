"""One person, one record: likely duplicates stop a registration or an edit until
someone says why this is a different person; a form posted twice makes one record."""

import datetime as dt
import uuid

import pytest
from auditlog.models import LogEntry

from patients.models import DuplicateOverride, Patient
from patients.selectors import _near_dates, likely_duplicates
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


# --- QA 3, #5: a slip in the date of birth, and a second family name -----------------


@pytest.fixture
def eleanor_and_jose():
    return [
        PatientFactory(
            given_name="Eleanor",
            family_name="Whitfield",
            date_of_birth=dt.date(1958, 3, 14),
            email="eleanor@example.com",
            phone="07700 900123",
        ),
        PatientFactory(
            given_name="José",
            family_name="García",
            date_of_birth=dt.date(1970, 5, 6),
            email="jose@example.com",
            phone="07700 900456",
        ),
    ]


@pytest.mark.parametrize(
    ("given", "family", "born", "which", "reason"),
    [
        # The month typed one off (14 Apr for 14 Mar).
        ("Eleanor", "Whitfield", "1958-04-14", 0, "date of birth differs in the day, month"),
        # Another day, and a typo in the given name on top.
        ("Elanor", "Whitfield", "1958-03-15", 0, "date of birth differs in the day, month"),
        # Given and family name swapped, and another month.
        ("Whitfield", "Eleanor", "1958-04-14", 0, "date of birth differs in the day, month"),
        # A year digit (1968) and two year digits swapped (1985).
        ("Eleanor", "Whitfield", "1968-03-14", 0, "date of birth differs in the day, month"),
        ("Eleanor", "Whitfield", "1985-03-14", 0, "date of birth differs in the day, month"),
        # Day and month swapped (5 Jun for 6 May).
        ("Jose", "Garcia", "1970-06-05", 1, "similar name, day and month of birth swapped"),
        # A second family name, the same day.
        ("José", "García López", "1970-05-06", 1, "same date of birth, similar name"),
        ("José", "García-López", "1970-05-06", 1, "same date of birth, similar name"),
    ],
)
def test_it_stops_a_registration_one_slip_away_and_says_why(
    frontdesk_client, eleanor_and_jose, given, family, born, which, reason
):
    other = eleanor_and_jose[which]

    response = frontdesk_client.post(
        "/patients/new/",
        registration(given_name=given, family_name=family, date_of_birth=born),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "This looks like a patient who is already registered" in page
    assert f'href="/patients/{other.pk}/"' in page
    assert reason in page
    assert Patient.objects.count() == 2


def test_an_existing_second_family_name_is_found_from_the_first_alone(frontdesk_client):
    lopez = PatientFactory(
        given_name="José", family_name="García López", date_of_birth=dt.date(1970, 5, 6)
    )

    response = frontdesk_client.post(
        "/patients/new/",
        registration(given_name="Jose", family_name="Garcia", date_of_birth="1970-05-06"),
    )

    assert lopez.mrn in response.content.decode()
    assert Patient.objects.count() == 1


def test_a_crowd_of_namesakes_born_on_other_dates_is_not_a_match(
    frontdesk_client, django_assert_num_queries
):
    # Two parts of the date differ (and not as a swap), or the year is not a slip (two
    # digits changed).
    for born in [
        dt.date(1970, 7, 9),
        dt.date(1971, 6, 5),
        dt.date(1969, 5, 7),
        dt.date(1970, 12, 25),
        dt.date(1963, 5, 6),
        dt.date(1947, 5, 6),
        dt.date(1980, 1, 1),
    ] * 6:
        PatientFactory(given_name="José", family_name="García", date_of_birth=born)
    # One slip away, but another name.
    PatientFactory(given_name="Ana", family_name="Lopez", date_of_birth=dt.date(1970, 5, 7))
    PatientFactory(given_name="Joseph", family_name="Brown", date_of_birth=dt.date(1970, 5, 7))
    count = Patient.objects.count()

    with django_assert_num_queries(1):  # the candidates, in one query
        assert (
            likely_duplicates(
                given_name="José", family_name="García", date_of_birth=dt.date(1970, 5, 6)
            )
            == []
        )
    response = frontdesk_client.post(
        "/patients/new/",
        registration(given_name="José", family_name="García", date_of_birth="1970-05-06"),
    )

    assert response.status_code == 302
    assert Patient.objects.count() == count + 1


def test_near_dates_are_a_bounded_list():
    near = _near_dates(dt.date(1958, 3, 14))

    assert len(near) <= 62
    assert dt.date(1958, 3, 14) not in near
    assert {dt.date(1958, 4, 14), dt.date(1958, 3, 15), dt.date(1959, 3, 14)} <= near
    assert dt.date(1958, 4, 15) not in near  # two parts differ
    # 29 February: the years that have none are left out, not an error.
    leap_day = {d.year for d in _near_dates(dt.date(1960, 2, 29)) if (d.month, d.day) == (2, 29)}
    assert {1964, 1968} <= leap_day
    assert 1961 not in leap_day
