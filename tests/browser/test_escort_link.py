"""A patient confirms their escort through the link in the email they received,
in a real browser, with axe-core on every page; the email's HTML part is
screenshotted for the README (CLINIC_SCREENSHOTS=1)."""

import re
from datetime import date, time, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import add_working_days, clinic_datetime, clinic_today
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book

pytestmark = pytest.mark.django_db(transaction=True)


def parts(message) -> dict:
    return {p.get_content_type(): p for p in message.walk() if not p.is_multipart()}


@pytest.fixture
def escort_email(live_server, smtp_mail, settings, frontdesk_user):
    """Book a sedated patient, make the escort request due, and let the dispatcher
    send it to the real SMTP server; links point at the live server."""
    settings.SITE_URL = live_server.url
    patient = PatientFactory(
        given_name="Maria",
        family_name="Garcia",
        date_of_birth=date(1961, 4, 12),
        email="maria@example.com",
    )
    # Five working days ahead: a weekday whatever day the suite runs.
    start = clinic_datetime(add_working_days(clinic_today(), 5, set()), time(10, 0))
    appointment = appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(display_name="Dr Lee"),
        room=RoomFactory(),
        start_at=start,
        end_at=start + timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )
    # Nothing but the escort request goes out now.
    appointment.reminders.exclude(kind=Reminder.Kind.ESCORT_REQUEST).update(status="cancelled")
    appointment.reminders.filter(kind=Reminder.Kind.ESCORT_REQUEST).update(due_at=timezone.now())
    assert reminders_dispatch().sent == 1
    [message] = smtp_mail.wait_for(1)
    return appointment, message


def test_a_patient_confirms_their_escort_through_the_emailed_link(
    page: Page, escort_email, check_a11y, screenshot
):
    appointment, message = escort_email
    assert str(message["Subject"]) == "Please confirm who is taking you home"
    text = parts(message)["text/plain"].get_content()
    [link] = re.findall(r"https?://\S+/p/escort/\S+/", text)

    # The HTML part, as a mail client shows it (for the README).
    page.set_content(parts(message)["text/html"].get_content())
    expect(page.get_by_role("link", name="Tell us who is taking you home")).to_be_visible()
    check_a11y(page, "the escort request email")
    screenshot(page, "email")

    page.goto(link)
    expect(page.get_by_role("heading", name="Check it is you")).to_be_visible()
    expect(page.get_by_text("Garcia")).to_have_count(0)
    check_a11y(page, "the date-of-birth page")

    page.get_by_label("Your date of birth").fill("01/01/1970")
    page.keyboard.press("Enter")
    expect(page.get_by_text("does not match our records")).to_be_visible()
    check_a11y(page, "the date-of-birth page with an error")

    page.get_by_label("Your date of birth").fill("12/04/1961")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Who is taking you home?")).to_be_visible()
    expect(page.get_by_text("Dr Lee")).to_be_visible()
    check_a11y(page, "the escort page")

    page.get_by_label("Name of the person taking you home").fill("Ana Garcia")
    page.get_by_label("Their phone number").fill("07700 900123")
    page.get_by_role("button", name="Confirm the person taking me home").click()
    expect(page.get_by_text("we have noted who is taking you home")).to_be_visible()
    check_a11y(page, "the thank-you page")

    appointment = Appointment.objects.get(pk=appointment.pk)
    assert appointment.escort_name == "Ana Garcia"
    assert appointment.escort_confirmed_at is not None

    # The link was single-use: opening it again gives the friendly page.
    page.goto(link)
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    check_a11y(page, "the page for a used link")


def test_the_front_desk_resends_a_refused_email_from_the_outbox(
    page: Page, live_server, frontdesk_user, check_a11y
):
    from procedures.tests.factories import ReminderFactory

    from .conftest import PASSWORD

    refused = ReminderFactory(status=Reminder.Status.FAILED, attempts=1, last_error="550")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(frontdesk_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Patient emails").click()
    expect(page.get_by_text("1 email could not be delivered")).to_be_visible()
    check_a11y(page, "the patient emails list")

    page.get_by_label("Status").select_option("flagged")
    page.get_by_role("button", name="Filter").click()
    # "Resend…" opens the question (a disclosure), then its button sends: by keyboard.
    page.locator("summary", has_text=re.compile(r"^Resend")).focus()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Yes, send it again")
    expect(confirm).to_be_visible()
    check_a11y(page, "the resend question")
    confirm.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("will be sent again in a moment")).to_be_visible()
    check_a11y(page, "the patient emails list after a resend")

    refused.refresh_from_db()
    assert refused.resolved_by == frontdesk_user
    assert Reminder.objects.filter(status="pending", kind=refused.kind).count() == 1
