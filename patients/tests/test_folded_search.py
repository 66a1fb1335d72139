"""Search ignores case, accents, apostrophes, hyphens and word order; finds part of an
MRN, a date of birth as the clinic writes it, and a merged record's old MRN."""

import datetime as dt

import pytest

from patients.models import Patient
from patients.normalise import fold, search_name
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def test_it_folds_names_to_plain_words():
    assert fold("O'Brien-Núñez, Zoë") == "obrien nunez zoe"
    assert fold("Søren Łukasz") == "soren lukasz"
    assert search_name("Ana", "van der Berg") == "ana van der berg vanderberg"


@pytest.fixture
def zoe():
    PatientFactory(given_name="Zoltan", family_name="Brien", date_of_birth=dt.date(1970, 1, 1))
    return PatientFactory(
        given_name="Zoë",
        family_name="O'Brien-Núñez",
        mrn="C12345678",
        date_of_birth=dt.date(1965, 3, 14),
    )


@pytest.mark.parametrize(
    "term",
    [
        "nunez",
        "NÚÑEZ",
        "obrien",
        "zoe o brien",
        "O'Brien, Zoë",
        "nunez zoe",
        "o\u2019brien-nunez",
        "3456",
        "c1234",
        "14/03/1965",
        "1965-03-14",
        "14 Mar 1965",
    ],
)
def test_it_finds_zoe(zoe, term):
    assert Patient.objects.search_fuzzy(term) == [zoe]


def test_it_keeps_merged_records_out_but_finds_the_survivor_by_the_old_mrn(zoe):
    old = PatientFactory(given_name="Zoe", family_name="Nunez", mrn="C77700077", merged_into=zoe)

    assert Patient.objects.search_fuzzy("C777") == [zoe]
    assert old not in Patient.objects.search_fuzzy("nunez")


def test_it_keeps_search_name_in_step_when_a_name_changes(zoe):
    zoe.family_name = "Smith"
    zoe.save(update_fields=["family_name"])

    assert Patient.objects.get(pk=zoe.pk).search_name == "zoe smith"


def test_the_header_has_a_patient_look_up_on_every_staff_page(frontdesk_client, zoe):
    page = frontdesk_client.get("/appointments/").content.decode()
    assert 'id="header-patient-q"' in page

    response = frontdesk_client.post("/patients/", {"lookup": "nunez"})
    assert [row.pk for row in response.context["results"]] == [zoe.pk]
    assert response.context["form"]["q"].value() == "nunez"
