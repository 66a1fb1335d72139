"""A move chosen on a stale page (QA 1, #7): two tabs open the reschedule page, the
first moves the visit, the second is refused in words naming where it is now and who
moved it; nothing moves again and the patient gets one "new time" email."""

import datetime as dt
import html

import pytest

from clinic import roles
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday
THU, FRI, MON = dt.date(2025, 3, 13), dt.date(2025, 3, 14), dt.date(2025, 3, 17)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def visit(frontdesk_user) -> Appointment:
    start = clinic_datetime(THU, dt.time(14))
    return visits.appointment_book(
        patient=PatientFactory(),
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        provider=ProviderFactory(display_name="Dr Lee"),
        room=RoomFactory(name="Procedure room 1"),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )


def move_to(visit: Appointment, day: dt.date, start: str, version: str) -> dict:
    return {
        "date": day.isoformat(),
        "start_time": start,
        "provider": visit.provider_id,
        "room": visit.room_id,
        "version": version,
    }


def page_version(response) -> str:
    return response.context["form"]["version"].value()


def test_a_move_from_a_stale_page_is_refused_and_the_visit_stays_where_it_was_moved(
    client, frontdesk_client, visit
):
    url = f"/appointments/{visit.pk}/reschedule/"
    colleague = make_user("sam", roles.FRONT_DESK, first_name="Sam", last_name="Patel")
    client.force_login(colleague)
    tab_1, tab_2 = client.get(url), frontdesk_client.get(url)
    assert 'name="version" value="1"' in tab_2.content.decode()

    first = client.post(url, move_to(visit, FRI, "10:00", page_version(tab_1)))
    assert first.status_code == 302

    stale = frontdesk_client.post(url, move_to(visit, MON, "09:00", page_version(tab_2)))

    assert stale.status_code == 200
    page = html.unescape(" ".join(stale.content.decode().split()))
    assert (
        "This visit was moved by Sam Patel since you opened this page: it is now "
        "Fri 14 Mar 2025 10:00, Procedure room 1. Nothing was changed; move it again if it "
        "still needs it."
    ) in page
    visit.refresh_from_db()
    assert visit.start_at == clinic_datetime(FRI, dt.time(10))
    assert visit.version == 2
    assert visit.events.filter(kind="rescheduled").count() == 1
    assert visit.reminders.filter(kind="rescheduled").count() == 1
    # What was typed stays, and the page now carries the version it shows.
    assert stale.context["form"]["start_time"].value() == "09:00"
    assert page_version(stale) == "2"

    # Read, and moved again on purpose: it moves.
    again = frontdesk_client.post(url, move_to(visit, MON, "09:00", page_version(stale)))

    assert again.status_code == 302
    visit.refresh_from_db()
    assert visit.start_at == clinic_datetime(MON, dt.time(9))


def test_a_suggested_slot_picked_on_a_stale_page_is_refused_too(frontdesk_client, visit):
    url = f"/appointments/{visit.pk}/reschedule/"
    page = frontdesk_client.get(url)
    slot = page.context["suggestions"][0]
    visits.appointment_reschedule(
        appointment_id=visit.pk, start_at=clinic_datetime(FRI, dt.time(10)), by=None
    )

    stale = frontdesk_client.post(url, {"slot": slot.key, "version": page_version(page)})

    assert "This visit was moved by someone since you opened this page" in html.unescape(
        stale.content.decode()
    )
    visit.refresh_from_db()
    assert visit.start_at == clinic_datetime(FRI, dt.time(10))


def test_a_cancellation_from_a_page_opened_before_a_move_is_refused(
    visit, frontdesk_client, frontdesk_user
):
    """The page was opened at the old time; a colleague moved the visit (the patient
    asked for the new time); cancelling from the old page would cancel what the patient
    just agreed to. Refused in words, nothing changed; from the current page it works."""
    page = frontdesk_client.get(visit.get_absolute_url()).content.decode()
    assert '<input type="hidden" name="version" value="1">' in page
    start = clinic_datetime(FRI, dt.time(10))
    visits.appointment_reschedule(
        appointment_id=visit.pk,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        by=frontdesk_user,
    )

    response = frontdesk_client.post(
        f"/appointments/{visit.pk}/cancel/",
        {"reason_code": "patient_request", "version": "1"},
        follow=True,
    )

    said = " ".join(response.content.decode().split())
    assert "This visit was moved by" in said
    assert "cancel it again if it still needs cancelling." in said
    assert Appointment.objects.get(pk=visit.pk).status != Appointment.Status.CANCELLED

    frontdesk_client.post(
        f"/appointments/{visit.pk}/cancel/", {"reason_code": "patient_request", "version": "2"}
    )
    assert Appointment.objects.get(pk=visit.pk).status == Appointment.Status.CANCELLED
