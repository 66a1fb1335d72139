"""The date-of-birth lockout of patient links counts per visit and per patient,
across tokens (each email carries fresh ones), in the shared cache."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.messaging.links import link_token
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db
DOB = dt.date(1961, 4, 12)
INVALID = b"This link cannot be used"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def fresh_link(appointment, n: int) -> str:
    """A link as a new email would carry it: the same visit, another token."""
    expires = appointment.start_at + dt.timedelta(minutes=n)
    return (
        f"/p/details/{link_token(appointment=appointment, purpose='details', expires_at=expires)}/"
    )


def guess(client, url, dob="01/01/1970"):
    return client.post(url, {"date_of_birth": dob})


def test_fresh_tokens_do_not_give_fresh_guesses(client, settings):
    settings.PATIENT_LINK_MAX_DOB_TRIES = 5
    appointment = AppointmentFactory(patient=PatientFactory(date_of_birth=DOB))
    for n in range(4):
        assert b"does not match" in guess(client, fresh_link(appointment, n)).content

    assert INVALID in guess(client, fresh_link(appointment, 4)).content
    # Even the right date, on yet another new token, no longer opens the visit.
    assert INVALID in guess(client, fresh_link(appointment, 5), "12/04/1961").content


def test_guesses_on_one_visit_count_against_the_patients_other_visits(client, settings):
    settings.PATIENT_LINK_MAX_DOB_TRIES = 5
    settings.PATIENT_LINK_MAX_DOB_TRIES_PER_PATIENT = 6
    patient = PatientFactory(date_of_birth=DOB)
    soon = timezone.now().replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
    first, second, third = (
        AppointmentFactory(patient=patient, start_at=soon + dt.timedelta(days=n)) for n in range(3)
    )
    for _ in range(3):
        guess(client, fresh_link(first, 0))
        guess(client, fresh_link(second, 0))

    assert INVALID in guess(client, fresh_link(third, 0), "12/04/1961").content
    # Another patient's links are not affected.
    other = AppointmentFactory(patient=PatientFactory(date_of_birth=DOB))
    assert guess(client, fresh_link(other, 0), "12/04/1961").status_code == 302
