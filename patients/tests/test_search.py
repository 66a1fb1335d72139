"""Finding a patient for a booking: part of a name, the MRN, the date of birth, and on
PostgreSQL a name with a typo (pg_trgm, served by the UPPER(name) trigram indexes)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return {
        "garcia": PatientFactory(
            given_name="Maria",
            family_name="Garcia",
            mrn="C99000042",
            date_of_birth=dt.date(1961, 4, 12),
        ),
        "okafor": PatientFactory(given_name="John", family_name="Okafor"),
        "khan": PatientFactory(given_name="Aisha", family_name="Khan"),
    }


@pytest.mark.parametrize(
    "term", ["garc", "GARCIA", "maria garcia", "C99000042", "c99000042", "12/04/1961", "1961-04-12"]
)
def test_it_finds_by_part_of_a_name_the_mrn_or_the_date_of_birth(people, term):
    assert Patient.objects.search_fuzzy(term) == [people["garcia"]]


def test_it_finds_nobody_for_an_empty_term(people):
    assert Patient.objects.search_fuzzy("   ") == []


@pytest.mark.services
@pytest.mark.parametrize("typo", ["Garsia", "Okafur", "maria garsia", "Khann"])
def test_it_forgives_a_typo_on_postgresql(postgres, people, typo):
    found = Patient.objects.search_fuzzy(typo)
    expected = {"Garsia": "garcia", "Okafur": "okafor", "maria garsia": "garcia", "Khann": "khan"}
    assert found[0] == people[expected[typo]]


@pytest.mark.services
def test_the_typo_search_asks_postgresql_for_word_similarity_on_the_search_name(postgres, people):
    with CaptureQueriesContext(connection) as queries:
        Patient.objects.search_fuzzy("Garsia")
    fuzzy = queries.captured_queries[-1]["sql"]
    assert '"patients_patient"."search_name" %>' in fuzzy
    assert "WORD_SIMILARITY(" in fuzzy


@pytest.mark.services
@pytest.mark.parametrize(
    ("where", "index"),
    [
        ("search_name %%> 'garsia'", "patient_search_name_trgm_idx"),
        ("search_name LIKE '%%garc%%'", "patient_search_name_trgm_idx"),
        ("mrn LIKE '%%9900%%'", "patient_mrn_trgm_idx"),
    ],
)
def test_the_trigram_indexes_serve_the_search(postgres, people, where, index):
    PatientFactory.create_batch(50)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT id FROM patients_patient WHERE {where}", [])  # noqa: S608
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert index in plan


def test_the_patient_list_search_forgives_nothing_on_sqlite_but_still_finds_parts(
    frontdesk_client, people
):
    response = frontdesk_client.post("/patients/", {"q": "okaf"})
    assert response.context["results"] == [people["okafor"]]
