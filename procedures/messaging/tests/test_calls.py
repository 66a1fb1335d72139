"""The front desk's calls (messaging/calls.py): due on a day the visit's site works and
never before they were made (invariant 30), closed when their visit moves or ends, and
an honest label on aftercare that no call stands in for."""

import datetime as dt

import pytest

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.messaging.calls import CallClock
from procedures.messaging.models import CallTask, Reminder
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book, appointment_cancel, appointment_reschedule

K = Reminder.Kind
NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(9, 0))  # a Monday
VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 30))  # the next Monday
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return clinic_datetime(dt.date(2025, 3, day), dt.time(hour, minute))


def book(user, *, patient=None, room=None, start=VISIT):
    return appointment_book(
        patient=patient or PatientFactory(email=""),
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=room or RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=user,
    )


def calls(appointment) -> dict[str, dt.datetime]:
    rows = CallTask.objects.filter(appointment=appointment, reason=CallTask.Reason.NO_EMAIL)
    return {c.reminder_kind: c.due_at for c in rows}


# --- Due on a working day, never before it was made ---------------------------------


def test_a_call_for_a_monday_visit_falls_due_on_the_friday_before(frontdesk_user):
    appointment = book(frontdesk_user)

    due = calls(appointment)

    assert due[K.DAY_BEFORE] == at(7, 10)  # not Sunday 9 March
    for call in CallTask.objects.filter(appointment=appointment):
        assert call.due_at.weekday() < 5
        assert call.due_at >= call.created_at


def test_a_call_skips_the_sites_holidays_too(frontdesk_user):
    ClinicHoliday.objects.create(date=dt.date(2025, 3, 7), name="Staff training")

    appointment = book(frontdesk_user)

    assert calls(appointment)[K.DAY_BEFORE] == at(6, 10)  # the Thursday


def test_a_site_open_on_saturdays_takes_its_calls_on_saturday(frontdesk_user):
    room = RoomFactory()
    for weekday in range(6):
        WorkingHours.objects.create(room=room, weekday=weekday, starts=dt.time(8), ends=dt.time(18))

    appointment = book(frontdesk_user, room=room)

    assert calls(appointment)[K.ESCORT_REQUEST] == at(8, 10)  # Saturday, as emailed


def test_a_call_raised_now_is_due_within_the_hour_not_overdue_at_once(frontdesk_user):
    appointment = book(frontdesk_user)

    confirmation = CallTask.objects.get(
        appointment=appointment, reminder_kind=K.BOOKING_CONFIRMATION
    )

    assert confirmation.due_at == NOW + dt.timedelta(hours=1)


def test_a_call_whose_working_day_has_passed_is_due_on_the_next_one(frontdesk_user, clock):
    # Saturday evening: the Friday before is gone, so the call waits for Monday morning.
    clock.move_to(at(8, 19), tick=False)
    appointment = book(frontdesk_user, start=at(11, 9))
    clock.move_to(at(8, 19), tick=False)

    due = CallClock(appointment).due(at(9, 10))

    assert due == at(10, 8)


# --- Closed with their visit ------------------------------------------------------------


def reschedule_request(appointment) -> CallTask:
    return CallTask.objects.create(
        appointment=appointment,
        reason=CallTask.Reason.RESCHEDULE_REQUEST,
        appointment_version=appointment.version,
        note="Can we do Thursday?",
    )


def test_a_reschedule_request_is_closed_when_the_visit_moves(frontdesk_user, frontdesk_client):
    appointment = book(frontdesk_user, patient=PatientFactory())
    request = reschedule_request(appointment)

    appointment_reschedule(
        appointment_id=appointment.pk, start_at=VISIT + dt.timedelta(days=1), by=frontdesk_user
    )

    request.refresh_from_db()
    assert (request.status, request.closed_reason) == ("cancelled", "visit moved")
    assert f"task={request.pk}" not in frontdesk_client.get("/tasks/").content.decode()


def test_every_call_about_a_cancelled_visit_is_closed_but_the_cancellation_call(
    frontdesk_user,
):
    appointment = book(frontdesk_user)
    request = reschedule_request(appointment)

    appointment_cancel(appointment_id=appointment.pk, reason="Unwell", by=frontdesk_user)

    request.refresh_from_db()
    assert (request.status, request.closed_reason) == ("cancelled", "visit cancelled")
    still_open = CallTask.objects.filter(appointment=appointment, status="open")
    assert list(still_open.values_list("reminder_kind", flat=True)) == [K.CANCELLATION]


def test_the_task_list_shows_the_visits_current_state(frontdesk_user, frontdesk_client):
    appointment = book(frontdesk_user, patient=PatientFactory())
    call = CallTask.objects.create(
        appointment=appointment,
        reason=CallTask.Reason.EMAIL_FAILED,
        appointment_version=appointment.version,
        reminder_kind=K.DAY_BEFORE,
    )
    appointment.version += 1
    appointment.save(update_fields=["version"])

    html = frontdesk_client.get("/tasks/").content.decode()

    assert call.pk
    assert "Mon 10 Mar 2025 09:30 · Scheduled" in html
    assert "Moved since the call was raised" in html


# --- Aftercare without email: said as it is ---------------------------------------------


def test_aftercare_for_a_patient_without_email_says_no_call_is_needed(
    frontdesk_user, frontdesk_client
):
    appointment = book(frontdesk_user)

    aftercare = appointment.reminders.get(kind=K.AFTERCARE)

    assert (aftercare.status, aftercare.skip_reason) == ("skipped", "no email (no call needed)")
    assert not CallTask.objects.filter(appointment=appointment, reminder_kind=K.AFTERCARE)
    page = frontdesk_client.get(f"/reminders/?appointment={appointment.pk}").content.decode()
    assert "no email (no call needed)" in page
