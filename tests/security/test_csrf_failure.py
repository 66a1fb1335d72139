"""A form refused for its CSRF token gets the clinic's own page (QA pass 2, #2): the
clinic's layout, what happened in plain words, a way back, and no inline style for the
Content-Security-Policy to refuse. Nothing is saved."""

import pytest
from django.test import Client

from clinic import roles
from conftest import make_user
from patients.models import Patient
from procedures.messaging.links import link_token
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def test_a_staff_form_posted_with_a_stale_token_says_so_and_leads_back_to_the_form():
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("fd1", roles.FRONT_DESK))
    before = Patient.objects.count()

    response = browser.post(
        "/patients/new/",
        {"given_name": "Ada", "family_name": "Lovelace", "csrfmiddlewaretoken": "stale"},
        HTTP_REFERER="http://testserver/patients/new/",
    )

    page = response.content.decode()
    assert response.status_code == 403
    assert "The form had expired" in page
    assert "Nothing was saved." in page
    assert '<a href="http://testserver/patients/new/">Open the page again</a>' in page
    assert 'class="navbar-brand" href="/"' in page  # the clinic's own layout
    assert "<style" not in page and "CSRF verification failed" not in page
    assert Patient.objects.count() == before


def test_the_login_form_without_its_cookie_leads_back_to_the_login_page():
    response = Client(enforce_csrf_checks=True).post(
        "/accounts/login/", {"username": "fd1", "password": PASSWORD}
    )

    page = response.content.decode()
    assert response.status_code == 403
    assert '<a href="/accounts/login/">Back to the log-in page</a>' in page
    assert "<style" not in page


def test_a_patient_link_page_says_so_in_a_patients_words_without_the_staff_login():
    token = link_token(appointment=AppointmentFactory(), purpose="details")

    response = Client(enforce_csrf_checks=True).post(
        f"/p/details/{token}/", {"date_of_birth": "1970-01-01"}
    )

    page = response.content.decode()
    assert response.status_code == 403
    assert "Nothing was sent." in page
    assert "Please open the link in your email again" in page
    assert 'href="/"' not in page and "/accounts/login/" not in page
    assert "<style" not in page
