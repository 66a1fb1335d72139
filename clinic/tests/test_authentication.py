"""Logging in: lockout after repeated failures, two-factor codes, session limits,
logging out everywhere."""

import os
import re
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from clinic import roles
from conftest import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"
START = timezone.make_aware(timezone.datetime(2026, 5, 4, 9, 0))


def log_in(client, username, password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"


# --- Lockout ---------------------------------------------------------------------


def test_it_locks_an_account_after_five_failures_even_for_the_right_password(client, settings):
    make_user("nurse1", roles.NURSE)
    codes = [
        log_in(client, "nurse1", "wrong").status_code
        for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT)
    ]
    assert codes == [200] * (settings.CLINIC_LOGIN_FAILURE_LIMIT - 1) + [429]

    response = log_in(client, "nurse1")

    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_persons_wrong_passwords_lock_that_name_not_the_colleagues_at_that_address(
    client, settings
):
    """QA pass 2, #1: behind one address (a clinic's network, or a proxy not
    configured) a guesser's five wrong passwords locked every colleague, the clinic
    admin too. Now they lock the name being guessed, there, and nobody else."""
    make_user("fd1", roles.FRONT_DESK)
    make_user("nurse1", roles.NURSE)
    make_user("ca", roles.CLINIC_ADMIN, is_staff=True)
    for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT):
        log_in(client, "fd1", "wrong-password")

    locked = log_in(client, "fd1")
    page = locked.content.decode()
    assert locked.status_code == 429
    assert "This username has had too many wrong passwords from this network" in page
    assert "Colleagues can still log in." in page
    assert "Try again in 30 minutes." in page
    assert 'href="/accounts/login/"' in page

    colleague, admin = Client(), Client()
    assert log_in(colleague, "nurse1").status_code == 302
    assert log_in(admin, "ca").status_code == 302
    # A colleague's good log-in does not unlock the name being guessed.
    assert log_in(Client(), "fd1").status_code == 429


def test_a_good_log_in_forgets_the_persons_own_wrong_passwords_only(client, settings):
    make_user("nurse1", roles.NURSE)
    make_user("fd1", roles.FRONT_DESK)
    for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT - 1):
        log_in(client, "nurse1", "wrong-password")
        log_in(client, "fd1", "wrong-password")
    assert log_in(client, "nurse1").status_code == 302
    client.post("/accounts/logout/")

    # The nurse starts afresh; fd1's wrong passwords still count.
    assert log_in(client, "nurse1", "wrong-password").status_code == 200
    assert log_in(client, "fd1", "wrong-password").status_code == 429
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"nurse1", "fd1"}


def test_it_lets_the_person_in_again_after_the_cool_off(client, settings):
    make_user("nurse1", roles.NURSE)
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT):
            log_in(client, "nurse1", "wrong-password")
        assert log_in(client, "nurse1").status_code == 429

        clock.shift(timedelta(hours=settings.AXES_COOLOFF_TIME, minutes=1))
        response = log_in(client, "nurse1")

        assert response.status_code == 302
        assert client.session["_auth_user_id"]


def test_it_lets_a_clinic_admin_unlock_an_account_in_the_admin(client, settings):
    make_user("nurse1", roles.NURSE)
    for _ in range(settings.CLINIC_LOGIN_FAILURE_LIMIT):
        log_in(client, "nurse1", "wrong-password")
    attempt = AccessAttempt.objects.get(username="nurse1")
    admin = Client()
    admin.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))

    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert log_in(client, "nurse1").status_code == 302


def test_it_refuses_a_weak_new_password(client):
    user = make_user("nurse1", roles.NURSE)
    client.force_login(user)

    response = client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": "password1", "new_password2": "password1"},
    )

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_password_change_pages_are_the_clinics_own_with_labelled_fields_and_a_summary(
    client,
):
    """QA pass 2, #3: they were the Django admin's pages ("Django administration",
    a Home link to the admin that most roles may not open)."""
    user = make_user("fd1", roles.FRONT_DESK)
    client.force_login(user)

    form = client.get("/accounts/password_change/").content.decode()
    assert "Django administration" not in form and 'href="/admin/"' not in form
    assert '<h1 class="h3 mb-3">Change your password</h1>' in form
    assert "<title>Change your password ·" in form
    for field in ("old_password", "new_password1", "new_password2"):
        assert re.search(rf'<label\s+for="id_{field}"', form), field
    assert 'href="/accounts/security/"' in form  # Cancel goes back to Account security

    refused = client.post(
        "/accounts/password_change/",
        {"old_password": "not-it", "new_password1": "x", "new_password2": "y"},
    ).content.decode()
    assert "Your password was not changed. Please correct the errors below." in refused
    assert '<a class="alert-link" href="#id_old_password">' in refused
    user.refresh_from_db()
    assert user.check_password(PASSWORD)

    done = client.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase",
            "new_password2": "a-much-longer-passphrase",
        },
        follow=True,
    )
    page = done.content.decode()
    assert done.redirect_chain[-1][0] == "/accounts/password_change/done/"
    assert "Your password has been changed." in page and "Django administration" not in page
    assert 'href="/accounts/security/"' in page


# --- Two-factor ------------------------------------------------------------------------


def test_it_makes_a_required_role_enrol_before_any_page_opens(client, settings, time_machine):
    # The fixture, not .start(): a traveller started by hand is never stopped, and
    # would leave the clock frozen for every test that runs after this one.
    time_machine.move_to(START, tick=False)
    settings.CLINIC_OTP_REQUIRED_ROLES = [roles.PHYSICIAN]
    make_user("doc", roles.PHYSICIAN)
    log_in(client, "doc")

    response = client.get("/results/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/two-factor/setup/")
    setup = client.get(response["Location"])
    assert setup.status_code == 200
    assert "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user__username="doc")
    assert device.confirmed is False

    wrong = client.post("/accounts/two-factor/setup/", {"token": "000000", "next": "/results/"})
    assert "That code did not match" in wrong.content.decode()
    again = client.post("/accounts/two-factor/setup/", {"token": code_for(device)})
    assert "Too many wrong codes" in again.content.decode()  # throttled for a second
    time_machine.move_to(START + timedelta(seconds=2), tick=False)
    right = client.post(
        "/accounts/two-factor/setup/", {"token": code_for(device), "next": "/results/"}
    )

    assert right.status_code == 302
    assert right["Location"] == "/results/"
    assert client.get("/results/").status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True


def test_it_asks_an_enrolled_person_for_a_code_at_each_login(client, settings):
    settings.CLINIC_OTP_REQUIRED_ROLES = []
    user = make_user("nurse1", roles.NURSE)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    log_in(client, "nurse1")

    response = client.get("/results/")
    assert response["Location"].startswith("/accounts/two-factor/?next=")
    wrong = client.post("/accounts/two-factor/", {"token": "12ab56"})
    assert "The code is 6 digits." in wrong.content.decode()
    assert client.get("/results/").status_code == 302

    client.post("/accounts/two-factor/", {"token": code_for(device)})

    assert client.get("/results/").status_code == 200


def test_it_leaves_two_factor_optional_for_roles_not_required(client, settings):
    settings.CLINIC_OTP_REQUIRED_ROLES = [roles.PHYSICIAN, roles.CLINIC_ADMIN]
    make_user("desk", roles.FRONT_DESK)
    log_in(client, "desk")

    assert client.get("/appointments/").status_code == 200


# --- Session limits --------------------------------------------------------------------


def test_it_logs_out_after_fifteen_idle_minutes_with_the_reason(client, settings):
    make_user("desk", roles.FRONT_DESK)
    with time_machine.travel(START, tick=False) as clock:
        log_in(client, "desk")
        clock.shift(timedelta(minutes=14))
        assert client.get("/appointments/").status_code == 200  # activity: clock restarts
        clock.shift(timedelta(minutes=14))
        assert client.get("/appointments/").status_code == 200

        clock.shift(timedelta(minutes=15, seconds=1))
        response = client.get("/appointments/", follow=True)

    assert response.redirect_chain[0][0] == "/accounts/login/?next=%2Fappointments%2F"
    assert "logged out after 15 minutes without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_idle_minute_reads_in_the_singular(client, settings):
    """QA pass 2, #7: "after 1 minutes" with CLINIC_SESSION_IDLE_SECONDS=60."""
    settings.CLINIC_SESSION_IDLE_SECONDS = 60
    make_user("desk", roles.FRONT_DESK)
    with time_machine.travel(START, tick=False) as clock:
        log_in(client, "desk")
        clock.shift(timedelta(minutes=1, seconds=1))
        response = client.get("/appointments/", follow=True)

    assert "You were logged out after 1 minute without activity" in response.content.decode()


def test_it_ends_a_session_at_its_absolute_lifetime_however_busy(client, settings):
    settings.CLINIC_SESSION_ABSOLUTE_SECONDS = 2 * 60 * 60
    make_user("desk", roles.FRONT_DESK)
    with time_machine.travel(START, tick=False) as clock:
        log_in(client, "desk")
        for _ in range(11):
            clock.shift(timedelta(minutes=10))
            assert client.get("/appointments/").status_code == 200
        clock.shift(timedelta(minutes=10, seconds=1))
        response = client.get("/appointments/", follow=True)

    assert "Your session reached its limit of 2 hours" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_reports_time_left_without_counting_as_activity(client):
    make_user("desk", roles.FRONT_DESK)
    with time_machine.travel(START, tick=False) as clock:
        log_in(client, "desk")
        clock.shift(timedelta(minutes=10))
        status = client.get("/accounts/session/", HTTP_ACCEPT="application/json")
        assert status.json() == {"idle_seconds_left": 300}
        clock.shift(timedelta(minutes=4))
        kept = client.post("/accounts/session/keepalive/", HTTP_ACCEPT="application/json")
        assert kept.json() == {"idle_seconds_left": 900}
        clock.shift(timedelta(minutes=14))
        assert client.get("/appointments/").status_code == 200


def test_it_answers_a_script_with_401_once_the_session_has_ended(client):
    make_user("desk", roles.FRONT_DESK)
    with time_machine.travel(START, tick=False) as clock:
        log_in(client, "desk")
        clock.shift(timedelta(minutes=16))
        response = client.get("/accounts/session/", HTTP_ACCEPT="application/json")

    assert response.status_code == 401
    assert response.json()["logged_in"] is False


@pytest.fixture(params=["db", "cached_db"])
def session_engine(request, settings):
    """Sessions as each deployment keeps them: in the database (no shared cache), or
    Django's cached_db over Redis (settings.py picks it when CACHE_URL is shared)."""
    settings.SESSION_ENGINE = f"django.contrib.sessions.backends.{request.param}"
    if request.param == "cached_db":
        url = request.getfixturevalue("redis_url")
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                # The broker's Redis database: its own key prefix, and never cleared.
                "KEY_PREFIX": f"test-sessions-{os.getpid()}",
            }
        }
    return request.param


def test_it_logs_out_everywhere(client, session_engine):
    make_user("desk", roles.FRONT_DESK)
    make_user("other", roles.FRONT_DESK)
    laptop, phone, someone_else = Client(), Client(), Client()
    for c, who in ((laptop, "desk"), (phone, "desk"), (client, "desk"), (someone_else, "other")):
        assert log_in(c, who).status_code == 302

    response = client.post("/accounts/logout-everywhere/", follow=True)

    assert "You are logged out everywhere (2 other sessions ended)." in response.content.decode()
    for c in (laptop, phone, client):
        r = c.get("/appointments/")
        assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert someone_else.get("/appointments/").status_code == 200
    assert Session.objects.count() >= 1
