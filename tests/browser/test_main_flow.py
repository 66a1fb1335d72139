"""The clinic's main flow in a real browser, with axe-core run on every page visited.

Front desk registers a patient and books a bone marrow biopsy under IV sedation;
a clashing booking is refused without naming the other patient; the physician
completes the procedure and logs a result that then leaves the worklist.
"""

import re
from datetime import time, timedelta

import pytest
from django.utils import dateformat
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

GIVEN, FAMILY = "Ruth", "Ellery"


def label(text: str) -> re.Pattern:
    """A field's label as crispy-forms renders it: the text, then '*' when required.

    Playwright matches a pattern against the label's raw text, so allow whitespace.
    """
    return re.compile(rf"^\s*{re.escape(text)}\*?\s*$")


def flash(page: Page):
    """The message after an action (other live regions, e.g. readiness, are status too)."""
    return page.locator('.alert[role="status"]')


def log_in(page: Page, base_url: str, username: str, check_a11y) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    check_a11y(page, f"the first page after logging in as {username}")


def test_static_files_are_served(page: Page, live_server, demo_clinic, check_a11y):
    """Bootstrap and the clinic's CSS load through live_server's static finders."""
    page.goto(f"{live_server.url}/accounts/login/")
    check_a11y(page, "the login page")
    button = page.get_by_role("button", name="Log in")
    # Bootstrap's .btn-primary: white on Bootstrap blue (an unstyled button is grey).
    expect(button).to_have_css("color", "rgb(255, 255, 255)")
    expect(button).to_have_css("background-color", "rgb(13, 110, 253)")
    expect(page.get_by_label("Username")).to_have_css("display", "block")  # .form-control
    # clinic.css: the navigation bar's own colour.
    expect(page.locator("nav.navbar")).to_have_css("background-color", "rgb(11, 79, 108)")


def test_keyboard_login_and_skip_link(page: Page, live_server, demo_clinic, check_a11y):
    """The login form works from the keyboard alone, and the skip link skips the menu."""
    page.goto(f"{live_server.url}/accounts/login/")
    username = page.get_by_label("Username")
    password = page.get_by_label("Password")
    check_a11y(page, "the login page")
    expect(username).to_be_focused()  # autofocus: type straight away
    page.keyboard.type("frontdesk")
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("did not match")
    check_a11y(page, "the login page with an error")
    expect(username).to_have_value("frontdesk")
    expect(username).to_be_focused()
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()
    page.keyboard.press("Enter")
    # The front desk starts the day on the Today board.
    expect(page).to_have_url(re.compile(r"/today/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")
    check_a11y(page, "the today board")

    # The first Tab stop is the skip link, visible while focused; it moves focus to
    # <main>, so the next Tab reaches the page's own first control, not the menu.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert skip.bounding_box()["width"] > 20
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Book a procedure")).to_be_focused()


def test_main_flow(page: Page, live_server, demo_clinic, check_a11y, screenshot, time_machine):
    from patients.models import Patient
    from procedures.catalog.clock import clinic_today
    from procedures.results.models import TestOrder

    base = live_server.url
    day = clinic_today() + timedelta(days=10)
    while day.weekday() >= 5:  # the clinic's default hours are Monday to Friday
        day += timedelta(days=1)
    day_iso = day.isoformat()

    # --- Front desk: log in --------------------------------------------------------
    page.goto(f"{base}/accounts/login/")
    check_a11y(page, "the login page")
    screenshot(page, "login")
    log_in(page, base, "frontdesk", check_a11y)

    # --- Register a patient, first with a bad email --------------------------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Patients")
    check_a11y(page, "the patient list")
    page.get_by_role("link", name="Register a patient").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register a patient")
    check_a11y(page, "the empty patient form")
    page.get_by_label(label("First name")).fill(GIVEN)
    page.get_by_label(label("Last name")).fill(FAMILY)
    page.get_by_label(label("Date of birth")).fill("1958-03-14")
    page.get_by_label(label("Sex")).select_option(label="Female")
    page.get_by_label(label("Email")).fill("ruth.ellery@")
    page.get_by_label(label("Phone")).fill("07700 900123")
    page.get_by_role("button", name="Register patient").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Nothing has been saved")
    expect(summary).to_be_focused()  # read first by screen readers
    expect(summary.get_by_role("link", name="Email")).to_have_attribute("href", "#id_email")
    email = page.get_by_label(label("Email"))
    expect(email).to_have_attribute("aria-invalid", "true")
    # The error is shown next to the field and tied to it for screen readers.
    expect(email).to_have_accessible_description(re.compile("Enter a valid email address"))
    expect(page.locator("#id_email_error")).to_be_visible()
    check_a11y(page, "the patient form with an email error")
    email.fill("ruth.ellery@example.com")
    page.get_by_role("button", name="Register patient").click()
    expect(flash(page)).to_contain_text("Patient registered with MRN")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{GIVEN} {FAMILY}")
    mrn = Patient.objects.get(family_name=FAMILY).mrn
    check_a11y(page, "the patient page")
    screenshot(page, "patient")

    # --- Book a bone marrow biopsy under IV sedation -------------------------------
    page.get_by_role("link", name="Book a procedure").click()
    expect(page.get_by_label(label("Patient MRN"))).to_have_value(mrn)
    check_a11y(page, "the booking form")
    page.get_by_label(label("Procedure")).select_option(label="Bone marrow aspiration and biopsy")
    page.get_by_label(label("Physician")).select_option(label="Dr Lee")
    page.get_by_label(label("Room")).select_option(label="Procedure room 1")
    page.get_by_label(label("Date")).fill(day_iso)
    page.get_by_label(label("Start")).fill("09:00")
    page.get_by_label(label("Sedation")).select_option(label="IV moderate sedation")
    page.get_by_label(label("Transport home")).select_option(label="Escort drives them home")
    # The escort is not asked for here: the prep plan's "Getting home" is its one place.
    expect(page.get_by_label(label("Escort's name"))).to_have_count(0)
    page.get_by_role("button", name="Book appointment").click()
    expect(flash(page)).to_contain_text("Appointment booked")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bone marrow aspiration and biopsy")
    emails = page.get_by_role("table").filter(has_text="Booking confirmation")
    expect(emails).to_be_visible()
    expect(page.locator("main")).to_contain_text("IV moderate sedation")
    appointment_url = page.url
    check_a11y(page, "the appointment page")
    screenshot(page, "appointment")
    page.get_by_role("link", name="Getting home on the prep plan").click()
    getting_home = page.locator("#transport-form")
    getting_home.get_by_label(label("Escort's name")).fill("Tom Ellery")
    getting_home.get_by_label(label("Escort's phone")).fill("07700 900456")
    getting_home.get_by_role("button", name="Save getting home").click()
    expect(flash(page)).to_contain_text("Getting home saved.")
    expect(page.get_by_role("region", name="Getting home")).to_contain_text(
        "Tom Ellery, +44 7700 900456"
    )
    page.goto(appointment_url)

    # --- The same physician, overlapping, for another patient: refused -------------
    other = Patient.objects.get(family_name="Garcia")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appointments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Appointments")
    check_a11y(page, "the appointment list")
    page.get_by_role("link", name="Book a procedure").click()
    expect(page.get_by_label(label("Patient MRN"))).to_have_value("")
    check_a11y(page, "the empty booking form")
    page.get_by_label(label("Patient MRN")).fill(other.mrn)
    page.get_by_label(label("Procedure")).select_option(label="Bone marrow aspiration")
    page.get_by_label(label("Physician")).select_option(label="Dr Lee")
    page.get_by_label(label("Room")).select_option(label="Procedure room 2")
    page.get_by_label(label("Date")).fill(day_iso)
    page.get_by_label(label("Start")).fill("09:30")
    page.get_by_role("button", name="Book appointment").click()
    clash = "Dr Lee is booked 09:00-10:00 with another patient."
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("was not booked")
    expect(summary).to_contain_text(f"Physician: {clash}")
    expect(page.get_by_label(label("Physician"))).to_have_accessible_description(clash)
    expect(page.locator("body")).not_to_contain_text(FAMILY)
    expect(page.locator("body")).not_to_contain_text(mrn)
    check_a11y(page, "the booking form with a clash")
    screenshot(page, "booking-error")

    # --- Log out -------------------------------------------------------------------
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Logged out|Log in"))
    check_a11y(page, "the page after logging out")

    # --- Physician, on the day: check in, start and complete the procedure ---------
    # The server's clock moves to the morning of the appointment (check-in is only
    # possible on the day); it keeps ticking.
    from procedures.catalog.clock import clinic_datetime

    time_machine.move_to(clinic_datetime(day, time(8, 50)), tick=True)
    log_in(page, base, "physician", check_a11y)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appointments").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Appointments")
    check_a11y(page, "the appointment list for the physician")
    page.get_by_role("row").filter(has_text=f"{FAMILY}, {GIVEN}").get_by_role("link").click()
    expect(page).to_have_url(appointment_url)
    check_a11y(page, "the appointment page for the physician")
    page.get_by_role("button", name="Check in").click()
    expect(flash(page)).to_contain_text("Patient checked in.")
    # Nothing of the prep checklist was ticked in this walk: no reason starts without
    # consent and the site and side (hard stops), and the rest needs a reason.
    page.get_by_role("button", name="Start procedure").click()
    # Said under the reason field (QA pass 1, #11), not in a banner after a redirect.
    expect(page.locator("#start-reason-error")).to_contain_text(
        "Consent is not confirmed: the procedure cannot start until it is."
    )
    from django.contrib.auth.models import User

    from procedures.prep.checklist import checklist_tick
    from procedures.prep.rules import procedure_site_set
    from procedures.scheduling.models import Appointment

    visit = Appointment.objects.get(patient__family_name=FAMILY, status="checked_in")
    physician = User.objects.get(username="physician")
    procedure_site_set(appointment_id=visit.pk, site="posterior_iliac", side="right", by=physician)
    for item in ("consent", "site_side"):
        checklist_tick(appointment_id=visit.pk, item=item, by=physician)
    page.goto(appointment_url)  # the refusal was the answer to a POST
    page.get_by_role("button", name="Start procedure").click()
    expect(page.locator("#start-reason-error")).to_contain_text(
        "Give a reason (at least 10 characters) to start anyway."
    )
    check_a11y(page, "the refusal to start without a reason")
    page.get_by_label("Reason, if starting with readiness items missing").fill(
        "Checklist on paper today"
    )
    page.get_by_role("button", name="Start procedure").click()
    expect(flash(page)).to_contain_text("Procedure started.")
    expect(page.locator("main .status-badge")).to_have_text("In procedure")
    page.get_by_role("button", name="Mark procedure completed").click()
    # The sample form: the panel is ticked, collected now; complete as it stands.
    expect(page.get_by_role("heading", level=1)).to_have_text("Complete the procedure")
    check_a11y(page, "the sample form")
    page.get_by_role("button", name="Complete procedure and open test orders").click()
    expect(flash(page)).to_contain_text("Procedure completed")
    expect(page.locator("main .status-badge")).to_have_text("Completed")
    check_a11y(page, "the completed appointment")

    # --- Pending results: the new orders, each with its expected-by date ----------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Pending results").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pending results")
    orders = list(
        TestOrder.objects.filter(appointment__patient__family_name=FAMILY).select_related(
            "test_type"
        )
    )
    assert len(orders) == 4
    rows = page.get_by_role("row").filter(has_text=f"{FAMILY}, {GIVEN}")
    expect(rows).to_have_count(len(orders))
    for order in orders:
        row = rows.filter(has_text=order.test_type.name)
        expect(row).to_contain_text(dateformat.format(order.expected_by, "D j M Y"))
    check_a11y(page, "the worklist")
    screenshot(page, "worklist")

    # --- Log a result: Normal, report text, final; it leaves the list -------------
    first = next(o for o in orders if o.test_type.code == "aspirate-morphology")
    rows.filter(has_text=first.test_type.name).get_by_role("link", name="Log result").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(first.test_type.name)
    check_a11y(page, "the result form")
    page.get_by_role("button", name="Log result").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("The result was not saved")
    expect(summary.get_by_role("link")).to_have_text(["Interpretation", "Report"])
    check_a11y(page, "the result form with errors")
    page.get_by_role("radio", name="Normal", exact=True).check()
    page.get_by_label(label("Report")).fill("Normocellular marrow, trilineage haematopoiesis.")
    final = page.get_by_label(label("Final result"))
    final.check()
    expect(final).to_be_checked()
    page.get_by_role("button", name="Log result").click()
    expect(flash(page)).to_contain_text("Result logged")
    # You land on the result you logged, then go back to the list.
    expect(page.get_by_role("heading", level=1)).to_contain_text(first.test_type.name)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile("^Pending results")
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pending results")
    # A final result stays listed until it is reviewed and the patient told.
    expect(rows).to_have_count(len(orders))
    expect(rows.filter(has_text=first.test_type.name)).to_contain_text("Final: needs review")
    check_a11y(page, "the worklist after logging a result")
    first.refresh_from_db()
    assert first.results.get().is_final
