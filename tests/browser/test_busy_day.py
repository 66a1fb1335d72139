"""A network's busy day in a real browser, axe-core on every new state: the today
board a page at a time with its filters and one shared check-in form, and the whole
clinic's day ten physicians at a time, paged with htmx and from the keyboard."""

import re
from datetime import time, timedelta

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def busy_day(count: int) -> None:
    """`count` arrivals today, five minutes apart from 08:00, each with its own
    physician (named in order) and room."""
    from patients.tests.factories import PatientFactory
    from procedures.catalog.choices import SedationLevel
    from procedures.catalog.clock import clinic_datetime, clinic_today
    from procedures.tests.factories import AppointmentFactory, ProviderFactory, RoomFactory

    first = clinic_datetime(clinic_today(), time(8, 0))
    for i in range(count):
        start = first + timedelta(minutes=5 * i)
        AppointmentFactory(
            patient=PatientFactory(family_name=f"Busy{i:02d}", given_name="Ann"),
            provider=ProviderFactory(display_name=f"Dr Busy {i:02d}"),
            room=RoomFactory(name=f"Busy room {i:02d}"),
            start_at=start,
            end_at=start + timedelta(minutes=5),
            sedation_level=SedationLevel.LOCAL,
        )


def test_a_busy_day_pages_on_the_board_and_the_clinic_calendar(
    page: Page, live_server, demo_clinic, check_a11y
):
    busy_day(55)
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill("frontdesk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/today/$"))

    # --- The board: a page of arrivals, the day's counts, pages named by time --------
    page.goto(f"{base}/today/?page=1")
    pages = page.get_by_role("navigation", name="Pages of the day, by time")
    expect(pages).to_be_visible()
    expect(pages.locator('[aria-current="page"]')).to_have_text(
        re.compile(r"^\d\d:\d\d\u2013\d\d:\d\d$")
    )
    expect(page.locator("main")).to_contain_text(re.compile(r"\d+ appointments today\."))
    expect(page.get_by_role("row").filter(has_text="Busy00, Ann")).to_be_visible()
    check_a11y(page, "the today board, first of several pages")

    # One shared form checks in whichever row's button is pressed, back to this page.
    page.get_by_role("button", name="Check in Busy00, Ann").click()
    expect(page.locator('.alert[role="status"]')).to_contain_text("Patient checked in.")
    expect(page).to_have_url(re.compile(r"/today/\?page=1$"))
    row = page.get_by_role("row").filter(has_text="Busy00, Ann")
    expect(row).to_contain_text("Checked in")
    expect(row.get_by_role("button", name=re.compile("^Check in"))).to_have_count(0)

    # Filters: one physician, from the keyboard-usable selects.
    page.get_by_label("Physician").select_option(label="Dr Busy 07")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row")).to_have_count(2)  # the header and Busy07
    expect(page.get_by_role("row").nth(1)).to_contain_text("Busy07, Ann")
    check_a11y(page, "the today board, filtered")
    page.get_by_label("Show", exact=True).select_option(label="No-show")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).to_contain_text("No arrival today matches these filters.")
    page.get_by_role("link", name="Show everyone").first.click()
    expect(pages).to_be_visible()

    # --- The whole clinic's day: ten physicians a page, htmx and the keyboard --------
    page.goto(f"{base}/calendar/")
    title = page.locator("#calendar-title")
    expect(title).to_contain_text(re.compile(r"physicians 1 to 10 of \d+"))
    check_a11y(page, "the whole clinic's day, first page of physicians")
    page.get_by_role("link", name=re.compile("^Next physicians")).click()
    expect(title).to_contain_text(re.compile(r"physicians 11 to 20 of \d+"))
    expect(title).to_be_focused()  # the new page is announced
    assert "page=2" in page.url  # htmx pushed it into the address bar
    check_a11y(page, "the whole clinic's day, second page of physicians")
    first_title = title.inner_text()
    page.keyboard.press("ArrowRight")  # the next day, same physicians
    expect(title).not_to_have_text(first_title)
    expect(title).to_contain_text("physicians 11 to 20")
    assert "page=2" in page.url

    # Twenty physicians a page, for a wide screen: chosen once, kept while paging.
    page.get_by_role("navigation", name="Physicians a page").get_by_role("link", name="20").click()
    expect(title).to_contain_text(re.compile(r"physicians 1 to 20 of \d+"))
    assert "per_page=20" in page.url
    expect(page.locator('[role="columnheader"].tg-head:not(.tg-corner)')).to_have_count(20)
    check_a11y(page, "the whole clinic's day, twenty physicians a page")
    page.get_by_role("link", name=re.compile("^Next physicians")).click()
    expect(title).to_contain_text(re.compile(r"physicians 21 to 40 of \d+"))
