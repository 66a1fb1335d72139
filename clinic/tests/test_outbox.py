"""The local outbox: LocalOutboxBackend writes .eml files, /outbox/ shows them (DEBUG only)."""

import pytest
from django.core import mail

from clinic.mail import build_email, calendar_attachment

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox(settings, tmp_path):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
    settings.CLINIC_OUTBOX_DIR = tmp_path / "outbox"
    return settings.CLINIC_OUTBOX_DIR


def send_confirmation(first_name: str, to: str, message_id: str) -> None:
    build_email(
        "booking_confirmation",
        {"first_name": first_name, "date": "Monday 10 March 2025", "time": "09:30"},
        to=[to],
        message_id=message_id,
        attachments=[
            calendar_attachment(
                b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                method="REQUEST",
                filename="appointment.ics",
            )
        ],
    ).send()


def test_it_keeps_each_outgoing_email_as_an_eml_file(outbox):
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")
    send_confirmation("John", "john@example.com", "<reminder-2@clinic.test>")

    files = sorted(outbox.iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]
    assert b"Message-ID: <reminder-1@clinic.test>" in files[0].read_bytes()


def test_it_lists_the_outbox_newest_first(outbox, frontdesk_client):
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")
    send_confirmation("John", "john@example.com", "<reminder-2@clinic.test>")

    response = frontdesk_client.get("/outbox/")

    assert response.status_code == 200
    listed = list(response.context["page"])
    assert [m.to for m in listed] == ["john@example.com", "maria@example.com"]
    page = response.content.decode()
    assert "Your appointment is booked" in page
    assert f'href="/outbox/{listed[0].name}/"' in page


def test_it_shows_an_email_with_its_text_part_and_attachments(outbox, nurse_client):
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")
    name = next(outbox.iterdir()).name

    response = nurse_client.get(f"/outbox/{name}/")

    assert response.status_code == 200
    message = response.context["message"]
    assert message.message_id == "<reminder-1@clinic.test>"
    assert message.attachments == [("appointment.ics", "text/calendar")]
    page = response.content.decode()
    assert "Dear Maria," in page
    assert "When: Monday 10 March 2025, 09:30" in page
    assert "appointment.ics (text/calendar)" in page


def test_it_serves_the_html_part_sandboxed(outbox, physician_client):
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")
    name = next(outbox.iterdir()).name

    response = physician_client.get(f"/outbox/{name}/html/")

    assert response.status_code == 200
    assert "<p>Dear Maria,</p>" in response.content.decode()
    assert response["Content-Security-Policy"].startswith("sandbox;")
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_it_says_so_when_nothing_was_sent(outbox, frontdesk_client):
    response = frontdesk_client.get("/outbox/")

    assert "No email has been sent yet." in response.content.decode()


def test_it_answers_404_for_a_file_that_is_not_in_the_outbox(outbox, frontdesk_client, tmp_path):
    (tmp_path / "secret.eml").write_text("Subject: not yours\n\nx")
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")

    assert frontdesk_client.get("/outbox/secret.eml/").status_code == 404
    assert frontdesk_client.get("/outbox/..%2Fsecret.eml/").status_code == 404


@pytest.mark.parametrize("suffix", ["", "{name}/", "{name}/html/"])
def test_it_hides_the_outbox_when_debug_is_off(outbox, settings, frontdesk_client, suffix):
    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")
    name = next(outbox.iterdir()).name
    settings.DEBUG = False

    response = frontdesk_client.get("/outbox/" + suffix.format(name=name))

    assert response.status_code == 404


def test_it_hides_the_outbox_when_mail_really_goes_out(outbox, settings, frontdesk_client):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"

    assert frontdesk_client.get("/outbox/").status_code == 404


def test_it_renders_every_email_with_a_text_and_an_html_part(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    send_confirmation("Maria", "maria@example.com", "<reminder-1@clinic.test>")

    [message] = mail.outbox
    assert message.subject == "Your appointment is booked"
    assert "Dear Maria," in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "Dear Maria," in html
