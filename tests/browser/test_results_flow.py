"""Results follow-up in a real browser, axe-core on every new page: complete a
procedure with its sample form, log a final result with findings and a PDF, review
it, record that the patient was told; the analytics page."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

# It opens the turnaround analytics, which read on the `replica` alias.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])

# A one-page PDF that pypdf reads (clinic/pdf.py parses uploads).
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
    b"trailer<</Root 1 0 R>>\nstartxref\n0\n%%EOF\n"
)


def label(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\*?\s*$")


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_results_flow(
    page: Page, live_server, demo_clinic, check_a11y, screenshot, settings, tmp_path, time_machine
):
    from patients.models import Patient
    from procedures.messaging.models import Reminder
    from procedures.results.models import TestOrder
    from procedures.scheduling import lifecycle

    settings.CLINIC_PRIVATE_DIR = tmp_path / "private"
    base = live_server.url
    # The server's clock moves to the morning of tomorrow's biopsy, when the patient
    # arrives (a sample cannot be taken before the check-in); it keeps ticking.
    novak_visit = Patient.objects.get(family_name="Novak").appointments.get()
    time_machine.move_to(novak_visit.start_at - timedelta(minutes=10), tick=True)
    log_in(page, base, "physician")
    nav = page.get_by_role("navigation", name="Main")

    # --- Complete tomorrow's biopsy: the sample form, a future time refused ---------
    novak = Patient.objects.get(family_name="Novak")
    visit = novak.appointments.get()
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=None)
    visit.refresh_from_db()
    visit.status = visit.Status.IN_PROCEDURE  # the procedure is under way
    visit.save(update_fields=["status"])
    page.goto(f"{base}/appointments/{visit.pk}/")
    page.get_by_role("button", name="Mark procedure completed").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete the procedure")
    check_a11y(page, "the sample form")
    expect(page.get_by_role("checkbox", name="Core biopsy histology")).to_be_checked()
    expect(page.get_by_role("checkbox", name="FISH panel")).not_to_be_checked()
    page.get_by_role("checkbox", name="FISH panel").check()
    page.get_by_label(label("Side")).select_option(label="Right")
    page.get_by_label(label("Collected at")).fill("2099-01-01T09:00")
    page.get_by_role("button", name="Complete procedure and open test orders").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The collection time is in the future")
    check_a11y(page, "the sample form with an error")
    assert not TestOrder.objects.filter(appointment=visit).exists()
    an_hour_ago = timezone.localtime() - timedelta(hours=1)
    page.get_by_label(label("Collected at")).fill(an_hour_ago.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Complete procedure and open test orders").click()
    expect(summary).to_contain_text("cannot have been taken before the patient checked in")
    page.get_by_label(label("Collected at")).fill(timezone.localtime().strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Complete procedure and open test orders").click()
    expect(page.get_by_role("status").filter(has_text="Procedure completed")).to_be_visible()
    codes = set(
        TestOrder.objects.filter(appointment=visit).values_list("test_type__code", flat=True)
    )
    assert "fish" in codes
    assert TestOrder.objects.filter(appointment=visit, specimen_side="right").count() == len(codes)

    # --- The worklist: mine, with the count in the navigation -----------------------
    nav.get_by_role("link", name=re.compile("Pending results")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pending results")
    # The count, loaded by htmx after the page (the Today board's link has a badge too).
    pending_link = nav.get_by_role("link", name=re.compile("Pending results"))
    expect(pending_link.locator(".badge")).to_be_visible()
    check_a11y(page, "the worklist with filters and buckets")
    screenshot(page, "results-worklist")
    garcia = Patient.objects.get(family_name="Garcia")
    order = TestOrder.objects.get(appointment__patient=garcia, test_type__code="core-histology")
    row = page.get_by_role("row").filter(has_text="Garcia").filter(has_text="Core biopsy histology")
    row.get_by_role("link", name=re.compile("Log result")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Core biopsy histology")
    check_a11y(page, "the order page")

    # --- Log a final result with findings and the lab's PDF -------------------------
    page.get_by_role("radio", name="Abnormal", exact=True).check()
    page.get_by_label(label("Cellularity")).select_option(label="Hypercellular")
    page.get_by_label(label("Fibrosis")).select_option(label="Mild")
    page.get_by_label(label("Report"), exact=True).fill("Hypercellular marrow, mild fibrosis.")
    page.get_by_label(label("Report (PDF)")).set_input_files(
        files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"not a pdf"}]
    )
    page.get_by_label(label("Final result")).check()
    page.get_by_role("button", name="Log result").click()
    expect(page.get_by_role("alert")).to_contain_text("This file is not a PDF")
    check_a11y(page, "the result form with a bad upload")
    page.get_by_label(label("Report (PDF)")).set_input_files(
        files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_role("button", name="Log result").click()
    expect(page.get_by_role("status").filter(has_text="Result logged")).to_be_visible()
    # You land on the result you logged; the list is one click away.
    expect(page.get_by_role("heading", level=1)).to_have_text("Core biopsy histology")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Pending results")
    ).click()
    row = page.get_by_role("row").filter(has_text="Garcia").filter(has_text="Core biopsy histology")
    expect(row).to_contain_text("Final: needs review")

    # --- Review: the action planned is required --------------------------------------
    row.get_by_role("link", name=re.compile("Review")).click()
    expect(page.get_by_role("link", name="Lab report (PDF)")).to_be_visible()
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_role("alert")).to_contain_text("The review was not saved")
    check_a11y(page, "the review form with an error")
    page.get_by_label(label("Action planned")).fill("Refer to haematology; discuss at clinic.")
    # An abnormal result: the physician calls (the default), no "results ready" email.
    page.get_by_role("radio", name=re.compile("I will call")).check()
    page.get_by_role("button", name="Mark reviewed").click()
    expect(page.get_by_role("status").filter(has_text="Result reviewed")).to_be_visible()
    assert not Reminder.objects.filter(appointment=order.appointment, kind="results_ready")
    assert order.appointment.call_tasks.filter(reason="results_call", status="open").exists()
    check_a11y(page, "the order page after the review")
    screenshot(page, "results-order")

    # --- Tell the patient ---------------------------------------------------------
    page.get_by_role("radio", name="By phone").check()
    page.get_by_role("button", name="Record that the patient was told").click()
    expect(
        page.get_by_role("status").filter(has_text="Recorded that the patient was told")
    ).to_be_visible()
    expect(page.locator("main")).to_contain_text("Patient told")
    order.refresh_from_db()
    assert (order.status, order.communicated_how) == ("communicated", "phone")

    # --- Gone from the worklist; the book link is prefilled ---------------------------
    nav.get_by_role("link", name=re.compile("Pending results")).click()
    rows = (
        page.get_by_role("row").filter(has_text="Garcia").filter(has_text="Core biopsy histology")
    )
    expect(rows).to_have_count(0)

    # --- Analytics --------------------------------------------------------------------
    page.get_by_role("link", name="Turnaround analytics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Turnaround analytics")
    expect(page.locator("svg.turnaround-chart")).to_be_visible()
    check_a11y(page, "the analytics page")
    screenshot(page, "results-analytics")
