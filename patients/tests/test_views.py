import datetime as dt
import html
import re
import uuid

import pytest
from django.contrib.messages import get_messages

from clinic import roles
from clinic.models import ReadAccess
from conftest import make_user
from patients.models import Patient
from patients.tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.clock(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)),
]

TODAY = dt.date(2025, 3, 3)


def registration(**overrides):
    data = {
        # The one-time key the form carries (a fresh one per registration form).
        "submission_key": str(uuid.uuid4()),
        "given_name": "Maria",
        "family_name": "Garcia",
        "date_of_birth": "1961-04-12",
        "sex": "female",
        "email": "maria.garcia@example.com",
        "phone": "07700 900123",
        "preferred_language": "en",
        "email_reminders": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- Registration ------------------------------------------------------------------


def test_it_registers_a_patient_with_an_mrn_and_shows_their_page(frontdesk_client):
    response = frontdesk_client.post("/patients/new/", registration())

    patient = Patient.objects.get()
    assert re.fullmatch(r"C\d{8}", patient.mrn)
    assert patient.full_name == "Maria Garcia"
    assert patient.date_of_birth == dt.date(1961, 4, 12)
    assert patient.can_receive_email
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient.pk}/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Patient registered with MRN {patient.mrn}."
    ]


def test_it_gives_each_patient_a_different_mrn(frontdesk_client):
    frontdesk_client.post("/patients/new/", registration())
    frontdesk_client.post(
        "/patients/new/",
        registration(
            given_name="Lucy", family_name="Brown", email="lucy@example.com", phone="07700 900999"
        ),
    )

    assert len(set(Patient.objects.values_list("mrn", flat=True))) == 2


def test_it_allocates_another_mrn_when_the_first_one_drawn_is_taken(frontdesk_client, monkeypatch):
    taken = PatientFactory(mrn="C12345678")
    draws = iter(["C12345678", "C87654321"])
    monkeypatch.setattr("patients.services.new_mrn", lambda: next(draws))

    frontdesk_client.post("/patients/new/", registration())

    assert Patient.objects.exclude(pk=taken.pk).get().mrn == "C87654321"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"date_of_birth": "2025-03-04"},
            "date_of_birth",
            "The date of birth cannot be in the future.",
        ),
        ({"email": "maria.garcia@"}, "email", "Enter a valid email address."),
        (
            {"email": ""},
            "email",
            "Enter an email address, or untick 'send email reminders' for this patient.",
        ),
        ({"given_name": ""}, "given_name", "This field is required."),
        ({"family_name": "   "}, "family_name", "This field is required."),
        ({"date_of_birth": "12/13/1961"}, "date_of_birth", "Enter a valid date."),
        ({"date_of_birth": "1861-04-12"}, "date_of_birth", "Enter a date of birth after 1900."),
    ],
    ids=[
        "future-dob",
        "bad-email",
        "no-email",
        "no-first-name",
        "no-last-name",
        "us-date",
        "before-1900",
    ],
)
def test_it_refuses_bad_registrations_field_by_field_and_saves_nothing(
    frontdesk_client, overrides, field, message
):
    response = frontdesk_client.post("/patients/new/", registration(**overrides))

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert "Nothing has been saved" in response.content.decode()
    assert Patient.objects.count() == 0


def test_it_accepts_a_patient_born_today(frontdesk_client):
    frontdesk_client.post("/patients/new/", registration(date_of_birth=TODAY.isoformat()))

    assert Patient.objects.get().date_of_birth == TODAY


def test_it_reads_a_typed_date_of_birth_day_first(frontdesk_client):
    frontdesk_client.post("/patients/new/", registration(date_of_birth="03/04/1961"))

    assert Patient.objects.get().date_of_birth == dt.date(1961, 4, 3)


def test_it_registers_a_patient_without_email_when_reminders_are_unticked(frontdesk_client):
    frontdesk_client.post("/patients/new/", registration(email="", email_reminders=None))

    patient = Patient.objects.get()
    assert patient.email == ""
    assert not patient.can_receive_email


def test_it_lets_only_the_front_desk_register_patients(nurse_client):
    assert nurse_client.post("/patients/new/", registration()).status_code == 403
    assert Patient.objects.count() == 0


# --- Search ------------------------------------------------------------------------


@pytest.fixture
def garcia():
    return PatientFactory(
        given_name="Maria", family_name="Garcia", date_of_birth=dt.date(1961, 4, 12)
    )


@pytest.fixture
def okafor():
    return PatientFactory(
        given_name="John", family_name="Okafor", date_of_birth=dt.date(1955, 9, 3)
    )


def found(response):
    """The patients a search page lists, in its order (its rows name them by pk)."""
    results = response.context["results"]
    return None if results is None else [Patient.objects.get(pk=row.pk) for row in results]


def search(client, term):
    response = client.post("/patients/", {"q": term})
    assert response.status_code == 200
    return found(response)


def test_it_finds_patients_by_part_of_a_name(frontdesk_client, garcia, okafor):
    assert search(frontdesk_client, "garc") == [garcia]
    assert search(frontdesk_client, "maria gar") == [garcia]
    assert search(frontdesk_client, "KAFO") == [okafor]


def test_it_finds_a_patient_by_mrn(nurse_client, garcia, okafor):
    assert search(nurse_client, okafor.mrn) == [okafor]
    assert search(nurse_client, okafor.mrn.lower()) == [okafor]


@pytest.mark.parametrize("written", ["1961-04-12", "12/04/1961", "12.04.1961"])
def test_it_finds_a_patient_by_date_of_birth(physician_client, garcia, okafor, written):
    assert search(physician_client, written) == [garcia]


def test_it_says_so_when_no_patient_matches(frontdesk_client, garcia):
    response = frontdesk_client.post("/patients/", {"q": "nobody"})

    assert found(response) == []
    assert "No patient matches" in response.content.decode()


def test_a_crowded_search_shows_20_and_asks_for_more_of_the_name(frontdesk_client):
    crowd = [PatientFactory(family_name=f"Thompson{i:02d}", given_name="Ann") for i in range(21)]

    response = frontdesk_client.post("/patients/", {"q": "thomp"})

    assert found(response) == sorted(crowd, key=lambda p: p.family_name)[:20]
    assert "These are the first 20 matches. Type more of the name" in response.content.decode()
    narrower = frontdesk_client.post("/patients/", {"q": "thompson20"})
    assert found(narrower) == [crowd[20]]
    assert "These are the first" not in narrower.content.decode()


def test_search_results_stand_alone_with_a_way_back_to_everyone(frontdesk_client, garcia, okafor):
    page = frontdesk_client.post("/patients/", {"q": "garc"}).content.decode()

    assert "Garcia, Maria" in page
    assert "Okafor" not in page  # the list of everyone is not under the results
    assert "All patients" not in page
    assert '<a href="/patients/">Show all patients</a>' in page
    everyone = frontdesk_client.get("/patients/").content.decode()
    assert "All patients" in everyone and "Okafor, John" in everyone


def test_it_keeps_the_search_term_out_of_the_url(frontdesk_client, garcia):
    page = frontdesk_client.get("/patients/").content.decode()
    assert re.search(r'<form method="post" action="/patients/"[^>]*role="search"', page)

    # A term in the query string is not a search: nothing is looked up.
    response = frontdesk_client.get("/patients/", {"q": "garcia"})
    assert response.context["results"] is None


def test_it_answers_an_htmx_search_with_just_the_results(frontdesk_client, garcia):
    response = frontdesk_client.post("/patients/", {"q": "garcia"}, headers={"HX-Request": "true"})

    body = response.content.decode()
    assert "Garcia, Maria" in body
    assert "<html" not in body


# --- Detail and edit ---------------------------------------------------------------


def test_it_shows_a_patient_and_records_who_read_the_record(nurse_client, nurse_user, garcia):
    response = nurse_client.get(f"/patients/{garcia.pk}/")

    assert response.status_code == 200
    assert garcia.mrn in response.content.decode()
    read = ReadAccess.objects.get()
    assert (read.user, read.object_type, read.object_id) == (
        nurse_user,
        "patients.patient",
        str(garcia.pk),
    )
    assert read.view_name == "patients:detail"


def test_it_records_who_opened_a_patient_for_editing(frontdesk_client, frontdesk_user, garcia):
    response = frontdesk_client.get(f"/patients/{garcia.pk}/edit/")

    assert response.status_code == 200
    assert garcia.email in response.content.decode()
    read = ReadAccess.objects.get()
    assert (read.user, read.object_type, read.object_id) == (
        frontdesk_user,
        "patients.patient",
        str(garcia.pk),
    )
    assert read.view_name == "patients:update"


def test_it_saves_edited_patient_details_and_keeps_the_mrn(frontdesk_client, garcia):
    mrn = garcia.mrn
    response = frontdesk_client.post(
        f"/patients/{garcia.pk}/edit/",
        registration(email="maria@example.org", phone="020 7946 0001", bleeding_disorder="on"),
    )

    assert response.status_code == 302
    garcia.refresh_from_db()
    assert garcia.email == "maria@example.org"
    assert garcia.phone == "020 7946 0001"
    assert garcia.bleeding_disorder
    assert garcia.mrn == mrn


def test_it_refuses_an_edit_that_would_move_the_birth_date_into_the_future(
    frontdesk_client, garcia
):
    response = frontdesk_client.post(
        f"/patients/{garcia.pk}/edit/", registration(date_of_birth="2030-01-01")
    )

    assert response.context["form"].errors["date_of_birth"] == [
        "The date of birth cannot be in the future."
    ]
    garcia.refresh_from_db()
    assert garcia.date_of_birth == dt.date(1961, 4, 12)


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("phone", "abc"),
        ("phone", "-1"),
        ("phone", "\U0001f600"),
        ("next_of_kin_phone", "\U0001f600"),
    ],
)
def test_it_refuses_a_phone_number_that_is_not_one(frontdesk_client, field, typed):
    """QA 1, #8: as the escort's phone on the prep page is."""
    response = frontdesk_client.post("/patients/new/", registration(**{field: typed}))

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [
        f"{typed} is not a phone number. Enter it with its area code, e.g. 07700 900123."
    ]
    assert not Patient.objects.exists()


def test_it_keeps_a_real_phone_number_as_typed_and_takes_none(frontdesk_client):
    frontdesk_client.post(
        "/patients/new/", registration(phone="", next_of_kin_phone="+44 20 7946 0001 ")
    )

    assert Patient.objects.values_list("phone", "next_of_kin_phone").get() == (
        "",
        "+44 20 7946 0001",
    )


def edit_page_data(response) -> dict:
    """What the edit page's form would post as shown: its fields' values."""
    form = response.context["form"]
    data = {}
    for field in form:
        value = field.value()
        if isinstance(value, bool):
            if value:
                data[field.html_name] = "on"
        elif value is not None:
            data[field.html_name] = str(value)
    return data


def test_a_stale_edit_is_refused_and_keeps_a_colleagues_change(client, frontdesk_client, garcia):
    """QA 1, #6: two front-desk pages open; A changes the phone; B, from its page, the
    email only. B's save would put the old phone back: refused, naming who and what."""
    url = f"/patients/{garcia.pk}/edit/"
    colleague = make_user("sam", roles.FRONT_DESK, first_name="Sam", last_name="Patel")
    client.force_login(colleague)
    page_a, page_b = client.get(url), frontdesk_client.get(url)
    assert 'name="seen_details"' in page_b.content.decode()
    assert client.post(url, {**edit_page_data(page_a), "phone": "07700 900999"}).status_code == 302

    stale = frontdesk_client.post(url, {**edit_page_data(page_b), "email": "maria@example.org"})

    assert stale.status_code == 200
    page = html.unescape(" ".join(stale.content.decode().split()))
    assert "Sam Patel saved this patient's details at 3 March 2025, 09:00, since you opened" in page
    assert (
        "Nothing was saved. Saved now: Email: maria.garcia@example.com; Phone: 07700 900999."
        in (page)
    )
    assert Patient.objects.values_list("phone", "email").get(pk=garcia.pk) == (
        "07700 900999",
        "maria.garcia@example.com",
    )
    # What was typed stays; saved again after reading, it is saved.
    again = edit_page_data(stale)
    assert (again["email"], again["phone"]) == ("maria@example.org", garcia.phone)
    assert frontdesk_client.post(url, {**again, "phone": "07700 900999"}).status_code == 302
    garcia.refresh_from_db()
    assert (garcia.phone, garcia.email) == ("07700 900999", "maria@example.org")


def test_a_change_of_weight_since_does_not_make_the_details_page_stale(frontdesk_client, garcia):
    url = f"/patients/{garcia.pk}/edit/"
    page = frontdesk_client.get(url)
    Patient.objects.filter(pk=garcia.pk).update(weight_kg=70)

    saved = frontdesk_client.post(url, {**edit_page_data(page), "email": "maria@example.org"})

    assert saved.status_code == 302


def test_it_lets_only_the_front_desk_edit_patients(physician_client, garcia):
    response = physician_client.post(f"/patients/{garcia.pk}/edit/", registration(email="x@y.org"))

    assert response.status_code == 403
    garcia.refresh_from_db()
    assert garcia.email != "x@y.org"


# --- List --------------------------------------------------------------------------


@pytest.mark.parametrize("count", [3, 30])
def test_it_lists_patients_in_a_fixed_number_of_queries(
    frontdesk_client, django_assert_num_queries, count
):
    PatientFactory.create_batch(count)

    # The fifth and sixth: the page's patients, and the one INSERT of their read.
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(7):
        response = frontdesk_client.get("/patients/")

    assert len(response.context["page"].object_list) == min(count, 25)


def test_an_empty_clinic_lists_no_patients_and_says_so(frontdesk_client):
    response = frontdesk_client.get("/patients/")

    assert response.status_code == 200
    assert len(response.context["page"].object_list) == 0
    assert "No patients registered yet." in response.content.decode()
    assert not ReadAccess.objects.exists()


@pytest.mark.parametrize(("role", "finds_slots"), [("frontdesk", True), ("nurse", False)])
def test_the_patient_page_offers_find_a_slot_only_to_who_may_open_it(role, finds_slots, request):
    """QA pass 2, #4: the slot finder is the front desk's (clinic/policy.py); a nurse
    was shown the button and got 403. Booking is any staff's."""
    client = request.getfixturevalue(f"{role}_client")
    patient = PatientFactory()
    finder = f"/appointments/find/?patient={patient.pk}"

    page = client.get(f"/patients/{patient.pk}/").content.decode()

    assert f'href="/appointments/book/?patient={patient.pk}"' in page
    assert (f'href="{finder}"' in page) is finds_slots
    assert ("Find a slot" in page) is finds_slots
    assert client.get(finder).status_code == (200 if finds_slots else 403)
