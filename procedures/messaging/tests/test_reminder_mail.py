"""What a reminder email says (messaging/mail.py): every kind, in both languages, as
its templates render it, with the invite where one belongs."""

import datetime as dt

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from icalendar import Calendar

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.messaging.ics import appointment_uid
from procedures.messaging.mail import (
    INVITE_KINDS,
    clinic_context,
    message_id_for,
    reminder_context,
    reminder_message,
)
from procedures.messaging.models import Reminder
from procedures.tests.factories import (
    AppointmentFactory,
    ReminderFactory,
    RoomFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db


def variants():
    for language in ("en", "es"):
        for details in (False, True):
            for sedation in (SedationLevel.LOCAL, SedationLevel.IV_MODERATE):
                yield language, details, sedation


def rendered(kind: str, context: dict, language: str) -> tuple[str, ...]:
    with translation.override(language):
        return tuple(
            render_to_string(f"emails/{kind}/{part}", context)
            for part in ("subject.txt", "body.txt", "body.html")
        )


@pytest.mark.parametrize("kind", list(Reminder.Kind))
def test_every_kind_reads_as_its_templates_render_it(kind, time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC), tick=False)
    for language, details, sedation in variants():
        patient = PatientFactory(
            given_name="O'Brien <b>&amp;", preferred_language=language, details_in_email=details
        )
        reminder = ReminderFactory(
            kind=kind,
            appointment=AppointmentFactory(patient=patient, sedation_level=sedation),
            step_text="Stop warfarin & <aspirin>",
            step_detail="5 mg",
            step_at=dt.datetime(2025, 3, 8, 18, 0, tzinfo=dt.UTC),
        )
        subject, text, html = rendered(kind, reminder_context(reminder), language)

        message = reminder_message(reminder)

        assert message.subject == " ".join(subject.split())
        assert message.body == text
        assert message.alternatives[0][0] == html
        assert message.to == [patient.email]
        assert message.extra_headers["Message-ID"] == message_id_for(reminder)
        assert "O'Brien <b>&amp;" in text
        assert "O&#x27;Brien &lt;b&gt;&amp;amp;" in html


@pytest.mark.parametrize("kind", list(Reminder.Kind))
def test_the_invite_goes_with_the_kinds_that_carry_one(kind, time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 3, 8, 0, tzinfo=dt.UTC), tick=False)
    reminder = ReminderFactory(kind=kind)

    message = reminder_message(reminder).message()

    invites = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    if kind not in INVITE_KINDS:
        assert invites == []
        return
    [invite] = invites
    assert invite.get_param("method") == INVITE_KINDS[kind]
    assert invite.get_filename() == "appointment.ics"
    calendar = Calendar.from_ical(invite.get_payload(decode=True))
    assert str(calendar["METHOD"]) == INVITE_KINDS[kind]
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == appointment_uid(reminder.appointment)


def test_the_clinic_context_is_what_every_patient_email_names():
    site = SiteFactory(name="Riverside", address="2 Riverside Walk", phone="0113 496 0999")
    reminder = ReminderFactory(appointment__room=RoomFactory(site=site))

    context = reminder_context(reminder)

    # The visit's own site (issue 18), not the network's settings.
    assert clinic_context(reminder.appointment).items() <= context.items()
    assert (context["clinic_name"], context["clinic_address"], context["clinic_phone"]) == (
        "Riverside",
        "2 Riverside Walk",
        "0113 496 0999",
    )


@pytest.mark.parametrize("language", ["en", "es"])
def test_dates_and_times_read_as_django_formats_them_in_clinic_time(language):
    from django.utils import formats

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
            long_date = translation.gettext("l j F Y")  # each language's own
            expected = (
                formats.date_format(local, long_date),
                formats.time_format(local, "H:i"),
                formats.date_format(step, long_date),
                formats.time_format(step, "H:i"),
            )
        assert (context["date"], context["time"], context["step_date"], context["step_time"]) == (
            expected
        )


@pytest.mark.parametrize(
    ("kind", "en", "es"),
    [
        (
            Reminder.Kind.FASTING,
            "Please do not eat anything from now until your appointment.",
            "No coma nada desde ahora hasta su cita.",
        ),
        (
            Reminder.Kind.MEDICATION_HOLD,
            "stop a medicine before your appointment, starting now.",
            "deje de tomar un medicamento antes de su cita, a partir de ahora.",
        ),
        (
            Reminder.Kind.PREP_STEP,
            "There is something to do to prepare for your appointment, as soon as you can.",
            "Hay algo que hacer para prepararse para su cita, lo antes posible.",
        ),
    ],
)
def test_a_step_whose_time_had_passed_when_booked_reads_as_now_not_as_a_blank(kind, en, es):
    """A step planned "as soon as possible" has no time (a visit booked at 07:00 for
    11:00, sedated: its fast began at 05:00). The email said "Please stop eating from
    on , before your appointment."."""
    for language, expected in (("en", en), ("es", es)):
        patient = PatientFactory(preferred_language=language)
        reminder = ReminderFactory(
            kind=kind,
            appointment=AppointmentFactory(patient=patient, sedation_level="iv_moderate"),
            step_at=None,
        )

        message = reminder_message(reminder)

        for part in (message.body, message.alternatives[0][0]):
            assert expected in " ".join(part.split()), (language, part)
            assert " on ," not in part and "starting ." not in part and "from ." not in part
            assert " del ." not in part and "las  del" not in part


@pytest.mark.parametrize(
    ("language", "written"),
    [("en", "Tuesday 8 December 2026"), ("es", "martes, 8 de diciembre de 2026")],
)
def test_a_date_in_words_is_written_as_the_patients_language_writes_it(language, written):
    """Spanish wrote "martes 8 diciembre 2026", English's order in Spanish words."""
    start = dt.datetime(2026, 12, 8, 10, 0, tzinfo=dt.UTC)
    reminder = ReminderFactory(
        appointment=AppointmentFactory(
            patient=PatientFactory(preferred_language=language),
            start_at=start,
            end_at=start + dt.timedelta(hours=1),
        ),
        step_at=start - dt.timedelta(hours=6),
    )

    context = reminder_context(reminder)

    assert (context["date"], context["step_date"]) == (written, written)


@pytest.mark.parametrize(
    ("language", "summary"),
    [("en", "Appointment at Riverside"), ("es", "Cita en Riverside")],
)
def test_the_invite_is_named_in_the_patients_language(language, summary):
    """The calendar entry a Spanish reader saw was "Appointment at ..."."""
    reminder = ReminderFactory(
        kind=Reminder.Kind.BOOKING_CONFIRMATION,
        appointment=AppointmentFactory(
            patient=PatientFactory(preferred_language=language),
            room=RoomFactory(site=SiteFactory(name="Riverside")),
        ),
    )

    message = reminder_message(reminder).message()

    [invite] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(invite.get_payload(decode=True)).walk("VEVENT")
    assert str(event["SUMMARY"]) == summary
