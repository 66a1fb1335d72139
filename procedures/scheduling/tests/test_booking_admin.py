"""The clinic admin edits what the booking rules read: hours, leave, buffers, rooms."""

import datetime as dt

import pytest

from clinic import roles
from conftest import make_user
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ProcedureType
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_admin_client(client):
    # A clinic admin by role and staff flag only: not a superuser.
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


def test_a_clinic_admin_sets_a_physicians_hours_and_leave(clinic_admin_client):
    lee = ProviderFactory(display_name="Dr Lee")
    page = clinic_admin_client.get(f"/admin/procedures/provider/{lee.pk}/change/")
    assert page.status_code == 200
    assert "Working hours" in page.content.decode()

    response = clinic_admin_client.post(
        f"/admin/procedures/provider/{lee.pk}/change/",
        {
            "display_name": "Dr Lee",
            "user": "",
            "is_active": "on",
            "working_hours-TOTAL_FORMS": "1",
            "working_hours-INITIAL_FORMS": "0",
            "working_hours-0-weekday": "0",
            "working_hours-0-starts": "09:00",
            "working_hours-0-ends": "12:30",
            "unavailabilities-TOTAL_FORMS": "1",
            "unavailabilities-INITIAL_FORMS": "0",
            "unavailabilities-0-starts_at_0": "2025-08-04",
            "unavailabilities-0-starts_at_1": "00:00",
            "unavailabilities-0-ends_at_0": "2025-08-16",
            "unavailabilities-0-ends_at_1": "00:00",
            "unavailabilities-0-reason": "leave",
            "unavailabilities-0-note": "Summer",
        },
    )

    assert response.status_code == 302, response.content.decode()[-3000:]
    hours = WorkingHours.objects.get(provider=lee)
    assert (hours.weekday, hours.starts, hours.ends) == (0, dt.time(9), dt.time(12, 30))
    assert Unavailability.objects.get(provider=lee).reason == "leave"


def test_a_clinic_admin_sets_a_rooms_hours_and_a_procedures_buffers(clinic_admin_client):
    room = RoomFactory(name="Procedure room 1")
    procedure = ProcedureTypeFactory()

    response = clinic_admin_client.post(
        "/admin/procedures/workinghours/add/",
        {"weekday": "2", "starts": "08:00", "ends": "13:00", "room": room.pk, "provider": ""},
    )
    assert response.status_code == 302
    assert WorkingHours.objects.get(room=room).ends == dt.time(13)

    page = clinic_admin_client.get(f"/admin/procedures/proceduretype/{procedure.pk}/change/")
    html = page.content.decode()
    for label in ("Room set-up before", "Room turnover after", "Recovery after IV sedation"):
        assert label in html
    ProcedureType.objects.filter(pk=procedure.pk).update(recovery_minutes_iv=30)


def test_hours_that_end_before_they_start_are_refused(clinic_admin_client):
    room = RoomFactory()

    response = clinic_admin_client.post(
        "/admin/procedures/workinghours/add/",
        {"weekday": "2", "starts": "13:00", "ends": "08:00", "room": room.pk, "provider": ""},
    )

    assert response.status_code == 200
    assert "The session must end after it starts." in response.content.decode()
    assert not WorkingHours.objects.exists()


def test_a_physician_cannot_change_hours_in_the_admin():
    from django.contrib.auth.models import Group

    codes = {p.codename for p in Group.objects.get(name=roles.PHYSICIAN).permissions.all()}
    assert not {c for c in codes if c.endswith(("_workinghours", "_unavailability"))}
