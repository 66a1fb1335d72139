"""The client's address behind a TLS proxy (clinic/client_ip.py): used by the
patient-link rate limits, the login lockout and the audit; a forged
X-Forwarded-For from anyone but our proxy is ignored."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client

from clinic import roles
from clinic.client_ip import AuditlogMiddleware, resolve
from clinic.models import ReadAccess
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.messaging.links import link_token
from procedures.tests.factories import AppointmentFactory

PROXY = "10.0.0.5"
PASSWORD = "correct-horse-battery"


@pytest.fixture
def behind_proxy(settings):
    settings.CLINIC_TRUSTED_PROXIES = [PROXY, "10.1.0.0/16"]
    settings.CLINIC_PROXY_COUNT = 0


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def via_proxy(client_address: str) -> Client:
    """A browser at `client_address`, reaching the app through our TLS proxy."""
    return Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address)


# --- The rule itself ------------------------------------------------------------------


def test_it_takes_the_connections_address_without_a_proxy_setting(settings):
    settings.CLINIC_TRUSTED_PROXIES, settings.CLINIC_PROXY_COUNT = [], 0

    assert resolve("198.51.100.7", "203.0.113.9") == "198.51.100.7"


def test_it_takes_the_address_our_proxy_saw(behind_proxy):
    assert resolve(PROXY, "203.0.113.9") == "203.0.113.9"
    # A client's own header is kept by the proxy to the left of what it saw.
    assert resolve(PROXY, "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    # Two of our proxies in a row are both skipped.
    assert resolve(PROXY, "203.0.113.9, 10.1.2.3") == "203.0.113.9"


def test_it_ignores_a_forged_header_from_anyone_else(behind_proxy):
    assert resolve("198.51.100.7", "203.0.113.9") == "198.51.100.7"
    assert resolve(PROXY, "not-an-address") == PROXY


def test_it_counts_proxies_when_told_how_many(settings):
    settings.CLINIC_TRUSTED_PROXIES, settings.CLINIC_PROXY_COUNT = [], 1

    assert resolve("172.18.0.3", "1.2.3.4, 203.0.113.9") == "203.0.113.9"
    assert resolve("172.18.0.3", "") == "172.18.0.3"


# --- Patient links -------------------------------------------------------------------


@pytest.mark.django_db
def test_one_clients_garbage_links_do_not_block_other_patients_behind_the_proxy(
    behind_proxy, settings
):
    settings.PATIENT_LINK_MAX_PER_IP = 60
    appointment = AppointmentFactory(patient=PatientFactory(date_of_birth=dt.date(1961, 4, 12)))
    guesser = via_proxy("203.0.113.66")
    for number in range(61):
        guesser.get(f"/p/details/guess-{number}/")
    assert guesser.get("/p/details/guess-more/").status_code == 429

    token = link_token(appointment=appointment, purpose="details")
    page = via_proxy("198.51.100.20").get(f"/p/details/{token}/")

    assert page.status_code == 200
    assert b"date of birth" in page.content.lower()


@pytest.mark.django_db
def test_a_forged_header_does_not_escape_the_per_address_limit(behind_proxy, settings):
    settings.PATIENT_LINK_MAX_PER_IP = 3
    for number in range(3):
        Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}").get(
            f"/p/details/guess-{number}/"
        )

    page = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99").get(
        "/p/details/guess-last/"
    )

    assert page.status_code == 429


# --- Login lockout -------------------------------------------------------------------


def log_in(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_a_lockout_behind_the_proxy_locks_the_guesser_not_the_colleague(behind_proxy, settings):
    make_user("nurse1", roles.NURSE)
    guesser = via_proxy("203.0.113.66")
    for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT):
        log_in(guesser, "nurse1", "wrong-password")
    assert log_in(guesser, "nurse1").status_code == 429

    response = log_in(via_proxy("198.51.100.20"), "nurse1")

    assert response.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}


@pytest.mark.django_db
def test_a_lockout_of_a_direct_client_ignores_its_forged_header(behind_proxy, settings):
    make_user("nurse1", roles.NURSE)
    for number in range(settings.CLINIC_LOGIN_FAILURE_LIMIT):
        forger = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{number}")
        log_in(forger, "nurse1", "wrong-password")

    forger = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.200")

    assert log_in(forger, "nurse1").status_code == 429


@pytest.mark.django_db
def test_many_usernames_from_one_address_lock_that_address(settings):
    """Password spraying: a different username each time still counts against the
    address, at a far higher count than one person's wrong passwords, since a whole
    clinic may share the address."""
    make_user("nurse1", roles.NURSE)
    sprayer = Client(REMOTE_ADDR="203.0.113.66")
    for number in range(settings.CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT - 1):
        log_in(sprayer, f"someone{number}", "Winter2026!")
    # One short of the address's limit, a colleague there still logs in.
    assert log_in(Client(REMOTE_ADDR="203.0.113.66"), "nurse1").status_code == 302

    log_in(sprayer, "someone-last", "Winter2026!")
    response = log_in(sprayer, "nurse1")

    assert response.status_code == 429
    assert "too many failed log-ins from this network" in response.content.decode()
    assert "_auth_user_id" not in sprayer.session
    # Another address is not affected.
    assert log_in(Client(REMOTE_ADDR="198.51.100.20"), "nurse1").status_code == 302


@pytest.mark.django_db
def test_a_clinic_admin_unlocks_an_address_in_the_admin(settings):
    make_user("nurse1", roles.NURSE)
    sprayer = Client(REMOTE_ADDR="203.0.113.66")
    for number in range(settings.CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT):
        log_in(sprayer, f"someone{number}", "Winter2026!")
    assert log_in(sprayer, "nurse1").status_code == 429
    admin = Client()
    admin.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]

    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )

    assert response.status_code == 302
    assert log_in(sprayer, "nurse1").status_code == 302


# --- Audit ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_audit_records_the_clients_address_not_the_proxys(behind_proxy):
    patient = PatientFactory()
    browser = via_proxy("203.0.113.9")
    browser.force_login(make_user("fd", roles.FRONT_DESK))

    assert browser.get(f"/patients/{patient.pk}/").status_code == 200

    assert ReadAccess.objects.get(object_id=str(patient.pk)).ip_address == "203.0.113.9"


def test_the_audit_of_writes_takes_the_same_address(behind_proxy, rf):
    proxied = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.9")
    forged = rf.get("/", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert AuditlogMiddleware._get_remote_addr(proxied) == "203.0.113.9"
    assert AuditlogMiddleware._get_remote_addr(forged) == "198.51.100.7"


@pytest.mark.django_db
def test_the_audit_ignores_a_forged_header_from_a_direct_client(behind_proxy):
    patient = PatientFactory()
    browser = Client(REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
    browser.force_login(make_user("fd", roles.FRONT_DESK))

    browser.get(f"/patients/{patient.pk}/")

    assert ReadAccess.objects.get(object_id=str(patient.pk)).ip_address == "198.51.100.7"
