"""The reminder plan (services/reminder_plan.py): what each appointment gets, and when."""

import datetime as dt

import icalendar
import pytest

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.ics import appointment_uid
from procedures.messaging.kinds import into_send_window
from procedures.messaging.models import CallTask, EmailOptOut, Reminder, ReminderPolicy
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book, appointment_cancel, appointment_reschedule

K = Reminder.Kind
NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(9, 0))  # a Monday
VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 30))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> dt.datetime:
    return clinic_datetime(dt.date(2025, month, day), dt.time(hour, minute))


@pytest.fixture
def patient(db):
    return PatientFactory(given_name="Maria", email="maria@example.com")


def book(patient, user, start=VISIT, sedation=SedationLevel.IV_MODERATE):
    return appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=sedation,
        by=user,
    )


def plan(appointment, **filters) -> dict[str, dt.datetime]:
    rows = appointment.reminders.filter(**filters).order_by("due_at", "pk")
    return {r.kind: r.due_at for r in rows}


def test_it_plans_every_email_of_a_sedated_patient_at_clinic_times(patient, frontdesk_user):
    appointment = book(patient, frontdesk_user)

    assert plan(appointment) == {
        K.BOOKING_CONFIRMATION: NOW,
        K.PREP_STEP: at(3, 10),  # the prep timeline: bring your medicine list, 7 days before
        K.ESCORT_REQUEST: at(8, 10),
        K.DAY_BEFORE: at(9, 10),
        # Fasting starts 6 hours before (03:30): the reminder goes the evening before,
        # at the send window's close, not after the patient had breakfast.
        K.FASTING: at(9, 20),
        K.AFTERCARE: at(11, 10),
    }
    assert set(appointment.reminders.values_list("status", flat=True)) == {"pending"}


def test_each_reminder_before_the_visit_expires_when_the_visit_starts(patient, frontdesk_user):
    appointment = book(patient, frontdesk_user)

    expiry = {r.kind: r.expires_at for r in appointment.reminders.all()}
    for kind in (K.BOOKING_CONFIRMATION, K.PREP_STEP, K.FASTING, K.ESCORT_REQUEST, K.DAY_BEFORE):
        assert expiry[kind] == VISIT
    assert expiry[K.AFTERCARE] == at(14, 10)


def test_it_asks_no_escort_of_a_patient_who_is_not_sedated(patient, frontdesk_user):
    appointment = book(patient, frontdesk_user, sedation=SedationLevel.LOCAL)

    assert K.ESCORT_REQUEST not in plan(appointment)
    assert K.FASTING not in plan(appointment)


def test_it_sends_the_escort_request_at_once_when_booked_late(patient, frontdesk_user, clock):
    clock.move_to(at(9, 11), tick=False)

    appointment = book(patient, frontdesk_user)

    planned = plan(appointment)
    assert planned[K.ESCORT_REQUEST] == at(9, 11)
    assert K.DAY_BEFORE not in planned  # its time has passed; the confirmation says it all


def test_the_clinic_sets_offsets_and_switches_kinds_off(patient, frontdesk_user):
    ReminderPolicy.objects.create(kind=K.DAY_BEFORE, days_offset=-3, send_time=dt.time(17, 30))
    ReminderPolicy.objects.create(kind=K.AFTERCARE, days_offset=1, enabled=False)

    appointment = book(patient, frontdesk_user)

    planned = plan(appointment)
    assert planned[K.DAY_BEFORE] == at(7, 17, 30)
    assert K.AFTERCARE not in planned


def test_a_policy_outside_the_send_window_is_moved_into_it(patient, frontdesk_user):
    ReminderPolicy.objects.create(kind=K.DAY_BEFORE, days_offset=-1, send_time=dt.time(6, 0))
    ReminderPolicy.objects.create(kind=K.AFTERCARE, days_offset=1, send_time=dt.time(22, 0))

    appointment = book(patient, frontdesk_user)

    planned = plan(appointment)
    assert planned[K.DAY_BEFORE] == at(8, 20)  # before the visit: earlier, not later
    assert planned[K.AFTERCARE] == at(12, 8)  # after the visit: the next morning


def test_a_booking_made_at_night_is_confirmed_at_once_but_reminders_wait(
    patient, frontdesk_user, clock
):
    ReminderPolicy.objects.create(kind=K.DAY_BEFORE, days_offset=-1, send_time=dt.time(22, 30))
    clock.move_to(at(3, 22, 15), tick=False)

    appointment = book(patient, frontdesk_user)

    planned = plan(appointment)
    assert planned[K.BOOKING_CONFIRMATION] == at(3, 22, 15)  # the answer to a booking
    assert planned[K.DAY_BEFORE] == at(9, 20)  # a scheduled reminder keeps to the window


def test_a_cancellation_notice_goes_at_once_whatever_the_hour(patient, frontdesk_user, clock):
    appointment = book(patient, frontdesk_user)
    clock.move_to(at(3, 22, 15), tick=False)

    appointment_cancel(appointment_id=appointment.pk, reason="Unwell", by=frontdesk_user)

    assert plan(appointment, status="pending") == {K.CANCELLATION: at(3, 22, 15)}


@pytest.mark.parametrize(
    ("due", "earlier", "expected"),
    [
        (at(5, 12), False, at(5, 12)),
        (at(5, 8), False, at(5, 8)),
        (at(5, 20), True, at(5, 20)),
        (at(5, 7, 59), False, at(5, 8)),
        (at(5, 20, 1), False, at(6, 8)),
        (at(5, 3), True, at(4, 20)),
        (at(5, 23), True, at(5, 20)),
    ],
)
def test_the_send_window(due, earlier, expected):
    assert into_send_window(due, now=NOW, earlier=earlier) == expected


def test_the_window_never_moves_a_reminder_into_the_past(clock):
    clock.move_to(at(4, 21), tick=False)

    # About something before the visit: at once, not at 08:00, five hours after it.
    assert into_send_window(at(5, 3), now=at(4, 21), earlier=True) == at(4, 21)
    assert into_send_window(at(5, 3), now=at(4, 21), earlier=False) == at(5, 8)


def test_a_visit_booked_after_the_window_closes_is_told_to_fast_that_evening(
    patient, frontdesk_user, clock
):
    # Booked at 21:30 for 09:00 tomorrow under sedation: fasting starts at 03:00. The
    # window opens again at 08:00, five hours into the fast (after breakfast): the
    # email goes at once instead, and so does the escort request.
    clock.move_to(at(4, 21, 30), tick=False)
    appointment = book(patient, frontdesk_user, start=at(5, 9))

    planned = plan(appointment)
    assert planned[K.FASTING] == at(4, 21, 30)
    assert planned[K.ESCORT_REQUEST] == at(4, 21, 30)
    report = reminders_dispatch()
    sent = set(appointment.reminders.filter(status="sent").values_list("kind", flat=True))
    assert {K.BOOKING_CONFIRMATION, K.FASTING, K.ESCORT_REQUEST} <= sent, report


def test_wall_clock_times_survive_the_change_to_summer_time(patient, frontdesk_user, clock):
    # London moves to BST on Sunday 30 March 2025.
    clock.move_to(at(24, 9), tick=False)
    appointment = book(patient, frontdesk_user, start=at(31, 9, 30))

    planned = plan(appointment)
    assert planned[K.ESCORT_REQUEST] == at(29, 10)
    assert planned[K.DAY_BEFORE] == at(30, 10)
    assert planned[K.ESCORT_REQUEST].astimezone(dt.UTC).hour == 10  # GMT
    assert planned[K.DAY_BEFORE].astimezone(dt.UTC).hour == 9  # BST
    assert planned[K.AFTERCARE].astimezone(dt.UTC) == dt.datetime(2025, 4, 1, 9, tzinfo=dt.UTC)


def test_wall_clock_times_survive_the_change_back_to_winter_time(patient, frontdesk_user, clock):
    # London goes back to GMT on Sunday 26 October 2025.
    clock.move_to(at(20, 9, month=10), tick=False)
    appointment = book(patient, frontdesk_user, start=at(27, 9, 30, month=10))

    planned = plan(appointment)
    assert planned[K.DAY_BEFORE] == at(26, 10, month=10)
    assert planned[K.DAY_BEFORE].astimezone(dt.UTC).hour == 10
    assert planned[K.ESCORT_REQUEST].astimezone(dt.UTC).hour == 9


# --- Reschedule and cancel --------------------------------------------------------------


@pytest.fixture
def rescheduled(patient, frontdesk_user, smtp_mail, clock):
    appointment = book(patient, frontdesk_user)
    reminders_dispatch()  # the first confirmation has gone out
    old_rows = list(appointment.reminders.filter(status="pending"))
    appointment = appointment_reschedule(
        appointment_id=appointment.pk, start_at=at(12, 10), by=frontdesk_user
    )
    return appointment, old_rows


def test_a_reschedule_cancels_what_was_planned_for_the_old_time(rescheduled):
    appointment, old_rows = rescheduled

    for row in old_rows:
        row.refresh_from_db()
        assert row.status == Reminder.Status.CANCELLED
    assert plan(appointment, status="pending", appointment_version=2) == {
        K.RESCHEDULED: NOW,
        K.PREP_STEP: at(5, 10),
        K.ESCORT_REQUEST: at(10, 10),
        K.DAY_BEFORE: at(11, 10),
        K.FASTING: at(11, 20),
        K.AFTERCARE: at(13, 10),
    }


def test_the_new_time_email_updates_the_same_calendar_event(rescheduled, smtp_mail, clock):
    appointment, _old = rescheduled

    reminders_dispatch()

    first, update = smtp_mail.wait_for(2)
    assert str(update["Subject"]) == "Your appointment has a new time"

    def event(message):
        [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        return icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")[0]

    assert str(event(update)["UID"]) == str(event(first)["UID"]) == appointment_uid(appointment)
    assert (event(first)["SEQUENCE"], event(update)["SEQUENCE"]) == (1, 2)
    assert event(update).decoded("DTSTART") == at(12, 10)


def test_nothing_for_the_old_time_goes_out_after_a_reschedule(rescheduled, smtp_mail, clock):
    appointment, _old = rescheduled

    # Walk through every day up to the old and the new visit.
    for day in range(3, 14):
        clock.move_to(at(day, 20), tick=False)
        reminders_dispatch()

    sent = appointment.reminders.filter(status="sent").exclude(kind=K.BOOKING_CONFIRMATION)
    assert sent.exists()
    assert set(sent.values_list("appointment_version", flat=True)) == {2}
    bodies = "\n".join(
        part.get_content()
        for message in smtp_mail.messages
        for part in message.walk()
        if part.get_content_type() == "text/plain"
    )
    assert "Wednesday 12 March 2025" in bodies
    assert bodies.count("Monday 10 March 2025") == 1  # only the first confirmation


# --- Patients who get no email ---------------------------------------------------------


@pytest.mark.parametrize(
    "details", [{"email": ""}, {"email_reminders": False}], ids=["no-address", "opted-out"]
)
def test_a_patient_without_email_gets_front_desk_calls_instead(details, frontdesk_user, smtp_mail):
    patient = PatientFactory(**details)

    appointment = book(patient, frontdesk_user)

    assert set(appointment.reminders.values_list("status", flat=True)) == {"skipped"}
    calls = {c.reminder_kind: c.due_at for c in CallTask.objects.filter(appointment=appointment)}
    assert calls == {
        # Due within the hour, not "overdue" the moment it appears (calls.CALL_LEAD).
        K.BOOKING_CONFIRMATION: NOW + dt.timedelta(hours=1),
        K.PREP_STEP: at(3, 10),
        # The emails' weekend days (Saturday, Sunday before the Monday visit) are the
        # clinic's closed days: the calls fall due on the Friday before (invariant 30).
        K.ESCORT_REQUEST: at(7, 10),
        K.DAY_BEFORE: at(7, 10),
        K.FASTING: at(7, 20),
    }  # no call for aftercare tips
    assert reminders_dispatch().claimed == 0
    assert smtp_mail.messages == []


def test_a_cancellation_voids_the_calls_still_open(frontdesk_user):
    appointment = book(PatientFactory(email=""), frontdesk_user)

    appointment_cancel(appointment_id=appointment.pk, reason="Unwell", by=frontdesk_user)

    statuses = CallTask.objects.filter(appointment=appointment).values_list(
        "reminder_kind", "status"
    )
    assert set(statuses) == {
        (K.BOOKING_CONFIRMATION, "cancelled"),
        (K.PREP_STEP, "cancelled"),
        (K.ESCORT_REQUEST, "cancelled"),
        (K.DAY_BEFORE, "cancelled"),
        (K.FASTING, "cancelled"),
        (K.CANCELLATION, "open"),
    }


def test_an_unsubscribed_patient_gets_no_aftercare_but_every_essential_email(
    patient, frontdesk_user
):
    EmailOptOut.objects.create(patient=patient)

    appointment = book(patient, frontdesk_user)

    statuses = dict(appointment.reminders.values_list("kind", "status"))
    assert statuses.pop(K.AFTERCARE) == "skipped"
    assert set(statuses.values()) == {"pending"}
