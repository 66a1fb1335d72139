"""Bounded input: dates outside 1900-2100 get 400 with a message, never a 500;
an unsafe `next` is ignored; emergency access needs a patient that exists."""

import pytest

from clinic import roles
from clinic.models import EmergencyAccess
from conftest import make_user
from procedures.messaging.models import Reminder
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db(databases=["default", "replica"])  # the reports read the replica
FAR = ["9999-12-31", "0001-01-01", "1899-12-31", "2101-01-01"]
MESSAGE = "Choose a date between 1900 and 2100."


@pytest.fixture
def nurse(client):
    client.force_login(make_user("rn", roles.NURSE))
    return client


@pytest.fixture
def clinic_admin(client):
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


def body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("day", FAR)
@pytest.mark.parametrize(
    "query",
    [
        {"view": "day", "by": "clinic"},
        {"view": "week", "by": "provider"},
        {"view": "week", "by": "room"},
    ],
)
def test_the_calendar_refuses_a_far_date(nurse, day, query):
    for path in ("/calendar/", "/calendar/print/"):
        response = nurse.get(path, {**query, "date": day})

        assert response.status_code == 400, (path, day)
        assert MESSAGE in body(response)


def test_the_calendar_still_opens_at_the_edges_and_on_garbage(nurse):
    assert (
        nurse.get("/calendar/", {"view": "week", "by": "room", "date": "2100-12-31"}).status_code
        == 200
    )
    assert nurse.get("/calendar/", {"date": "1900-01-01"}).status_code == 200
    assert nurse.get("/calendar/", {"date": "not-a-date"}).status_code == 200


@pytest.mark.parametrize("day", FAR)
def test_the_turnaround_page_and_csv_refuse_a_far_date(nurse, day):
    for path in ("/results/turnaround/", "/results/turnaround.csv"):
        for query in ({"start": day, "end": "2026-01-01"}, {"start": "2026-01-01", "end": day}):
            response = nurse.get(path, query)

            assert response.status_code == 400, (path, query)
            assert MESSAGE in body(response)


@pytest.mark.parametrize("day", FAR)
def test_the_audit_list_and_csv_refuse_a_far_date(clinic_admin, day):
    for path in ("/audit/", "/audit/export.csv"):
        for field in ("date_from", "date_to"):
            response = clinic_admin.get(path, {"kind": "reads", field: day})

            assert response.status_code == 400, (path, field)
            assert MESSAGE in body(response)


@pytest.mark.parametrize("target", ["reminders", "javascript:alert(1)", "//evil.example/", ""])
def test_resend_ignores_a_next_that_is_not_a_local_path(client, target):
    client.force_login(make_user("fd", roles.FRONT_DESK))
    reminder = Reminder.objects.create(
        appointment=AppointmentFactory(), kind="day_before", due_at="2026-01-01T09:00Z"
    )

    response = client.post(f"/reminders/{reminder.pk}/resend/", {"next": target, "confirm": "1"})

    assert response.status_code == 302
    assert response["Location"] == "/reminders/"


def test_resend_follows_a_local_next(client):
    client.force_login(make_user("fd", roles.FRONT_DESK))
    reminder = Reminder.objects.create(
        appointment=AppointmentFactory(), kind="day_before", due_at="2026-01-01T09:00Z"
    )

    response = client.post(
        f"/reminders/{reminder.pk}/resend/", {"next": "/reminders/?status=flagged", "confirm": "1"}
    )

    assert response["Location"] == "/reminders/?status=flagged"


def test_emergency_access_for_a_patient_that_does_not_exist_is_404(client):
    client.force_login(make_user("md", roles.PHYSICIAN))

    assert client.get("/emergency-access/987654/").status_code == 404
    response = client.post(
        "/emergency-access/987654/", {"reason": "covering for a colleague today"}
    )

    assert response.status_code == 404
    assert not EmergencyAccess.objects.exists()
