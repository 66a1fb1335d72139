"""The daily open-loops report in a real browser, axe-core on each page: a visit left
in procedure on an earlier day, a lost sample replaced from the order page (the front
desk tasked to book the recollection), an escalation with nobody to email shown as an
alarm; the physician signs the day off."""

from datetime import time, timedelta

import pytest
from playwright.sync_api import Page, expect

from .test_results_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_open_loops_report(page: Page, live_server, demo_clinic, check_a11y, screenshot, settings):
    from procedures.catalog.clock import clinic_datetime, clinic_today
    from procedures.catalog.resources import Provider
    from procedures.results.escalations import escalations_run
    from procedures.results.models import TestOrder
    from procedures.scheduling.models import Appointment

    settings.RESULTS_CLINIC_LEAD_EMAILS = []  # nobody to email: the alarm shows
    today = clinic_today()
    # A procedure started three days ago and never completed.
    visit = Appointment.objects.filter(status=Appointment.Status.SCHEDULED).first()
    start = clinic_datetime(today - timedelta(days=3), time(7, 0))
    Appointment.objects.filter(pk=visit.pk).update(
        status=Appointment.Status.IN_PROCEDURE,
        start_at=start,
        end_at=start + timedelta(minutes=45),
        blocked_from=start,
        blocked_until=start + timedelta(minutes=45),
    )
    Provider.objects.filter(display_name="Dr Adeyemi").update(user=None)
    escalations_run()
    order = TestOrder.objects.filter(status__in=TestOrder.PENDING_STATUSES).first()

    base = live_server.url
    log_in(page, base, "physician")
    expect(page.get_by_role("alert")).to_contain_text("nobody to email")

    # --- Replace a lost sample from the order page -----------------------------------
    page.goto(f"{base}/results/{order.pk}/")
    page.get_by_text("Cancel or replace this test…").click()
    replace = page.get_by_role("region", name="Replace (the test is still needed)")
    replace.get_by_label("Why").select_option(label="Sample lost")
    replace.get_by_label("A new sample must be taken").check()
    check_a11y(page, "the order page with cancel and replace")
    replace.get_by_role("button", name="Replace the order").click()
    expect(page.get_by_role("status").first).to_contain_text("Order replaced")
    expect(page.get_by_text(f"Replaces order {order.pk}").first).to_be_visible()

    # --- The report ------------------------------------------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Open loops").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Open loops")
    not_ended = page.get_by_role("region", name="Visits not ended")
    expect(not_ended.get_by_role("link", name=f"Visit {visit.pk}")).to_be_visible()
    nobody = page.get_by_role("region", name="Escalations without a recipient")
    expect(nobody.get_by_role("listitem").first).to_be_visible()
    check_a11y(page, "the open-loops report")
    screenshot(page, "open-loops")

    # Issue 18: the day is the network's, signed off from "All sites" (the demo has two).
    expect(page.get_by_text("choose “All sites” in the header")).to_be_visible()
    menu = page.get_by_role("button", name="Menu")
    if menu.is_visible():
        menu.click()
    page.get_by_label("Site", exact=True).select_option(label="All sites")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("status").first).to_contain_text("Showing all sites.")
    page.get_by_label("Note (optional)").fill("Visit chased with the nurse in charge.")
    page.get_by_role("button", name="Sign off this day").click()
    expect(page.get_by_role("status").last).to_contain_text("Signed off by Sam Lee at")
    check_a11y(page, "the signed-off report")
