"""The email helper (clinic/mail.py): three templates into Django's
EmailMultiAlternatives, sent through Django's own backends."""

import pytest
from django.core import mail as django_mail
from django.core.mail import EmailMultiAlternatives, get_connection

from clinic.mail import build_email, calendar_attachment

pytestmark = pytest.mark.django_db

HOSTILE = 'O\'Brien <b>&amp; "Zoë" %(x)s {{ y }}'
ICS = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def context(**values) -> dict:
    return {
        "first_name": "Maria",
        "date": "Monday 10 March 2025",
        "time": "09:30",
        "clinic_name": "Riverside Procedure Clinic",
        "clinic_phone": "020 7946 0000",
        "clinic_address": "2 Riverside Walk, London",
        "sedated": False,
        "procedure_name": "",
        "links": {"details": "https://clinic.test/p/details/abc:def/"},
        **values,
    }


def parts(message) -> dict:
    return {p.get_content_type(): p for p in message.walk() if not p.is_multipart()}


def test_it_builds_djangos_own_message_with_a_text_and_an_html_part():
    message = build_email("day_before", context(), to=["maria@example.com"])

    assert type(message) is EmailMultiAlternatives
    assert message.subject == "Reminder: your appointment tomorrow"
    assert "Maria" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Maria" in html


def test_it_escapes_a_value_in_html_but_not_in_the_text_part():
    message = build_email("day_before", context(first_name=HOSTILE), to=["x@example.com"])

    assert HOSTILE in message.body
    html = message.alternatives[0][0]
    assert HOSTILE not in html
    assert "O&#x27;Brien &lt;b&gt;&amp;amp; &quot;Zoë&quot;" in html


def test_it_renders_in_the_recipients_language():
    message = build_email("day_before", context(), to=["x@example.com"], language="es")

    assert "Maria" in message.body
    assert message.subject != "Reminder: your appointment tomorrow"


def test_it_sends_through_the_configured_backend_with_its_message_id_and_invite():
    build_email(
        "booking_confirmation",
        context(),
        to=["maria@example.com"],
        message_id="<reminder-7@clinic.test>",
        attachments=[calendar_attachment(ICS, method="REQUEST", filename="appointment.ics")],
    ).send()

    [sent] = django_mail.outbox
    parsed = sent.message()
    assert parsed["Message-ID"] == "<reminder-7@clinic.test>"
    invite = parts(parsed)["text/calendar"]
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "appointment.ics"
    assert invite.get_payload(decode=True) == ICS


def test_a_real_smtp_server_receives_every_part(smtp_mail):
    with get_connection() as connection:
        build_email(
            "booking_confirmation",
            context(first_name="Zoë"),
            to=["zoë@example.com"],
            message_id="<reminder-8@clinic.test>",
            attachments=[calendar_attachment(ICS, method="REQUEST", filename="appointment.ics")],
            connection=connection,
        ).send()

    [received] = smtp_mail.wait_for(1)
    assert str(received["Message-ID"]) == "<reminder-8@clinic.test>"
    leaves = parts(received)
    assert "Zoë" in leaves["text/plain"].get_content()
    assert "Zoë" in leaves["text/html"].get_content()
    assert leaves["text/calendar"].get_param("method") == "REQUEST"
    assert leaves["text/calendar"].get_payload(decode=True) == ICS
