"""The appointment pages: list, detail, cancel (views/appointments.py)."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages

from clinic.models import ReadAccess
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.sites import Site
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(12, 0))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def appointment_at(day: dt.date, hour: int, **extra) -> Appointment:
    start = clinic_datetime(day, dt.time(hour, 0))
    return AppointmentFactory(start_at=start, end_at=start + dt.timedelta(hours=1), **extra)


def listed(client, **params) -> list[Appointment]:
    response = client.get("/appointments/", params)
    assert response.status_code == 200
    return list(response.context["page"])


def test_it_lists_todays_and_upcoming_appointments_soonest_first(frontdesk_client):
    next_week = appointment_at(dt.date(2025, 3, 10), 9)
    this_morning = appointment_at(dt.date(2025, 3, 3), 9)
    tomorrow = appointment_at(dt.date(2025, 3, 4), 9)
    appointment_at(dt.date(2025, 3, 2), 9)

    assert listed(frontdesk_client) == [this_morning, tomorrow, next_week]


def test_it_lists_past_appointments_latest_first(frontdesk_client):
    last_week = appointment_at(dt.date(2025, 2, 24), 9)
    this_morning = appointment_at(dt.date(2025, 3, 3), 9)
    appointment_at(dt.date(2025, 3, 4), 9)

    assert listed(frontdesk_client, show="past") == [this_morning, last_week]


def test_it_starts_today_at_the_clinics_midnight_not_utcs(client, frontdesk_user, time_machine):
    # 00:30 on 2 July in London is still 1 July in UTC: yesterday's afternoon
    # list is not "today".
    time_machine.move_to(clinic_datetime(dt.date(2025, 7, 2), dt.time(0, 30)), tick=False)
    yesterday = appointment_at(dt.date(2025, 7, 1), 14)
    today = appointment_at(dt.date(2025, 7, 2), 9)
    client.force_login(frontdesk_user)

    assert listed(client) == [today]
    assert listed(client, show="past") == [yesterday]


def test_it_keeps_todays_morning_on_the_list_in_a_zone_behind_utc(
    client, frontdesk_user, settings, time_machine
):
    settings.CLINIC_TIME_ZONE = settings.TIME_ZONE = "America/New_York"
    # 21:00 in New York is 01:00 UTC the next day.
    time_machine.move_to(clinic_datetime(dt.date(2025, 3, 3), dt.time(21, 0)), tick=False)
    this_morning = appointment_at(dt.date(2025, 3, 3), 9)
    Site.objects.update(time_zone="America/New_York")  # the site's zone is the page's
    client.force_login(frontdesk_user)

    assert listed(client) == [this_morning]


@pytest.mark.parametrize("count", [3, 30])
def test_it_lists_appointments_in_a_fixed_number_of_queries(
    nurse_client, django_assert_num_queries, count
):
    for day in range(count):
        appointment_at(dt.date(2025, 3, 4) + dt.timedelta(days=day), 9)

    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(7):
        response = nurse_client.get("/appointments/")

    assert len(response.context["page"].object_list) == min(count, 25)


def test_it_shows_an_appointment_and_records_who_read_it(
    physician_client, physician_user, care_for_all
):
    appointment = appointment_at(dt.date(2025, 3, 10), 9)

    response = physician_client.get(f"/appointments/{appointment.pk}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert appointment.patient.full_name in page
    assert appointment.provider.display_name in page
    read = ReadAccess.objects.get()
    assert (read.user, read.object_type, read.object_id, read.view_name) == (
        physician_user,
        "procedures.appointment",
        str(appointment.pk),
        "procedures:appointment_detail",
    )


def test_it_cancels_from_the_page_with_a_reason(frontdesk_client):
    appointment = appointment_at(dt.date(2025, 3, 10), 9)

    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/cancel/", {"reason": "Patient unwell"}, follow=True
    )

    assert "Appointment cancelled. The patient will be told by email." in (
        response.content.decode()
    )
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.reminders.get().kind == Reminder.Kind.CANCELLATION


def test_it_asks_for_a_reason_before_cancelling(frontdesk_client):
    appointment = appointment_at(dt.date(2025, 3, 10), 9)

    response = frontdesk_client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": ""})

    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Give a reason for cancelling."
    ]
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED


def test_it_does_not_let_a_nurse_cancel(nurse_client):
    appointment = appointment_at(dt.date(2025, 3, 10), 9)

    response = nurse_client.post(f"/appointments/{appointment.pk}/cancel/", {"reason": "x"})

    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED


@pytest.mark.parametrize(("role", "finds_slots"), [("frontdesk", True), ("nurse", False)])
def test_the_list_offers_find_a_slot_only_to_who_may_open_it(role, finds_slots, request):
    """QA pass 2, #4: nurses and physicians may book but not use the slot finder."""
    client = request.getfixturevalue(f"{role}_client")

    page = client.get("/appointments/").content.decode()

    assert "Book a procedure" in page
    assert ("Find a slot" in page) is finds_slots
    assert client.get("/appointments/find/").status_code == (200 if finds_slots else 403)
