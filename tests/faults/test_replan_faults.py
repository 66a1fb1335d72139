"""Reschedule or cancel between planning and sending: with a real worker, nothing
for the old time goes out."""

import datetime as dt

import pytest
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import add_working_days, clinic_datetime, clinic_today
from procedures.messaging.mail import message_id_for
from procedures.messaging.models import Reminder
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book, appointment_cancel, appointment_reschedule

from .conftest import wait_for_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def book(user, start, **extra):
    return appointment_book(
        patient=PatientFactory(email="patient@example.com", **extra),
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=user,
    )


def test_nothing_for_the_old_time_goes_out_after_a_reschedule_or_cancel(
    workers, mail_server, broker, frontdesk_user
):
    # Booked a day ahead (no worker running yet): the confirmation and the escort
    # request are due now, so they would go out at once.
    # Two working days ahead: a weekday whatever day the suite runs.
    tomorrow = add_working_days(clinic_today(), 2, set())
    moved = book(frontdesk_user, clinic_datetime(tomorrow, dt.time(10, 0)))
    dropped = book(frontdesk_user, clinic_datetime(tomorrow, dt.time(14, 0)))
    # Due now whatever the hour this test runs at.
    Reminder.objects.filter(status="pending").update(due_at=timezone.now())
    old_rows = list(Reminder.objects.filter(status="pending"))

    moved = appointment_reschedule(
        appointment_id=moved.pk,
        start_at=clinic_datetime(tomorrow + dt.timedelta(days=7), dt.time(11, 0)),
        by=frontdesk_user,
    )
    appointment_cancel(appointment_id=dropped.pk, reason="Unwell", by=frontdesk_user)
    Reminder.objects.filter(status="pending").update(due_at=timezone.now())
    expected = list(
        Reminder.objects.filter(status="pending", appointment_version=2, appointment=moved)
    ) + list(Reminder.objects.filter(status="pending", kind="cancellation"))

    workers.start("replan")
    wait_for_rows(
        lambda: not Reminder.objects.filter(status__in=["pending", "sending"]).exists(),
        timeout=60,
        what="every due reminder to be handled",
        wake=lambda: broker.send_task("procedures.tasks.dispatch_due_reminders"),
    )

    received = mail_server.counts()
    assert set(received) == {message_id_for(r) for r in expected}
    assert not set(received) & {message_id_for(r) for r in old_rows}
    for row in old_rows:
        row.refresh_from_db()
        assert row.status == Reminder.Status.CANCELLED
