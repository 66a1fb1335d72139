"""One person, one record, in a real browser (axe on each page): a duplicate
registration is stopped, a true namesake is registered with the reason, a clinic
admin merges two records of one person, and the front desk finds the survivor by
typing "nunez" in the header's patient look-up."""

import datetime as dt
import re

import pytest
from playwright.sync_api import Page, expect

from .conftest import PASSWORD, ensure_role_groups

pytestmark = pytest.mark.django_db(transaction=True)


def label(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\*?\s*$")


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_label("Username")).to_be_visible()


@pytest.fixture
def people(transactional_db):
    from clinic import roles
    from conftest import make_user
    from patients.tests.factories import PatientFactory

    ensure_role_groups()
    make_user("frontdesk", roles.FRONT_DESK)
    make_user("clinicadmin", roles.CLINIC_ADMIN, is_staff=True)
    born = dt.date(1965, 3, 14)
    zoe = PatientFactory(
        given_name="Zoë",
        family_name="O'Brien-Núñez",
        date_of_birth=born,
        email="zoe@example.com",
        phone="07700 900111",
    )
    # The same Zoe, registered twice before duplicates were checked.
    twice = PatientFactory(
        given_name="Zoe",
        family_name="Nunez",
        date_of_birth=born,
        email="zoe.nunez@example.org",
        phone="",
    )
    return zoe, twice


def test_one_person_one_record(page: Page, live_server, people, check_a11y):
    from patients.models import DuplicateOverride, Patient

    zoe, twice = people
    base = live_server.url
    log_in(page, base, "frontdesk")

    # --- The same person again: stopped, with the likely matches linked -------------
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Patients").click()
    page.get_by_role("link", name="Register a patient").click()
    check_a11y(page, "the registration form")
    page.get_by_label(label("First name")).fill("Zoe")
    page.get_by_label(label("Last name")).fill("OBrien Nunez")
    page.get_by_label(label("Date of birth")).fill("1965-03-14")
    page.get_by_label(label("Email")).fill("zoe@example.com")
    page.get_by_role("button", name="Register patient").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("This looks like a patient who is already registered")
    expect(page.get_by_role("link", name=re.compile(zoe.mrn))).to_have_attribute(
        "href", f"/patients/{zoe.pk}/"
    )
    check_a11y(page, "the registration form stopped by a likely duplicate")
    assert Patient.objects.count() == 2

    # --- A true namesake: another Zoe born the same day, with the reason ------------
    page.get_by_label(label("Email")).fill("zoe.2@example.com")
    page.get_by_label("I have checked: this is a different person").check()
    page.get_by_label(label("How do you know this is a different person?")).fill(
        "Different address and GP; confirmed by phone"
    )
    page.get_by_role("button", name="Register patient").click()
    expect(page.locator('.alert[role="status"]')).to_contain_text("Patient registered with MRN")
    expect(page.get_by_role("region", name="Patient alerts")).to_contain_text(
        "Allergies not recorded"
    )
    expect(page.get_by_text("Different address and GP; confirmed by phone")).to_be_visible()
    check_a11y(page, "the namesake's page")
    assert DuplicateOverride.objects.get().reason == "Different address and GP; confirmed by phone"
    log_out(page)

    # --- A clinic admin merges the two records of the first Zoe --------------------
    log_in(page, base, "clinicadmin")
    page.goto(f"{base}/patients/merge/")
    check_a11y(page, "the merge form")
    page.get_by_label(label("MRN of the record to keep")).fill(zoe.mrn)
    page.get_by_label(label("MRN of the duplicate record")).fill(twice.mrn)
    page.get_by_label(label("Why are these the same person?")).fill("Registered twice")
    page.get_by_role("button", name="Check the records").click()
    # Both have an email: the admin chooses, the record kept's is ticked.
    expect(page.get_by_label("Keep zoe@example.com (record kept)")).to_be_checked()
    expect(page.get_by_label("Use zoe.nunez@example.org (duplicate)")).not_to_be_checked()
    check_a11y(page, "the merge preview")
    page.get_by_role("button", name=f"Merge {twice.mrn} into {zoe.mrn}").click()
    expect(page.locator('.alert[role="status"]')).to_contain_text(
        f"Record {twice.mrn} merged into {zoe.mrn}"
    )
    log_out(page)

    # --- The front desk finds the survivor by "nunez" from the header --------------
    log_in(page, base, "frontdesk")
    page.get_by_role("searchbox", name="Look up a patient").fill("nunez")
    page.get_by_role("button", name="Look up").click()
    results = page.locator("#header-lookup-results")  # shown in place, no page load
    expect(results.get_by_role("link", name="O'Brien-Núñez, Zoë", exact=True)).to_be_visible()
    expect(results).not_to_contain_text(twice.mrn)
    expect(results.get_by_role("listitem")).to_have_count(2)  # Zoe, and her namesake
    check_a11y(page, "the search results")
    results.get_by_role("link", name="O'Brien-Núñez, Zoë", exact=True).click()
    expect(page.get_by_text(f"also known as {twice.mrn}")).to_be_visible()
