"""Scheduling in a real browser, axe-core on every new page: the front desk finds a
slot and books it with one click, pages the week calendar from the keyboard,
reschedules from the calendar, and checks the today board, waitlist and day sheet."""

import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def flash(page: Page):
    return page.locator('.alert[role="status"]')


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_book_via_the_slot_finder_and_reschedule_via_the_calendar(
    page: Page, live_server, demo_clinic, check_a11y, screenshot
):
    from patients.models import Patient
    from procedures.catalog.clock import clinic_tz
    from procedures.catalog.resources import Provider
    from procedures.scheduling.models import Appointment

    base = live_server.url
    garcia = Patient.objects.get(family_name="Garcia")
    lee = Provider.objects.get(display_name="Dr Lee")
    log_in(page, base, "frontdesk")
    nav = page.get_by_role("navigation", name="Main")

    # --- The today board and its count in the navigation --------------------------
    # A sedated patient later today whose escort nobody has confirmed yet.
    from datetime import timedelta

    from django.utils import timezone

    from procedures.catalog.choices import SedationLevel
    from procedures.tests.factories import AppointmentFactory

    start = timezone.now().astimezone(clinic_tz()).replace(hour=23, minute=0, second=0)
    AppointmentFactory(
        patient=Patient.objects.get(family_name="Khan"),
        provider=Provider.objects.get(display_name="Dr Adeyemi"),
        start_at=start,
        end_at=start + timedelta(minutes=30),
        sedation_level=SedationLevel.IV_MODERATE,
    )
    page.reload()
    # Aisha Khan, and the demo's Daniel Kowalski (confirmed for 15:00 today).
    expect(nav.get_by_role("link", name=re.compile("^Today"))).to_contain_text("2 expected")
    nav.get_by_role("link", name=re.compile("^Today")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    row = page.get_by_role("row").filter(has_text="Khan, Aisha")
    expect(row.get_by_role("link", name=re.compile("^Escort not confirmed"))).to_have_attribute(
        "href", re.compile(r"/prep/#transport$")
    )
    check_a11y(page, "the today board")

    # --- Slot finder: search the patient (htmx, POST), find, book in one click -----
    nav.get_by_role("link", name="Appointments").click()
    page.get_by_role("link", name="Find a slot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a slot")
    check_a11y(page, "the empty slot finder")
    page.get_by_label("Find the patient").fill("garc")
    page.get_by_role("button", name="Search").click()
    choice = page.get_by_role("radio", name=re.compile(f"Garcia, Maria · MRN {garcia.mrn}"))
    expect(choice).to_be_checked()
    assert "garc" not in page.url  # the term never reaches a URL
    check_a11y(page, "the slot finder with search results")
    page.get_by_label(re.compile(r"^\s*Procedure\*?\s*$")).select_option(
        label="Bone marrow aspiration"
    )
    page.get_by_label(re.compile(r"^\s*Physician\s*$")).select_option(label="Dr Lee")
    page.get_by_role("button", name="Find slots").click()
    slots = page.get_by_role("button", name=re.compile(r"^Book \d\d:\d\d"))
    expect(slots.first).to_be_visible()
    check_a11y(page, "the slot finder with free slots")
    screenshot(page, "slot-finder")
    slots.first.click()
    expect(flash(page)).to_contain_text("Appointment booked")
    booked = Appointment.objects.filter(patient=garcia).latest("created_at")
    assert booked.provider == lee and booked.version == 1
    expect(page).to_have_url(re.compile(rf"/appointments/{booked.pk}/$"))
    check_a11y(page, "the appointment booked from the slot finder")

    # --- Week calendar for Dr Lee; page with the keyboard (htmx) ------------------
    day = booked.start_at.astimezone(clinic_tz()).date()
    nav.get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Calendar")
    check_a11y(page, "the whole-clinic day")
    page.get_by_label("Show").select_option(label="Dr Lee")  # one box, one choice
    page.get_by_label("Period").select_option(label="Week")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_role("button", name="Show calendar").click()
    calendar = page.locator("#calendar")
    expect(calendar.get_by_role("heading", level=2)).to_contain_text("Week of")
    card = (
        calendar.locator(".tg-visit")
        .filter(has_text="Garcia, Maria")
        .filter(has_text=booked.start_at.astimezone(clinic_tz()).strftime("%H:%M"))
    )
    expect(card).to_be_visible()
    expect(card).to_contain_text("Scheduled")  # status in words, not colour alone
    expect(card).to_contain_text("Local anaesthetic only")
    check_a11y(page, "the week calendar")
    screenshot(page, "week")
    title = calendar.get_by_role("heading", level=2)
    first_title = title.inner_text()
    page.locator("body").press("ArrowRight")
    expect(title).not_to_have_text(first_title)
    expect(title).to_be_focused()  # the new week is announced
    assert "date=" in page.url  # htmx pushed the new week into the address bar
    page.keyboard.press("ArrowLeft")
    expect(title).to_have_text(first_title)

    # --- Reschedule from the calendar ---------------------------------------------
    card.get_by_role("link", name=re.compile("^Reschedule")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reschedule")
    check_a11y(page, "the reschedule page")
    moves = page.get_by_role("button", name=re.compile("^Move to"))
    expect(moves.first).to_be_visible()
    moves.first.click()
    expect(flash(page)).to_contain_text("Moved to")
    booked.refresh_from_db()
    assert booked.version == 2
    expect(page.locator("main")).to_contain_text("Rescheduled")
    check_a11y(page, "the rescheduled appointment")

    # --- Day sheet and waitlist -----------------------------------------------------
    page.goto(
        f"{base}/calendar/print/?by=provider&id={lee.pk}&date="
        f"{booked.start_at.astimezone(clinic_tz()).date().isoformat()}"
    )
    expect(page.get_by_role("heading", level=1)).to_contain_text("Day sheet")
    expect(page.get_by_role("table")).to_contain_text("Garcia, Maria")
    check_a11y(page, "the day sheet")
    page.emulate_media(media="print")
    expect(page.locator("header")).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    page.emulate_media(media="screen")
    nav.get_by_role("link", name="Waitlist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Waitlist")
    check_a11y(page, "the waitlist")
