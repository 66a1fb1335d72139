"""The header fits at 1440, 1366, 1280, 820 and 390 px: the links in the bar from
1400 px (wrapping inside it for a long menu), a menu button below; the patient look-up
always in the bar, without opening the menu; "Log out" always
inside the dark bar, no sideways scrolling; axe (WCAG 2 A/AA, colour contrast included)
at each width."""

import os

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])
WIDTHS = (1440, 1366, 1280, 820, 390)
MAIN_PAGES = {
    "frontdesk": ["/today/", "/calendar/", "/appointments/", "/patients/", "/reminders/"],
    "nurse": ["/results/", "/today/", "/waitlist/"],
    "physician": ["/results/", "/results/turnaround/"],
    "admin": ["/audit/", "/reminders/"],
}
SHOTS = os.environ.get("CLINIC_HEADER_SHOTS", "")  # a folder: save 1280 and 820 px screenshots


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def assert_header_fits(page: Page, where: str, *, lookup: bool = True) -> None:
    header = page.locator("header nav").bounding_box()
    width = page.viewport_size["width"]
    scroll = page.evaluate("document.documentElement.scrollWidth")
    if scroll > width:
        wide = page.evaluate(
            """w => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w)
                .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.id)""",
            width,
        )
        pytest.fail(f"{where}: the page is {scroll} px wide in a {width} px window: {wide}")
    logout = page.get_by_role("button", name="Log out")
    toggler = page.get_by_role("button", name="Menu")
    # The patient look-up is in the bar at every width, the menu folded or not, for the
    # roles that open patient records (not the clinic admin).
    searchbox = page.get_by_role("searchbox", name="Look up a patient")
    if not lookup:
        expect(searchbox).to_have_count(0)
    else:
        expect(searchbox).to_be_visible()
        box = searchbox.bounding_box()
        assert header["y"] <= box["y"]
        assert box["y"] + box["height"] <= header["y"] + header["height"]
    if width >= 1400:
        expect(toggler).to_be_hidden()
        # Links, look-up and account inside the bar: at most two rows (a long menu wraps
        # inside the bar, never out of it).
        assert header["height"] < 130, f"{where}: the header is {header['height']} px tall"
    else:
        expect(logout).to_be_hidden()
        toggler.click()
        expect(toggler).to_have_attribute("aria-expanded", "true")
        header = page.locator("header nav").bounding_box()
    expect(logout).to_be_visible()
    box = logout.bounding_box()
    assert header["y"] <= box["y"] and box["y"] + box["height"] <= header["y"] + header["height"], (
        f"{where}: Log out is outside the header"
    )
    assert box["x"] + box["width"] <= width, f"{where}: Log out is off the screen"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_header_fits_and_passes_axe_at_each_width(
    page: Page, live_server, demo_clinic, check_a11y, width
):
    page.set_viewport_size({"width": width, "height": 900})
    for username, paths in MAIN_PAGES.items():
        page.context.clear_cookies()
        log_in(page, live_server.url, username)
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            where = f"{username} {path} at {width} px"
            check_a11y(page, where)
            assert_header_fits(page, where, lookup=username != "admin")
            if width < 1400:  # the menu button was pressed: axe again, the menu open
                check_a11y(page, f"{where}, menu open")
            if SHOTS and width in (1280, 820) and path == paths[0]:
                page.screenshot(path=f"{SHOTS}/{username}-{width}.png")
