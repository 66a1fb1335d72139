"""Celery tasks (tasks.py): nothing but ids crosses the broker; each calls one service."""

import datetime as dt

import pytest

from procedures.messaging.models import Reminder
from procedures.messaging.tasks import dispatch_due_reminders, sweep_expired_leases
from procedures.tests.factories import ReminderFactory

pytestmark = pytest.mark.django_db


def test_it_dispatches_due_reminders_when_the_task_runs(smtp_mail):
    reminder = ReminderFactory()

    outcome = dispatch_due_reminders.apply().get()

    assert outcome == {"claimed": 1, "sent": 1, "failed": 0}
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENT
    assert len(smtp_mail.wait_for(1)) == 1


def test_it_sweeps_expired_leases_and_asks_for_a_dispatch(monkeypatch):
    from django.utils import timezone

    woken = []
    monkeypatch.setattr(dispatch_due_reminders, "delay", lambda: woken.append(True))
    ReminderFactory(
        status=Reminder.Status.SENDING,
        attempts=1,
        lease_until=timezone.now() - dt.timedelta(minutes=1),
    )

    assert sweep_expired_leases.apply().get() == 1
    assert woken == [True]


def test_it_asks_for_no_dispatch_when_nothing_was_stuck(monkeypatch):
    woken = []
    monkeypatch.setattr(dispatch_due_reminders, "delay", lambda: woken.append(True))

    assert sweep_expired_leases.apply().get() == 0
    assert woken == []
