"""The security pages in a real browser, each checked with axe-core and for
Content-Security-Policy violations: the audit trail, account security, two-factor
enrolment and verification, emergency access, and the idle-session warning."""

import re

import pytest
from django.utils import timezone
from django_otp.oath import totp
from playwright.sync_api import Page, expect

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def csp_violations(page: Page) -> list[str]:
    """Console errors that a Content-Security-Policy refusal produces, as they happen."""
    seen: list[str] = []
    page.on(
        "console",
        lambda msg: (
            seen.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    return seen


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def make_staff(username: str, role: str, **extra):
    from conftest import make_user

    return make_user(username, role, **extra)


def test_the_audit_trail_filters_and_exports(
    page: Page, live_server, demo_clinic, check_a11y, csp_violations
):
    from clinic import roles

    make_staff("auditor", roles.CLINIC_ADMIN, is_staff=True)
    log_in(page, live_server.url, "auditor")
    page.goto(f"{live_server.url}/audit/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Audit trail")
    expect(
        page.get_by_role("cell", name=re.compile(r"patients\.patient #\d+")).first
    ).to_be_visible()
    check_a11y(page, "the audit trail")
    page.get_by_label("Show").select_option("reads")
    page.get_by_label("From (date)").fill("2026-03-05")
    page.get_by_label("To (date, inclusive)").fill("2026-03-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("The end date is before the start date.")
    check_a11y(page, "the audit trail with a filter error")
    page.get_by_label("To (date, inclusive)").fill("")
    page.get_by_label("From (date)").fill("")
    page.get_by_role("button", name="Filter").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("audit-reads-")
    assert csp_violations == []


def test_two_factor_enrolment_then_verification(
    page: Page, live_server, demo_clinic, check_a11y, csp_violations, settings
):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    settings.CLINIC_OTP_REQUIRED_ROLES = ["physician"]
    log_in(page, live_server.url, "physician")

    expect(page).to_have_url(re.compile(r"/accounts/two-factor/setup/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up two-factor authentication")
    expect(page.locator("svg.segno")).to_be_visible()
    check_a11y(page, "two-factor enrolment")
    device = TOTPDevice.objects.get(user__username="physician")
    page.get_by_label(re.compile("6-digit code")).fill("000000")
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("alert")).to_contain_text("That code did not match")
    check_a11y(page, "two-factor enrolment with an error")

    device.refresh_from_db()
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"
    device.throttling_failure_count = 0
    device.throttling_failure_timestamp = None
    device.save()
    page.get_by_label(re.compile("6-digit code")).fill(code)
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_role("status").first).to_contain_text("Two-factor authentication is on")

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server.url, "physician")
    expect(page).to_have_url(re.compile(r"/accounts/two-factor/\?next="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    check_a11y(page, "two-factor verification")
    assert csp_violations == []


def test_account_security_and_logout_everywhere(
    page: Page, live_server, demo_clinic, check_a11y, csp_violations
):
    log_in(page, live_server.url, "nurse")
    page.get_by_role("link", name=re.compile("Nia|nurse", re.I)).first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Account security")
    check_a11y(page, "account security")
    page.get_by_role("button", name="Log out everywhere").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_text("You are logged out everywhere")).to_be_visible()
    assert csp_violations == []


def test_emergency_access_asks_for_a_reason(
    page: Page, live_server, demo_clinic, check_a11y, csp_violations
):
    from patients.models import Patient

    # A demo patient with no appointment with Dr Lee (the physician's own provider).
    stranger = Patient.objects.exclude(appointments__provider__user__username="physician").first()
    log_in(page, live_server.url, "physician")
    page.goto(f"{live_server.url}/patients/{stranger.pk}/")

    expect(page.get_by_role("heading", level=1)).to_have_text("Emergency access")
    check_a11y(page, "the emergency access form")
    page.get_by_role("button", name="Record my reason and open the record").click()
    expect(page.get_by_role("alert")).to_contain_text("This field is required")
    check_a11y(page, "the emergency access form with an error")
    page.get_by_label("Why do you need this record?").fill("Covering the on-call list tonight.")
    page.get_by_role("button", name="Record my reason and open the record").click()

    expect(page).to_have_url(re.compile(rf"/patients/{stranger.pk}/$"))
    expect(page.get_by_text("Emergency access recorded")).to_be_visible()
    assert csp_violations == []


def test_the_idle_warning_offers_to_stay_then_logs_out(
    page: Page, live_server, demo_clinic, check_a11y, csp_violations, settings, time_machine
):
    settings.CLINIC_SESSION_IDLE_SECONDS = 120
    settings.CLINIC_SESSION_WARNING_SECONDS = 60
    # The browser's clock (page.clock) and the server's (time_machine) move together.
    time_machine.move_to(timezone.now(), tick=True)
    page.clock.install()
    log_in(page, live_server.url, "frontdesk")
    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(page.locator("#session-timeout[data-armed]")).to_be_attached()
    expect(dialog).to_be_hidden()
    # Let the page's own start-up requests (htmx fragments) finish first: they are
    # activity, and would restart the server's idle clock after the shift below.
    page.clock.run_for(1_000)
    page.wait_for_load_state("networkidle")

    time_machine.shift(61)
    page.clock.run_for(61_000)
    expect(dialog).to_be_visible()
    expect(page.get_by_role("button", name="Stay logged in")).to_be_focused()
    check_a11y(page, "the idle-session warning")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()

    # No answer this time: when the time is up the page reloads, and the server
    # ends the session and says why.
    time_machine.shift(125)
    page.clock.run_for(125_000)
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # The session is over for real, not just hidden by the page. (The wording of the
    # one-time "logged out after N minutes without activity" message is pinned in
    # clinic/tests/test_authentication.py: in the browser, which of the page's own
    # requests shows it first depends on timing.)
    page.goto(f"{live_server.url}/today/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/today/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    assert csp_violations == []
