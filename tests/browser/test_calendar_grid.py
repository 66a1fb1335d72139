"""The calendar's time grid in a real browser: by mouse and by keyboard, booking from a
free time, axe at a laptop's 1280 px and a tablet's 820 px, and the screenshots the
README shows."""

import re
from datetime import date, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import demo_today_cleared
from .test_main_flow import flash, label, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def next_monday() -> date:
    from procedures.catalog.clock import clinic_today

    day = clinic_today() + timedelta(days=7)
    return day - timedelta(days=day.weekday())


@pytest.fixture
def monday_morning(time_machine):
    """A Monday at 10:20 in the clinic, the clock running (so the pages and the server
    agree), set before the demo clinic is seeded around 'today'."""
    from procedures.catalog.clock import clinic_datetime

    monday = next_monday()
    time_machine.move_to(clinic_datetime(monday, time(10, 20)), tick=True)
    return monday


def a_busy_morning(day: date) -> None:
    """Today's visits in several states, and Dr Adeyemi away in the afternoon."""
    from patients.models import Patient
    from procedures.catalog.choices import SedationLevel
    from procedures.catalog.clock import clinic_datetime
    from procedures.catalog.hours import Unavailability
    from procedures.catalog.models import ProcedureType
    from procedures.catalog.resources import Provider, Room
    from procedures.scheduling.models import Appointment

    demo_today_cleared(day)
    lee = Provider.objects.get(display_name="Dr Lee")
    adeyemi = Provider.objects.get(display_name="Dr Adeyemi")
    room1 = Room.objects.get(name="Procedure room 1")
    room2 = Room.objects.get(name="Procedure room 2")
    biopsy = ProcedureType.objects.get(code="bm-biopsy")
    aspiration = ProcedureType.objects.get(code="bm-aspiration")
    patients = list(Patient.objects.order_by("pk"))
    visits = [
        (patients[0], lee, room1, time(8, 30), biopsy, SedationLevel.LOCAL, "completed"),
        (patients[1], adeyemi, room2, time(9, 30), aspiration, SedationLevel.LOCAL, "checked_in"),
        (patients[2], lee, room1, time(11, 0), biopsy, SedationLevel.IV_MODERATE, "confirmed"),
    ]
    for patient, provider, room, at, procedure, sedation, status in visits:
        start = clinic_datetime(day, at)
        before, after = procedure.buffers(sedation)
        Appointment.objects.create(
            patient=patient,
            procedure_type=procedure,
            provider=provider,
            room=room,
            start_at=start,
            end_at=start + timedelta(minutes=procedure.default_duration_minutes),
            buffer_before_minutes=before,
            buffer_after_minutes=after,
            sedation_level=sedation,
            status=status,
        )
    Unavailability.objects.create(
        provider=adeyemi,
        starts_at=clinic_datetime(day, time(13, 0)),
        ends_at=clinic_datetime(day, time(18, 0)),
        reason=Unavailability.Reason.TRAINING,
    )


def test_the_calendar_grid_by_mouse_and_keyboard(
    page: Page, live_server, monday_morning, demo_clinic, check_a11y, screenshot
):
    a_busy_morning(monday_morning)
    base = live_server.url
    log_in(page, base, "frontdesk", check_a11y)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    grid = page.get_by_role("grid")
    expect(grid).to_be_visible()
    expect(grid.get_by_role("columnheader", name=re.compile("Dr Lee"))).to_be_visible()
    away = re.compile("08:00-18:00; Away: 13:00-18:00 training")
    expect(grid.get_by_role("columnheader", name=away)).to_be_visible()
    # Visits as blocks, with their status and sedation in words; the buffers drawn.
    visit = grid.get_by_role("link", name=re.compile("11:00.*Confirmed.*IV moderate sedation"))
    expect(visit).to_be_visible()
    expect(grid.locator(".tg-setup").first).to_contain_text("Set-up")
    expect(grid.locator(".tg-after").first).to_contain_text("Turnover")
    expect(grid.locator(".tg-now")).to_have_count(2)  # a line across both columns
    expect(grid.locator(".tg-away").first).to_contain_text("Away (training or conference)")
    check_a11y(page, "the clinic's day as a time grid at 1280 px")
    screenshot(page, "calendar-grid")

    page.set_viewport_size({"width": 820, "height": 1180})
    expect(grid).to_be_visible()
    check_a11y(page, "the clinic's day as a time grid at 820 px")
    screenshot(page, "calendar-grid-820")
    page.set_viewport_size({"width": 1280, "height": 800})

    # --- Keyboard: one tab stop, arrows move, Enter books the free time -----------------
    current = grid.locator('[role="gridcell"][tabindex="0"]')
    expect(current).to_have_count(1)
    current.focus()
    start_row = int(current.get_attribute("data-row"))
    page.keyboard.press("ArrowDown")
    focused = page.locator('[role="gridcell"]:focus')
    expect(focused).to_have_attribute("data-row", str(start_row + 1))
    page.keyboard.press("ArrowRight")
    expect(focused).to_have_attribute("data-col", "1")
    page.keyboard.press("ArrowLeft")
    expect(focused).to_have_attribute("data-col", "0")
    # Down Dr Adeyemi's column (the first) to 12:00, a free time ahead of now.
    while focused.get_attribute("data-row") != str(grid_row(page, "12:00")):
        page.keyboard.press("ArrowDown")
    expect(focused).to_have_class(re.compile("tg-free"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a procedure")
    expect(page.get_by_label(label("Physician"))).to_have_value(provider_pk("Dr Adeyemi"))
    expect(page.get_by_label(label("Start"))).to_have_value("12:00")
    expect(page.get_by_label(label("Date"))).to_have_value(monday_morning.isoformat())
    expect(page.get_by_label(label("Room"))).not_to_have_value("")
    page.go_back()

    # Enter on a visit opens it.
    expect(grid).to_be_visible()
    grid.locator('[role="gridcell"]').filter(has=page.locator("a.tg-visit-link")).first.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Bone marrow"))
    page.go_back()

    # --- Mouse: a free time in Dr Lee's column, booked there -------------------------
    gap = grid.get_by_role("link", name="Book 14:00 · Dr Lee")
    gap.click()
    expect(page.get_by_label(label("Physician"))).to_have_value(provider_pk("Dr Lee"))
    expect(page.get_by_label(label("Start"))).to_have_value("14:00")
    check_a11y(page, "the booking form opened from the calendar")
    page.get_by_label("Find the patient").fill("Garcia")
    page.get_by_role("button", name="Search", exact=True).click()
    page.get_by_role("button", name=re.compile("Garcia")).click()
    # Choosing the patient keeps the time chosen on the calendar.
    expect(page.get_by_label(label("Start"))).to_have_value("14:00")
    expect(page.get_by_label(label("Patient MRN"))).not_to_have_value("")
    page.get_by_label(label("Procedure")).select_option(label="Bone marrow aspiration")
    page.get_by_role("button", name="Book appointment").click()
    # Garcia came this morning: asked, not refused, and her visits are listed.
    warning = page.locator("#nearby-warning")
    expect(warning).to_contain_text("This patient already has a visit that day")
    expect(page.get_by_role("region", name="This patient's bookings")).to_be_visible()
    check_a11y(page, "the booking form asking about a second visit")
    warning.get_by_role("button", name="Yes, book it as well").click()
    expect(flash(page)).to_contain_text("Appointment booked")

    # The week of one physician and one room, chosen in the one "Show" box.
    page.goto(f"{base}/calendar/")
    page.get_by_label("Show").select_option(label="Procedure room 1")
    page.get_by_label("Period").select_option(label="Week")
    page.get_by_role("button", name="Show calendar").click()
    title = page.get_by_role("heading", level=2, name=re.compile("Procedure room 1"))
    expect(title).to_be_visible()
    expect(page.get_by_role("grid").get_by_role("columnheader")).to_have_count(8)
    expect(page.get_by_role("grid")).to_contain_text("Garcia")
    check_a11y(page, "a room's week as a time grid")
    page.get_by_label("Show").select_option(label="Dr Lee")
    page.get_by_role("button", name="Show calendar").click()
    expect(page.get_by_role("heading", level=2, name=re.compile("Dr Lee"))).to_be_visible()
    screenshot(page, "calendar-week")
    check_a11y(page, "a physician's week as a time grid")


def grid_row(page: Page, hhmm: str) -> int:
    """The data-row of the grid's row for this time."""
    header = page.get_by_role("rowheader", name=hhmm, exact=True)
    return int(header.locator("xpath=following-sibling::*[1]").get_attribute("data-row"))


def provider_pk(name: str) -> str:
    from procedures.catalog.resources import Provider

    return str(Provider.objects.get(display_name=name).pk)


def test_find_a_patient_and_book_the_next_slot_in_three_clicks_and_two_page_loads(
    page: Page, live_server, monday_morning, demo_clinic, check_a11y, screenshot
):
    """The front desk's commonest job from any page: the header look-up (answered in
    place), "Next free slots" (the finder opens with the slots for the patient's usual
    procedure), one slot: three clicks, two full page loads."""
    base = live_server.url
    log_in(page, base, "frontdesk", check_a11y)
    page.goto(f"{base}/calendar/")
    expect(page.get_by_role("grid")).to_be_visible()

    loads = []
    page.on("load", lambda: loads.append(page.url))
    clicks = 0

    page.get_by_role("searchbox", name="Look up a patient").fill("garcia")
    page.get_by_role("button", name="Look up").click()
    clicks += 1
    found = page.locator("#header-lookup-results")
    expect(found.get_by_role("link", name=re.compile("^Garcia, Maria"))).to_be_visible()
    check_a11y(page, "the header look-up's results")
    found.get_by_role("link", name=re.compile("^Next free slots")).first.click()
    clicks += 1
    expect(page.get_by_role("heading", level=1)).to_have_text("Find a slot")
    slots = page.get_by_role("button", name=re.compile(r"^Book \d\d:\d\d"))
    expect(slots.first).to_be_visible()
    check_a11y(page, "the slot finder opened from a patient")
    screenshot(page, "slot-finder-from-patient")
    slots.first.click()
    clicks += 1
    expect(flash(page)).to_contain_text("Appointment booked")

    assert clicks <= 4
    assert len(loads) == 2, loads


def test_a_nurse_ticks_the_day_of_checklists_without_a_page_load(
    page: Page, live_server, monday_morning, demo_clinic, check_a11y, screenshot
):
    a_busy_morning(monday_morning)
    base = live_server.url
    log_in(page, base, "nurse", check_a11y)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Checklists").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Day-of checklists")
    check_a11y(page, "the day-of checklists at 1280 px")
    loads = []
    page.on("load", lambda: loads.append(page.url))

    row = page.get_by_role("row").filter(has_text="Khan, Aisha")
    row.get_by_role("button", name=re.compile("^Consent")).click()
    expect(row).to_contain_text("\u2713 Consent")
    expect(row).to_contain_text("Nia Nurse 10:")
    row.get_by_role("button", name=re.compile("^Fasting")).click()
    expect(row).to_contain_text("\u2713 Fasting")
    assert loads == []  # each tick saved in place
    page.set_viewport_size({"width": 820, "height": 1180})
    check_a11y(page, "the day-of checklists at 820 px")
    screenshot(page, "day-checklists")
