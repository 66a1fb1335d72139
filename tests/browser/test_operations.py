"""The operations dashboard in a real browser: a clinic admin opens it from the
menu, reads each chart's figures in its table, downloads a table as CSV and
corrects a bad period; axe-core (WCAG 2 A/AA) at a laptop's 1280 px and a tablet's
820 px. The page reads from the `replica` alias, which mirrors `default` here."""

import csv
import io
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from .test_results_flow import log_in

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])


def test_operations_dashboard(page: Page, live_server, demo_clinic, check_a11y, screenshot):
    from django.utils import timezone

    from procedures.catalog.clock import clinic_today
    from procedures.scheduling.models import Appointment

    # Of the demo's three past visits, the last two become a cancellation for want of
    # an escort and a no-show (the first keeps its results).
    today = clinic_today()
    _first, second, third = Appointment.objects.filter(start_at__lt=timezone.now())
    Appointment.objects.filter(pk=second.pk).update(
        status=Appointment.Status.CANCELLED,
        cancel_reason_code=Appointment.CancelReason.NO_ESCORT,
    )
    Appointment.objects.filter(pk=third.pk).update(status=Appointment.Status.NO_SHOW)

    base = live_server.url
    log_in(page, base, "admin")
    # A clinic admin (the demo's is also the superuser) starts in the admin site; the
    # clinic's own pages have the Manage menu.
    page.goto(f"{base}/audit/")
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("button", name="Manage").click()  # the admin's pages are in one menu
    menu.get_by_role("link", name="Operations").click()
    page.set_viewport_size({"width": 1280, "height": 900})
    expect(page.get_by_role("heading", level=1)).to_have_text("Operations")
    start = today - timedelta(days=27)
    expect(page.get_by_label("From", exact=True)).to_have_value(start.isoformat())
    for chart in ("Utilisation per room", "No-show rate per week", "Cancelled visits per reason"):
        expect(page.get_by_role("img", name=chart)).to_be_visible()
    cancellations = page.get_by_role("region", name="Cancellations table")
    expect(
        cancellations.get_by_role("row", name="No escort to take the patient home")
    ).to_be_visible()
    check_a11y(page, "the operations dashboard at 1280 px")
    screenshot(page, "operations-1280")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download cancellations (CSV)").click()
    with open(download.value.path(), encoding="utf-8") as saved:
        rows = list(csv.reader(io.StringIO(saved.read())))
    assert rows[0] == ["Reason", "Cancelled visits", "Share of cancellations (%)"]
    assert any(r[0] == "No escort to take the patient home" and int(r[1]) >= 1 for r in rows)

    page.set_viewport_size({"width": 820, "height": 1180})
    check_a11y(page, "the operations dashboard at 820 px")
    screenshot(page, "operations-820")

    # The end before the start: said in words, linked to the field; nothing shown.
    page.get_by_label("To", exact=True).fill((start - timedelta(days=1)).isoformat())
    page.get_by_role("button", name="Show").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The end date must not be before the start date.")
    expect(page.get_by_role("img", name="Utilisation per room")).to_have_count(0)
    check_a11y(page, "the dashboard's filter error at 820 px")
    alert.get_by_role("link", name="To").click()
    expect(page.get_by_label("To", exact=True)).to_be_focused()
