"""The header's site switcher (issue 18) at 1280 and 820 px: labelled, used with the
keyboard alone, axe clean (WCAG 2 A/AA); the calendar shows the chosen site's rooms;
"All sites" is offered to the roles allowed it only."""

import pytest
from playwright.sync_api import Page, expect

from .test_header import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def open_menu(page: Page) -> None:
    toggler = page.get_by_role("button", name="Menu")
    if toggler.is_visible():
        toggler.click()
        expect(toggler).to_have_attribute("aria-expanded", "true")


@pytest.mark.parametrize("width", (1280, 820))
def test_the_front_desk_switches_site_with_the_keyboard(
    page: Page, live_server, demo_clinic, check_a11y, screenshot, width
):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "frontdesk")
    page.goto(f"{live_server.url}/calendar/?show=rooms")
    open_menu(page)
    site = page.get_by_label("Site", exact=True)
    expect(site).to_be_visible()
    expect(site).to_have_value(
        str(site.locator("option", has_text="Riverside").get_attribute("value"))
    )
    expect(site.locator("option", has_text="All sites")).to_have_count(0)
    expect(page.locator("#main")).to_contain_text("Procedure room 1")
    expect(page.locator("#main")).not_to_contain_text("Northgate room 1")
    check_a11y(page, f"switcher at {width} px")

    site.focus()
    site.select_option(label="Northgate Satellite Clinic")
    page.keyboard.press("Tab")
    switch = page.get_by_role("button", name="Switch")
    expect(switch).to_be_focused()
    page.keyboard.press("Enter")

    page.wait_for_url("**/calendar/?show=rooms")
    expect(page.get_by_role("status")).to_contain_text("Showing Northgate Satellite Clinic.")
    expect(page.locator("#main")).to_contain_text("Northgate room 1")
    expect(page.locator("#main")).not_to_contain_text("Procedure room 1")
    open_menu(page)
    expect(page.get_by_label("Site", exact=True)).to_have_value(
        str(site.locator("option", has_text="Northgate").get_attribute("value"))
    )
    check_a11y(page, f"after the switch at {width} px")
    screenshot(page, f"site-switcher-{width}")


def test_a_physician_may_choose_all_sites(page: Page, live_server, demo_clinic, check_a11y):
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url, "physician")
    page.goto(f"{live_server.url}/calendar/?show=rooms")
    open_menu(page)
    page.get_by_label("Site", exact=True).select_option(label="All sites")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("status")).to_contain_text("Showing all sites.")
    expect(page.locator("#main")).to_contain_text("Procedure room 1")
    expect(page.locator("#main")).to_contain_text("Northgate room 1")
    check_a11y(page, "all sites")
