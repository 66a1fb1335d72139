"""The dispatcher's judgement at send time: late reminders are skipped, not sent."""

import datetime as dt

import pytest

from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import Reminder
from procedures.tests.factories import ReminderFactory

pytestmark = pytest.mark.django_db

VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 30))


def test_a_fasting_reminder_that_falls_due_after_the_procedure_started_is_skipped(
    smtp_mail, time_machine
):
    reminder = ReminderFactory(
        kind=Reminder.Kind.FASTING,
        due_at=VISIT - dt.timedelta(hours=10),
        expires_at=VISIT,
        appointment__start_at=VISIT,
        appointment__end_at=VISIT + dt.timedelta(hours=1),
    )
    # The dispatcher was down all night and comes back after the procedure began.
    time_machine.move_to(VISIT + dt.timedelta(minutes=5), tick=False)

    report = reminders_dispatch()

    reminder.refresh_from_db()
    assert (report.skipped, reminder.status, reminder.sent_at) == (1, "skipped", None)
    assert smtp_mail.messages == []


def test_aftercare_tips_more_than_three_days_late_are_skipped(smtp_mail, time_machine):
    due = VISIT + dt.timedelta(days=1)
    reminder = ReminderFactory(
        kind=Reminder.Kind.AFTERCARE,
        due_at=due,
        expires_at=due + dt.timedelta(days=3),
        appointment__start_at=VISIT,
        appointment__end_at=VISIT + dt.timedelta(hours=1),
    )
    time_machine.move_to(due + dt.timedelta(days=3, minutes=1), tick=False)

    reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SKIPPED
    assert smtp_mail.messages == []


def test_a_late_but_still_useful_reminder_goes_out(smtp_mail, time_machine):
    reminder = ReminderFactory(
        kind=Reminder.Kind.FASTING,
        due_at=VISIT - dt.timedelta(hours=10),
        expires_at=VISIT,
        appointment__start_at=VISIT,
        appointment__end_at=VISIT + dt.timedelta(hours=1),
    )
    time_machine.move_to(VISIT - dt.timedelta(hours=2), tick=False)

    reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT
    assert len(smtp_mail.wait_for(1)) == 1
