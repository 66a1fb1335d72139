"""What a reminder email says (services/reminder_mail.py): the shortcuts the dispatcher
takes to write one must give exactly what the full renderers give."""

import datetime as dt

import pytest

from clinic import mail
from clinic.tests.test_mail import django_bytes
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.messaging.ics import appointment_ics
from procedures.messaging.mail import (
    _ical_line,
    appointment_invite,
    reminder_context,
    reminder_message,
)
from procedures.messaging.models import Reminder
from procedures.tests.factories import AppointmentFactory, ReminderFactory

pytestmark = pytest.mark.django_db

AWKWARD = [
    ("Maria", "maria.garcia@example.com"),
    ('Jo, "Ann"; x:y', "a.very.long.address.that.goes.on.and.on@subdomain.example-hospital.co.uk"),
    ("Zoë <Ñúñez> & ^co", "zoe@example.com"),
    ("Maximiliana Concepción de la Santísima Trinidad", "maximiliana.concepcion@example.es"),
    ("Sam", ""),
]


@pytest.fixture(autouse=True)
def fresh_layouts(monkeypatch):
    monkeypatch.setattr(mail, "_layouts", {})
    monkeypatch.setattr(mail, "_skeletons", {})


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
@pytest.mark.parametrize(("given_name", "email"), AWKWARD)
def test_the_invite_is_byte_for_byte_what_icalendar_writes(time_machine, method, given_name, email):
    time_machine.move_to(dt.datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=dt.UTC), tick=False)
    appointment = AppointmentFactory(patient=PatientFactory(given_name=given_name, email=email))
    appointment.version = 3

    assert appointment_invite(appointment, method=method) == appointment_ics(
        appointment, method=method
    )


def test_an_invite_line_is_folded_exactly_where_icalendar_folds_it():
    from icalendar.parser import Contentline

    for length in range(70, 80):
        for filler in ("a", "ñ", "€", "\\"):
            line = ("X:" + filler * length)[:length]
            assert _ical_line(line) == Contentline(line).to_ical()


def variants():
    for language in ("en", "es"):
        for details in (False, True):
            for sedation in (SedationLevel.LOCAL, SedationLevel.IV_MODERATE):
                yield language, details, sedation


@pytest.mark.parametrize("kind", list(Reminder.Kind))
def test_every_kind_reads_exactly_as_its_templates_render_it(kind, time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC), tick=False)
    for language, details, sedation in variants():
        # Twice per shape: the second email is filled into the first one's layout.
        for given_name in ("Maria", "O'Brien <b>&amp;"):
            patient = PatientFactory(
                given_name=given_name, preferred_language=language, details_in_email=details
            )
            reminder = ReminderFactory(
                kind=kind,
                appointment=AppointmentFactory(patient=patient, sedation_level=sedation),
                step_text="Stop warfarin & <aspirin>",
                step_detail="5 mg",
                step_at=dt.datetime(2025, 3, 8, 18, 0, tzinfo=dt.UTC),
            )
            context = reminder_context(reminder)
            subject, text, html = mail._render_in_full(kind, context, language)

            message = reminder_message(reminder)

            assert message.subject == " ".join(subject.split())
            assert message.body == text
            assert message.alternatives[0][0] == html
    assert all(layout.pieces for layout in mail._layouts.values())


@pytest.mark.parametrize("language", ["en", "es"])
def test_dates_and_times_read_as_django_formats_them_in_clinic_time(language):
    from django.utils import formats, translation

    from procedures.catalog.clock import clinic_tz

    for start in (
        dt.datetime(2025, 3, 30, 0, 30, tzinfo=dt.UTC),  # the night the clocks go forward
        dt.datetime(2025, 10, 26, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 31, 9, 5, tzinfo=dt.UTC),
    ):
        patient = PatientFactory(preferred_language=language)
        reminder = ReminderFactory(
            appointment=AppointmentFactory(patient=patient, start_at=start),
            step_at=start - dt.timedelta(days=1, minutes=7),
        )
        context = reminder_context(reminder)
        with translation.override(language):
            local, step = start.astimezone(clinic_tz()), reminder.step_at.astimezone(clinic_tz())
            expected = (
                formats.date_format(local, "l j F Y"),
                formats.time_format(local, "H:i"),
                formats.date_format(step, "l j F Y"),
                formats.time_format(step, "H:i"),
            )
        assert (context["date"], context["time"], context["step_date"], context["step_time"]) == (
            expected
        )


@pytest.mark.parametrize("kind", list(Reminder.Kind))
def test_every_reminder_goes_out_byte_for_byte_as_django_writes_it(kind, time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC), tick=False)
    for language in ("en", "es"):
        for details in (False, True):
            # Several per shape: the first is checked against Django, the rest are not.
            for given_name, email in AWKWARD[:-1]:
                patient = PatientFactory(
                    given_name=given_name,
                    email=email,
                    preferred_language=language,
                    details_in_email=details,
                )
                reminder = ReminderFactory(
                    kind=kind,
                    appointment=AppointmentFactory(patient=patient),
                    step_text="Stop warfarin & <aspirin> «pronto»",
                    step_detail="5 mg",
                    step_at=dt.datetime(2025, 3, 8, 18, 0, tzinfo=dt.UTC),
                )

                message = reminder_message(reminder).freeze()

                assert isinstance(message.message(), mail.PrebuiltMessage)
                assert message.message().as_bytes(linesep="\r\n") == django_bytes(message)
    assert all(skeleton.pieces for skeleton in mail._skeletons.values())
