"""The reminder dispatcher (services/reminders.py) against a real SMTP server."""

import datetime as dt
import smtplib
import socket
from urllib.parse import urlparse

import icalendar
import pytest
from django.conf import settings

from clinic.models import Heartbeat
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging import dispatch as reminders_service
from procedures.messaging import mail, plan
from procedures.messaging.dispatch import reminders_dispatch, reminders_sweep
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment
from procedures.tests import factories
from procedures.tests.factories import (
    ProcedureTypeFactory,
    ProviderFactory,
    ReminderFactory,
    RoomFactory,
)
from procedures.workflows.visits import appointment_book, appointment_cancel

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))
VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 30))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def domain() -> str:
    return urlparse(settings.SITE_URL).hostname


@pytest.fixture
def patient(db):
    return PatientFactory(
        given_name="Maria",
        family_name="Garcia",
        date_of_birth=dt.date(1961, 4, 12),
        email="maria.garcia@example.com",
    )


@pytest.fixture
def appointment(patient, frontdesk_user):
    procedure = ProcedureTypeFactory(name="Bone marrow aspiration and biopsy")
    return appointment_book(
        patient=patient,
        procedure_type=procedure,
        provider=ProviderFactory(display_name="Dr Lee"),
        room=RoomFactory(),
        start_at=VISIT,
        end_at=VISIT + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


def parts(message) -> dict[str, object]:
    """Content type -> part, for the leaves of a parsed message."""
    return {part.get_content_type(): part for part in message.walk() if not part.is_multipart()}


def calendar_event(message) -> tuple[icalendar.Calendar, icalendar.Event]:
    part = parts(message)["text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_content())
    return calendar, calendar.walk("VEVENT")[0]


# --- What arrives ------------------------------------------------------------------


def test_it_sends_the_booking_confirmation_with_text_html_and_a_calendar_invite(
    smtp_mail, appointment
):
    report = reminders_dispatch()

    assert report.sent == 1
    [message] = smtp_mail.wait_for(1)
    assert smtp_mail.envelopes[0].rcpt_tos == ["maria.garcia@example.com"]
    assert message["To"] == "maria.garcia@example.com"
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message.get_content_type() == "multipart/mixed"
    leaves = parts(message)
    assert set(leaves) == {"text/plain", "text/html", "text/calendar"}
    text = leaves["text/plain"].get_content()
    html = leaves["text/html"].get_content()
    for body in (text, html):
        assert "Dear Maria," in body
        assert "Monday 10 March 2025" in body
        assert "09:30" in body
        assert "arrange for someone to drive you home" in body

    invite = leaves["text/calendar"]
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "appointment.ics"
    calendar, event = calendar_event(message)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"appointment-{appointment.pk}@{domain()}"
    assert event["SEQUENCE"] == appointment.version == 1
    assert event.decoded("DTSTART") == VISIT
    assert event.decoded("DTSTART").utcoffset() == dt.timedelta(0)
    assert event.decoded("DTEND") == VISIT + dt.timedelta(hours=1)
    assert "Bone marrow" not in event.to_ical().decode()


def test_it_keeps_the_subject_generic(smtp_mail, appointment, patient):
    reminders_dispatch()

    subject = str(smtp_mail.wait_for(1)[0]["Subject"])
    assert subject == "Your appointment is booked"
    for secret in ("Bone marrow", "biopsy", "Garcia", "1961", "12/04", "12 April"):
        assert secret.lower() not in subject.lower()


def test_it_gives_each_email_a_message_id_derived_from_its_row(smtp_mail, appointment):
    reminders_dispatch()

    confirmation = appointment.reminders.get(kind="booking_confirmation")
    assert smtp_mail.message_ids() == [f"<reminder-{confirmation.pk}@{domain()}>"]


def test_it_marks_the_row_sent_with_the_time(smtp_mail, appointment, clock):
    clock.move_to(NOW + dt.timedelta(seconds=30), tick=False)

    reminders_dispatch()

    confirmation = appointment.reminders.get(kind="booking_confirmation")
    assert confirmation.status == Reminder.Status.SENT
    assert confirmation.sent_at == NOW + dt.timedelta(seconds=30)
    assert (confirmation.attempts, confirmation.lease_until, confirmation.last_error) == (
        1,
        None,
        "",
    )
    later = appointment.reminders.exclude(kind="booking_confirmation")
    assert set(later.values_list("status", flat=True)) == {"pending"}


def test_it_names_the_procedure_only_for_a_patient_who_asked(smtp_mail, appointment, patient):
    patient.details_in_email = True
    patient.save()

    reminders_dispatch()

    text = parts(smtp_mail.wait_for(1)[0])["text/plain"].get_content()
    assert "What: Bone marrow aspiration and biopsy" in text


def test_it_writes_to_a_spanish_speaking_patient_in_spanish(smtp_mail, appointment, patient):
    patient.preferred_language = "es"
    patient.save()

    reminders_dispatch()

    text = parts(smtp_mail.wait_for(1)[0])["text/plain"].get_content()
    assert "lunes, 10 de marzo de 2025" in text.lower()


def test_it_sends_the_later_reminders_when_they_fall_due(smtp_mail, appointment, clock):
    reminders_dispatch()

    clock.move_to(clinic_datetime(dt.date(2025, 3, 8), dt.time(10, 0)), tick=False)
    reminders_dispatch()
    clock.move_to(clinic_datetime(dt.date(2025, 3, 9), dt.time(10, 0)), tick=False)
    reminders_dispatch()

    subjects = [str(m["Subject"]) for m in smtp_mail.wait_for(4)]
    assert subjects == [
        "Your appointment is booked",
        "Preparing for your appointment",  # the prep timeline's "bring your medicine list"
        "Please confirm who is taking you home",
        "Reminder: your appointment tomorrow",
    ]
    _confirmation, _prep, escort, day_before = smtp_mail.messages
    assert set(parts(escort)) == {"text/plain", "text/html"}
    for part in parts(escort).values():
        assert "Dear Maria," in part.get_content()
        assert "the name and phone number of the person taking you home" in part.get_content()
    assert set(parts(day_before)) == {"text/plain", "text/html"}
    for part in parts(day_before).values():
        assert "Monday 10 March 2025, 09:30" in part.get_content()
        assert "you must not drive home" in part.get_content()


def test_it_tells_the_patient_their_results_are_ready_without_the_results(
    smtp_mail, physician_user
):
    order = factories.TestOrderFactory(
        appointment__patient=PatientFactory(given_name="John", family_name="Okafor"),
        appointment__start_at=NOW - dt.timedelta(days=3),
        appointment__end_at=NOW - dt.timedelta(days=3, hours=-1),
        test_type__name="Flow cytometry",
    )
    # Planned by the results service when a physician reviews the result.
    plan.reminder_add(appointment=order.appointment, kind=Reminder.Kind.RESULTS_READY)

    report = reminders_dispatch()

    assert report.sent == 1
    [message] = smtp_mail.wait_for(1)
    assert str(message["Subject"]) == "A message from the clinic"
    leaves = parts(message)
    assert set(leaves) == {"text/plain", "text/html"}
    for part in leaves.values():
        body = part.get_content()
        assert "Your results are ready" in body
        for secret in ("Blasts", "23%", "abnormal", "Abnormal", "Flow cytometry", "Okafor"):
            assert secret not in body


def test_it_sends_a_calendar_cancel_for_a_cancelled_appointment(
    smtp_mail, appointment, frontdesk_user
):
    reminders_dispatch()
    appointment_cancel(appointment_id=appointment.pk, reason="Clinic closed", by=frontdesk_user)

    report = reminders_dispatch()

    assert report.sent == 1
    confirmation, cancellation = smtp_mail.wait_for(2)
    assert str(cancellation["Subject"]) == "Your appointment has been cancelled"
    assert parts(cancellation)["text/calendar"].get_param("method") == "CANCEL"
    calendar, event = calendar_event(cancellation)
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    # The same UID, so the patient's calendar removes the event it added.
    assert event["UID"] == calendar_event(confirmation)[1]["UID"]
    for part in parts(cancellation).values():
        if part.get_content_type() != "text/calendar":
            assert "Monday 10 March 2025" in part.get_content()


# --- Refusals and retries ----------------------------------------------------------


def test_it_retries_later_when_the_server_says_try_later(smtp_mail, appointment, clock):
    smtp_mail.scripted_replies = ["451 4.3.0 try later"]

    report = reminders_dispatch()

    assert (report.sent, report.retried) == (0, 1)
    confirmation = appointment.reminders.get(kind="booking_confirmation")
    assert confirmation.status == Reminder.Status.PENDING
    assert confirmation.due_at > NOW
    assert confirmation.attempts == 1
    assert confirmation.last_error.startswith("451")
    assert confirmation.lease_until is None
    assert smtp_mail.messages == []

    # Not before it is due again; then it goes out.
    assert reminders_dispatch().claimed == 0
    clock.move_to(confirmation.due_at, tick=False)
    assert reminders_dispatch().sent == 1
    confirmation.refresh_from_db()
    assert (confirmation.status, confirmation.attempts) == ("sent", 2)


def test_it_gives_up_at_once_when_the_server_refuses_the_address(smtp_mail, appointment, clock):
    smtp_mail.scripted_replies = ["550 5.1.1 no such user"]

    report = reminders_dispatch()

    assert report.failed == 1
    confirmation = appointment.reminders.get(kind="booking_confirmation")
    assert confirmation.status == Reminder.Status.FAILED
    assert confirmation.last_error.startswith("550")
    clock.move_to(NOW + dt.timedelta(hours=1), tick=False)
    assert reminders_dispatch().claimed == 0
    assert smtp_mail.messages == []


def test_it_gives_up_after_the_last_allowed_attempt(smtp_mail, settings):
    settings.REMINDER_MAX_ATTEMPTS = 2
    reminder = ReminderFactory(attempts=1)
    smtp_mail.scripted_replies = ["451 4.3.0 try later"]

    reminders_dispatch()

    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("failed", 2)
    assert reminder.last_error.startswith("gave up")


def test_it_retries_when_the_mail_server_cannot_be_reached(settings, appointment):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_TIMEOUT = 2

    report = reminders_dispatch()

    assert report.retried == 1
    confirmation = appointment.reminders.get(kind="booking_confirmation")
    assert (confirmation.status, confirmation.attempts) == ("pending", 1)


def test_it_carries_on_with_the_batch_after_one_refusal(smtp_mail):
    first, second = ReminderFactory(), ReminderFactory()
    smtp_mail.scripted_replies = ["550 5.1.1 no such user"]

    reminders_dispatch()

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("failed", "sent")
    assert smtp_mail.message_ids() == [f"<reminder-{second.pk}@{domain()}>"]


# --- What is not sent -----------------------------------------------------------------


def test_it_cancels_a_reminder_whose_appointment_was_cancelled(smtp_mail):
    reminder = ReminderFactory(
        kind=Reminder.Kind.DAY_BEFORE, appointment__status=Appointment.Status.CANCELLED
    )

    report = reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.CANCELLED
    assert report.cancelled == 1
    assert smtp_mail.messages == []


def test_it_cancels_a_reminder_planned_for_an_older_version(smtp_mail):
    reminder = ReminderFactory(appointment__version=2, appointment_version=1)

    reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.CANCELLED
    assert smtp_mail.messages == []


def test_it_skips_a_day_before_reminder_once_the_appointment_has_started(smtp_mail):
    reminder = ReminderFactory(
        kind=Reminder.Kind.DAY_BEFORE,
        due_at=NOW - dt.timedelta(days=1),
        appointment__start_at=NOW - dt.timedelta(minutes=5),
        appointment__end_at=NOW + dt.timedelta(minutes=55),
    )

    report = reminders_dispatch()

    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SKIPPED
    assert report.skipped == 1
    assert smtp_mail.messages == []


@pytest.mark.parametrize(
    "patient", [{"email": ""}, {"email_reminders": False}], ids=["no-email", "opted-out"]
)
@pytest.mark.parametrize("kind", [Reminder.Kind.BOOKING_CONFIRMATION, Reminder.Kind.CANCELLATION])
def test_it_skips_a_patient_who_gets_no_email(smtp_mail, patient, kind):
    status = Appointment.Status.CANCELLED if kind == "cancellation" else "scheduled"
    reminder = ReminderFactory(
        kind=kind,
        appointment__status=status,
        appointment__patient=PatientFactory(**patient),
    )

    report = reminders_dispatch()

    reminder.refresh_from_db()
    assert (reminder.status, reminder.sent_at) == (Reminder.Status.SKIPPED, None)
    assert report.skipped == 1
    assert smtp_mail.messages == []


def test_it_sends_nothing_twice(smtp_mail, appointment, clock):
    reminders_dispatch()
    clock.move_to(clinic_datetime(dt.date(2025, 3, 9), dt.time(12, 0)), tick=False)
    reminders_dispatch()

    report = reminders_dispatch()

    assert report.claimed == 0
    ids = smtp_mail.message_ids()
    assert len(ids) == 4
    assert len(set(ids)) == 4


def _booked_two_days_ahead(patient, frontdesk_user) -> Appointment:
    """A visit on Wednesday for a patient with a bleeding disorder, booked on Monday:
    "bring your medicine list" (7 days before) and "come in for a blood test" (3 days
    before) are both past, so both are due at once, "as soon as you can"."""
    patient.bleeding_disorder = True
    patient.save()
    start = clinic_datetime(dt.date(2025, 3, 5), dt.time(9, 30))
    return appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(name="Bone marrow aspiration"),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )


def test_two_prep_emails_that_read_alike_go_as_one(smtp_mail, patient, frontdesk_user):
    visit = _booked_two_days_ahead(patient, frontdesk_user)
    steps = visit.reminders.filter(kind=Reminder.Kind.PREP_STEP).order_by("pk")
    assert steps.count() == 2  # the medicine list and the blood test, both due now

    report = reminders_dispatch()

    subjects = [str(m["Subject"]) for m in smtp_mail.wait_for(2)]
    assert subjects == ["Your appointment is booked", "Preparing for your appointment"]
    text = parts(smtp_mail.messages[1])["text/plain"].get_content()
    assert "There is something to do to prepare for your appointment, as soon as you can." in text
    assert (report.sent, report.merged) == (2, 1)
    first, second = steps
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Reminder.Status.SENT, Reminder.Status.SENT)
    assert second.sent_at is not None
    assert second.skip_reason == f"same words as email {first.pk}: sent once"
    # Nothing is left to go out later: a second run sends nothing.
    assert reminders_dispatch().claimed == 0
    assert len(smtp_mail.messages) == 2


def test_twins_go_as_one_though_their_links_were_signed_seconds_apart(
    smtp_mail, patient, frontdesk_user, clock, monkeypatch
):
    """A link's token carries the second it was signed: two twins rendered across a
    second's edge differ only there, and are still one email."""
    _booked_two_days_ahead(patient, frontdesk_user)
    render = reminders_service.reminder_message

    def slow_render(*args, **kwargs):
        message = render(*args, **kwargs)
        clock.shift(dt.timedelta(seconds=2))
        return message

    monkeypatch.setattr(reminders_service, "reminder_message", slow_render)

    report = reminders_dispatch()

    assert (report.sent, report.merged) == (2, 1)
    assert [str(m["Subject"]) for m in smtp_mail.wait_for(2)] == [
        "Your appointment is booked",
        "Preparing for your appointment",
    ]


def test_prep_emails_that_name_their_steps_each_go(smtp_mail, patient, frontdesk_user):
    patient.details_in_email = True
    _booked_two_days_ahead(patient, frontdesk_user)

    report = reminders_dispatch()

    texts = [parts(m)["text/plain"].get_content() for m in smtp_mail.wait_for(3)[1:]]
    assert (report.sent, report.merged) == (3, 0)
    assert "bring the list with you on the day" in texts[0]
    assert "Come in for a blood test" in texts[1]


def test_it_leaves_a_row_another_dispatcher_is_sending_alone(smtp_mail):
    reminder = ReminderFactory(
        status=Reminder.Status.SENDING, attempts=1, lease_until=NOW + dt.timedelta(minutes=4)
    )

    assert reminders_dispatch().claimed == 0
    assert reminders_sweep() == 0
    reminder.refresh_from_db()
    assert reminder.status == Reminder.Status.SENDING
    assert smtp_mail.messages == []


def test_it_hands_back_rows_whose_lease_expired_and_then_sends_them(smtp_mail):
    stuck = ReminderFactory(
        status=Reminder.Status.SENDING,
        attempts=1,
        due_at=NOW - dt.timedelta(minutes=10),
        lease_until=NOW - dt.timedelta(seconds=settings.REMINDER_LEASE_GRACE_SECONDS + 1),
    )

    assert reminders_sweep() == 1

    stuck.refresh_from_db()
    assert (stuck.status, stuck.lease_until) == ("pending", None)
    reminders_dispatch()
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts) == ("sent", 2)
    assert smtp_mail.message_ids() == [f"<reminder-{stuck.pk}@{domain()}>"]


def test_it_sends_every_due_row_batch_by_batch(smtp_mail):
    reminders = ReminderFactory.create_batch(5)

    report = reminders_dispatch(batch_size=2)

    assert (report.claimed, report.sent) == (5, 5)
    assert len(smtp_mail.wait_for(5)) == 5
    assert {r.status for r in Reminder.objects.filter(pk__in=[r.pk for r in reminders])} == {"sent"}


def dispatch_queries(count: int) -> int:
    """Queries to dispatch `count` reminders of every kind about the visit."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    kinds = [k for k in Reminder.Kind if k != Reminder.Kind.RESULTS_READY]  # asks its orders
    for _ in range(count):
        appointment = factories.AppointmentFactory(patient=PatientFactory(details_in_email=True))
        for kind in kinds:
            ReminderFactory(appointment=appointment, kind=kind, step_at=VISIT)
    # A run records its heartbeat: the first run ever inserts that row, later ones update it.
    Heartbeat.objects.get_or_create(name="dispatcher", defaults={"last_run_at": NOW})
    with CaptureQueriesContext(connection) as queries:
        report = reminders_dispatch()
    assert report.sent == count * len(kinds)
    return len(queries)


def test_it_loads_a_batch_in_one_go_and_marks_each_row_with_one_update(smtp_mail, settings):
    settings.REMINDER_BATCH_SIZE = 200
    few = dispatch_queries(2)
    # Four visits more, ten emails each: one UPDATE per email (its mark), one read for
    # its "new time" email (whether the move withdrew a stop already emailed), and two
    # (the prep templates, the plan) for each of its fasting and day-before emails,
    # which say when to stop eating and drinking; and one (the medicines stopped) for
    # each of its stop, warning-signs and aftercare emails, which count them and say
    # when to start them again.
    assert dispatch_queries(6) == few + 4 * (11 + 2 * 2 + 3)


def test_it_records_each_run_for_the_health_check(smtp_mail):
    reminders_dispatch()

    assert Heartbeat.objects.get(name="dispatcher").last_run_at == NOW


@pytest.fixture
def connects(monkeypatch):
    """Every SMTP connection the dispatcher opens."""
    opened = []
    real_connect = smtplib.SMTP.connect

    def counting_connect(self, *args, **kwargs):
        opened.append(args)
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", counting_connect)
    return opened


def test_it_sends_a_batch_over_one_smtp_connection(smtp_mail, connects):
    ReminderFactory.create_batch(3)

    reminders_dispatch()

    assert len(smtp_mail.wait_for(3)) == 3
    assert len(connects) == 1


def test_it_reconnects_after_a_refusal_and_carries_on(smtp_mail, connects):
    ReminderFactory.create_batch(3)
    smtp_mail.scripted_replies = ["451 4.3.0 try later"]

    report = reminders_dispatch()

    assert (report.retried, report.sent) == (1, 2)
    assert len(connects) == 2


def test_it_retries_the_whole_batch_at_once_when_the_server_cannot_be_reached(settings, connects):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    reminders = ReminderFactory.create_batch(3)

    report = reminders_dispatch()

    # One try, not one timeout per row.
    assert len(connects) == 1
    assert report.retried == 3
    for reminder in reminders:
        reminder.refresh_from_db()
        assert (reminder.status, reminder.attempts, reminder.lease_until) == ("pending", 1, None)
        assert reminder.due_at == NOW + dt.timedelta(minutes=1)


def test_it_hands_back_what_it_cannot_send_before_its_lease_runs_out(
    smtp_mail, settings, clock, monkeypatch
):
    _first, *rest = ReminderFactory.create_batch(3)
    real_message = mail.reminder_message

    def slow_server(row, **kwargs):
        message = real_message(row, **kwargs)
        send = message.send

        def send_slowly(*args, **kwargs):
            sent = send(*args, **kwargs)
            # The mail server took its time: the lease is nearly over.
            lease = dt.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)
            clock.move_to(NOW + lease - dt.timedelta(seconds=5), tick=False)
            return sent

        message.send = send_slowly
        return message

    monkeypatch.setattr(reminders_service, "reminder_message", slow_server)

    report = reminders_dispatch()

    assert (report.sent, report.released) == (1, 2)
    for reminder in rest:
        reminder.refresh_from_db()
        assert (reminder.status, reminder.attempts, reminder.lease_until) == ("pending", 0, None)
    monkeypatch.undo()
    assert reminders_dispatch().sent == 2
    assert len(set(smtp_mail.message_ids())) == 3


def test_it_does_not_touch_a_row_the_sweep_gave_to_another_run(smtp_mail, monkeypatch):
    reminder = ReminderFactory()
    other_lease = NOW + dt.timedelta(minutes=30)
    real_message = mail.reminder_message

    def message_while_swept(row, **kwargs):
        # Meanwhile the sweep handed the row back and another run claimed it.
        Reminder.objects.filter(pk=row.pk).update(lease_until=other_lease)
        return real_message(row, **kwargs)

    monkeypatch.setattr(reminders_service, "reminder_message", message_while_swept)

    reminders_dispatch()

    reminder.refresh_from_db()
    assert (reminder.status, reminder.lease_until) == ("sending", other_lease)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_skips_rows_another_dispatcher_has_locked_instead_of_waiting(postgres):
    import threading

    from django.db import connection, transaction

    from procedures.messaging.dispatch import reminders_claim

    locked, free = ReminderFactory(), ReminderFactory()
    holding, release = threading.Event(), threading.Event()

    def other_dispatcher():
        try:
            with transaction.atomic():
                Reminder.objects.select_for_update().get(pk=locked.pk)
                holding.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=other_dispatcher)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        claimed = reminders_claim(now=NOW, limit=10)
    finally:
        release.set()
        thread.join(timeout=30)

    assert claimed == [free.pk]
    locked.refresh_from_db()
    assert locked.status == Reminder.Status.PENDING


def test_a_spanish_speaking_patient_gets_every_part_in_spanish(smtp_mail, appointment, patient):
    patient.preferred_language = "es"
    patient.save()

    reminders_dispatch()

    [message] = smtp_mail.wait_for(1)
    assert str(message["Subject"]) == "Su cita está reservada"
    for part in ("text/plain", "text/html"):
        body = parts(message)[part].get_content()
        assert "Estimado/a Maria:" in body
        assert "Confirme que vendrá" in body
        assert "Your appointment" not in body


def test_the_compiled_spanish_catalogue_matches_its_source(tmp_path):
    """locale/es/LC_MESSAGES/django.mo is committed: it must be compiled from the .po."""
    import gettext
    import shutil
    import subprocess

    if not shutil.which("msgfmt"):
        pytest.skip("needs msgfmt (apt-get install -y gettext)")
    locale = settings.LOCALE_PATHS[0] / "es" / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", fresh, locale / "django.po"], check=True)

    def catalogue(path):
        with open(path, "rb") as handle:
            return gettext.GNUTranslations(handle)._catalog

    assert catalogue(locale / "django.mo") == catalogue(fresh)


# --- Runs: every worker process joins a large batch; no run outlives its time limit ----


def test_a_run_whose_first_batch_is_full_wakes_one_more(smtp_mail):
    ReminderFactory.create_batch(5)
    wakes = []

    report = reminders_dispatch(batch_size=2, more_due=lambda: wakes.append("wake"))

    assert report.sent == 5
    # One wake-up when the first batch came back full (another process may join in).
    assert wakes == ["wake"]


def test_a_small_batch_wakes_nobody(smtp_mail):
    ReminderFactory.create_batch(1)
    wakes = []

    reminders_dispatch(batch_size=2, more_due=lambda: wakes.append("wake"))

    assert wakes == []


def test_a_run_hands_on_to_a_fresh_one_when_its_time_is_up(smtp_mail, settings, clock):
    settings.REMINDER_RUN_SECONDS = 0  # up after the first batch
    reminders = ReminderFactory.create_batch(5)
    wakes = []

    report = reminders_dispatch(batch_size=2, more_due=lambda: wakes.append("wake"))

    # One batch sent; woken twice: a peer for the full first batch, a successor now.
    assert (report.claimed, report.sent) == (2, 2)
    assert wakes == ["wake", "wake"]
    left = Reminder.objects.filter(pk__in=[r.pk for r in reminders], status="pending")
    assert left.count() == 3
    assert reminders_dispatch(batch_size=10).sent == 3
