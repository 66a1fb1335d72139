"""A real Celery worker process on real Redis and PostgreSQL, sending to a real SMTP server.

The booking is made in this process and committed; its on-commit wake-up goes
through Redis to the worker, which reads the outbox rows from the same (test)
database and sends over SMTP. The worker runs without beat, so only the
wake-up (or an explicit .delay()) can make it send.
"""

import email.message
import os
import uuid
from datetime import UTC, time, timedelta
from urllib.parse import quote

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone
from icalendar import Calendar

from clinic.testing.processes import log_tail, start_worker, stop_group, wait_until
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import add_working_days, clinic_datetime, clinic_today
from procedures.messaging.ics import appointment_uid
from procedures.messaging.mail import message_id_for
from procedures.messaging.models import Reminder
from procedures.messaging.tasks import dispatch_due_reminders
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book

pytestmark = [pytest.mark.slow, pytest.mark.services]

MAIL_TIMEOUT = 30


def database_url(settings_dict: dict) -> str:
    """The connection's database (the test database, once created) as a DATABASE_URL."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = quote(settings_dict.get("HOST") or "localhost", safe="")
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


@pytest.fixture
def broker(redis_url):
    """A Celery app for this test, publishing to a queue no other worker consumes.

    A unique queue (and exchange) keeps stale or concurrent messages of other
    runs on the same Redis away from this worker, and this test's messages
    away from theirs. The app is made current so that the tasks' shared proxies
    (and the booking's on-commit wake-up) publish through it.
    """
    import redis
    from celery import current_app

    token = uuid.uuid4().hex[:12]
    queue = f"clinic-test-{token}"
    app = Celery("clinic-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(
        broker_url=redis_url,
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
    )
    previous = current_app._get_current_object()
    app.set_current()
    try:
        yield app, queue
    finally:
        previous.set_current()
        app.close()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"*{token}*"):
            client.delete(key)
        for key in client.scan_iter(match="_kombu.binding.*"):
            for member in client.smembers(key):
                if token.encode() in member:
                    client.srem(key, member)


@pytest.fixture
def worker(postgres, broker, redis_url, smtp_server, tmp_path):
    """`celery -A clinic worker` in its own process group, on this test's database."""
    _app, queue = broker
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": redis_url,
        "EMAIL_URL": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "DEBUG": "1",
        "CLINIC_VAR_DIR": str(tmp_path / "var"),
    }
    process = start_worker(
        "worker", env=env, log=tmp_path / "worker.log", pool="solo", options=["--queues", queue]
    )
    try:
        yield process
    finally:
        stop_group(process)


def _parts(message: email.message.EmailMessage) -> dict[str, email.message.EmailMessage]:
    """Leaf parts by content type (the first of each)."""
    parts = {}
    for part in message.walk():
        if not part.is_multipart():
            parts.setdefault(part.get_content_type(), part)
    return parts


def _wait_for_mail(smtp_server, count: int, worker) -> list:
    messages = smtp_server.wait_for(count, timeout=MAIL_TIMEOUT)
    assert len(messages) >= count, (
        f"{len(messages)} of {count} emails arrived in {MAIL_TIMEOUT}s; worker log:\n"
        + log_tail(worker.log)
    )
    return messages


def _wait_for_status(reminder: Reminder, status: str) -> Reminder:
    # The SMTP server accepts the message before the worker commits `sent`.
    def reached():
        reminder.refresh_from_db()
        return reminder.status == status

    wait_until(reached, timeout=10, what=f"reminder {reminder.pk} to be {status}")
    return reminder


@pytest.mark.django_db(transaction=True)
def test_worker_sends_booking_confirmation_and_escort_request(worker, smtp_server, frontdesk_user):
    from patients.tests.factories import PatientFactory
    from procedures.prep.models import PrepTemplate

    # No prep-step emails here (tests/faults and procedures/tests cover those).
    PrepTemplate.objects.update(is_active=False)
    patient = PatientFactory(given_name="Ada", family_name="Quint", email="ada.quint@example.com")
    # Five working days ahead: a weekday whatever day the suite runs (the default
    # hours are Monday to Friday; five calendar days from a Monday is a Saturday).
    day = add_working_days(clinic_today(), 5, set())
    start_at = clinic_datetime(day, time(10, 0))

    # Booked and committed here; the on-commit wake-up reaches the worker via Redis.
    appointment = appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(is_monitored=True),
        start_at=start_at,
        end_at=start_at + timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )
    reminders = {r.kind: r for r in appointment.reminders.all()}
    assert set(reminders) == {
        Reminder.Kind.BOOKING_CONFIRMATION,
        Reminder.Kind.ESCORT_REQUEST,
        Reminder.Kind.DAY_BEFORE,
        Reminder.Kind.AFTERCARE,
    }

    [confirmation] = _wait_for_mail(smtp_server, 1, worker)
    row = _wait_for_status(reminders[Reminder.Kind.BOOKING_CONFIRMATION], Reminder.Status.SENT)
    assert row.sent_at is not None
    assert row.attempts == 1
    assert smtp_server.envelopes[0].rcpt_tos == ["ada.quint@example.com"]

    # Generic subject: no name, no procedure.
    assert confirmation["Subject"] == "Your appointment is booked"
    assert confirmation["To"] == "ada.quint@example.com"
    assert confirmation["Message-ID"] == message_id_for(row)
    parts = _parts(confirmation)
    assert "Ada" in parts["text/plain"].get_content()
    assert "Ada" in parts["text/html"].get_content()
    for text in (parts["text/plain"].get_content(), parts["text/html"].get_content()):
        assert "Quint" not in text
        assert "aspiration" not in text.lower()

    invite = parts["text/calendar"]
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "appointment.ics"
    calendar = Calendar.from_ical(invite.get_payload(decode=True))
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == appointment_uid(appointment)
    dtstart = event.decoded("DTSTART")
    assert dtstart == appointment.start_at
    assert dtstart.utcoffset() == timedelta(0)
    assert dtstart == start_at.astimezone(UTC)

    # The escort request is due two days ahead; the wake-up left it alone.
    escort = reminders[Reminder.Kind.ESCORT_REQUEST]
    escort.refresh_from_db()
    assert escort.status == Reminder.Status.PENDING
    assert escort.due_at > timezone.now()

    # Make it due, then wake the dispatcher explicitly.
    Reminder.objects.filter(pk=escort.pk).update(due_at=timezone.now())
    dispatch_due_reminders.delay()

    messages = _wait_for_mail(smtp_server, 2, worker)
    request = messages[1]
    _wait_for_status(escort, Reminder.Status.SENT)
    assert request["Subject"] == "Please confirm who is taking you home"
    assert request["Message-ID"] == message_id_for(escort)
    assert "text/calendar" not in _parts(request)
    assert "Ada" in _parts(request)["text/plain"].get_content()

    # Nothing else went out: the day-before reminder waits for its day.
    day_before = reminders[Reminder.Kind.DAY_BEFORE]
    day_before.refresh_from_db()
    assert day_before.status == Reminder.Status.PENDING
    assert len(smtp_server.messages) == 2
