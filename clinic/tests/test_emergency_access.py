"""Emergency access: a physician opens a record outside their own patients only with
a stated reason, which is kept and reported to the clinic admins."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic import roles
from clinic.models import EmergencyAccess, ReadAccess
from clinic.tasks import emergency_access_notify
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db
REASON = "Covering for Dr Adeyemi on call tonight."


@pytest.fixture
def stranger():
    """A patient of another physician."""
    patient = PatientFactory(given_name="Oluwaseun", family_name="Marchetti")
    AppointmentFactory(patient=patient)
    return patient


@pytest.fixture
def notify_now(monkeypatch):
    """Run the notification task in-process, as a worker would."""
    monkeypatch.setattr(
        emergency_access_notify, "delay", lambda pk: emergency_access_notify.apply(args=[pk])
    )


def test_it_opens_a_physicians_own_patient_at_once(doctor):
    own = AppointmentFactory(provider=doctor.user.provider).patient

    response = doctor.get(f"/patients/{own.pk}/")

    assert response.status_code == 200
    assert not EmergencyAccess.objects.exists()
    assert ReadAccess.objects.filter(object_id=str(own.pk)).count() == 1


def test_it_asks_for_a_reason_before_opening_another_physicians_patient(doctor, stranger):
    response = doctor.get(f"/patients/{stranger.pk}/", follow=True)

    assert response.redirect_chain[0][0].startswith(f"/emergency-access/{stranger.pk}/?next=")
    page = response.content.decode()
    assert "Why do you need this record?" in page
    assert "Marchetti" not in page
    assert not ReadAccess.objects.filter(object_type="patients.patient").exists()


@pytest.mark.parametrize("reason", ["", "   ", "because", "x\x00" * 10])
def test_it_refuses_an_empty_short_or_garbled_reason(doctor, stranger, reason):
    response = doctor.post(f"/emergency-access/{stranger.pk}/", {"reason": reason})

    assert response.status_code == 200
    assert "error-summary" in response.content.decode()
    assert not EmergencyAccess.objects.exists()


def test_it_records_the_reason_opens_the_record_and_tells_the_admin(
    doctor, stranger, smtp_mail, notify_now, django_capture_on_commit_callbacks
):
    make_user("ca", roles.CLINIC_ADMIN, is_staff=True, email="admin@clinic.example")
    make_user("ca2", roles.CLINIC_ADMIN, is_staff=True, email="")  # no address: skipped
    next_url = f"/patients/{stranger.pk}/"

    with django_capture_on_commit_callbacks(execute=True):
        response = doctor.post(
            f"/emergency-access/{stranger.pk}/", {"reason": REASON, "next": next_url}
        )

    assert response.status_code == 302
    assert response["Location"] == next_url
    access = EmergencyAccess.objects.get()
    assert (access.user, access.object_id, access.reason) == (
        doctor.user,
        str(stranger.pk),
        REASON,
    )
    assert access.notified_at is not None
    assert doctor.get(next_url).status_code == 200
    assert ReadAccess.objects.filter(object_id=str(stranger.pk)).count() == 1
    [message] = smtp_mail.wait_for(1)
    assert message["To"] == "admin@clinic.example"
    assert message["Subject"] == "Emergency access to a patient record"
    body = message.get_body(("plain",)).get_content()
    assert f"patients.patient #{stranger.pk}" in body
    assert "drlee" in body
    assert f"/audit/?kind=emergency&object_id={stranger.pk}" in body
    for phi in ("Oluwaseun", "Marchetti", stranger.date_of_birth.isoformat(), stranger.mrn):
        assert phi not in message.as_string()


def test_it_asks_again_once_the_emergency_access_has_expired(doctor, stranger, settings):
    settings.CLINIC_SESSION_IDLE_SECONDS = settings.CLINIC_SESSION_ABSOLUTE_SECONDS = 24 * 3600
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        doctor.post(f"/emergency-access/{stranger.pk}/", {"reason": REASON})
        clock.shift(timedelta(hours=settings.CLINIC_EMERGENCY_ACCESS_HOURS - 1))
        assert doctor.get(f"/patients/{stranger.pk}/").status_code == 200

        clock.shift(timedelta(hours=1, minutes=1))
        response = doctor.get(f"/patients/{stranger.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith(f"/emergency-access/{stranger.pk}/")


def test_it_does_not_stop_the_front_desk_or_nurses(client, stranger, frontdesk_user, nurse_user):
    for user in (frontdesk_user, nurse_user):
        client.force_login(user)
        assert client.get(f"/patients/{stranger.pk}/").status_code == 200
    assert not EmergencyAccess.objects.exists()


def test_it_refuses_an_outside_address_as_the_place_to_go_next(doctor, stranger):
    response = doctor.post(
        f"/emergency-access/{stranger.pk}/",
        {"reason": REASON, "next": "https://evil.example/phish"},
    )

    assert response["Location"] == f"/patients/{stranger.pk}/"
