"""Hours and leave (issue 16) and the prep page's parts in a real browser, with axe at a
laptop's 1280 px and a tablet's 820 px.

A clinic admin opens a physician from the navigation, switches to own hours (the grid
starts from the clinic default), takes Monday off and adds Sunday, previews the week
and is shown the booked Monday visit that would be left outside hours; nothing is
saved until they confirm; then the visit is listed to move. Leave over another visit
is warned about and cancelled, and nothing is saved.
"""

import re
from datetime import date, time, timedelta

import pytest
from playwright.sync_api import Page, expect

from .test_main_flow import flash, label, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def next_monday() -> date:
    from procedures.catalog.clock import clinic_today

    day = clinic_today() + timedelta(days=7)
    return day - timedelta(days=day.weekday())


@pytest.fixture
def dr_hours(demo_clinic):
    """A physician of their own, with a room, and visits next Monday and Tuesday."""
    from patients.models import Patient
    from procedures.catalog.choices import SedationLevel
    from procedures.catalog.clock import clinic_datetime
    from procedures.catalog.models import ProcedureType
    from procedures.catalog.resources import Provider, Room
    from procedures.scheduling.models import Appointment

    provider = Provider.objects.create(display_name="Dr Hours")
    room = Room.objects.create(name="Procedure room 9", is_monitored=True)
    procedure = ProcedureType.objects.get(code="bm-aspiration")
    monday = next_monday()
    for n, (day, family) in enumerate(((monday, "Mondayson"), (monday + timedelta(1), "Tuesdale"))):
        patient = Patient.objects.create(
            mrn=f"C7770000{n}", given_name="Hana", family_name=family, date_of_birth="1970-01-02"
        )
        start = clinic_datetime(day, time(9, 0))
        Appointment.objects.create(
            patient=patient,
            procedure_type=procedure,
            provider=provider,
            room=room,
            start_at=start,
            end_at=start + timedelta(minutes=procedure.default_duration_minutes),
            sedation_level=SedationLevel.LOCAL,
        )
    return provider


def test_an_admin_switches_to_own_hours_sees_the_stranded_visit_and_confirms(
    page: Page, live_server, dr_hours, check_a11y, screenshot
):
    from procedures.catalog.hours import Unavailability, WorkingHours

    log_in(page, live_server.url, "admin", check_a11y)  # at 1440 px: the whole menu shows
    page.goto(f"{live_server.url}/audit/")  # from the admin site to the clinic's pages
    menu = page.get_by_role("navigation", name="Main")
    menu.get_by_role("button", name="Manage").click()
    menu.get_by_role("link", name="Hours and leave").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hours and leave")
    page.set_viewport_size({"width": 1280, "height": 900})
    row = page.get_by_role("row").filter(has_text="Dr Hours")
    expect(row).to_contain_text("Clinic default Mon-Fri 08:00-18:00")
    check_a11y(page, "the hours list at 1280 px")
    screenshot(page, "hours-list")
    row.get_by_role("link", name="Dr Hours").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hours and leave: Dr Hours")
    check_a11y(page, "a physician on the clinic default at 1280 px")

    # Own hours start from the clinic default: change only what differs.
    page.get_by_label("Own hours").check()
    expect(page.get_by_label("Monday, session 1, from")).to_have_value("08:00")
    expect(page.get_by_label("Friday, session 1, until")).to_have_value("18:00")
    page.get_by_label("Monday, session 1, from").fill("")
    page.get_by_label("Monday, session 1, until").fill("")
    page.get_by_label("Sunday, session 1, from").fill("09:00")
    page.get_by_label("Sunday, session 1, until").fill("12:00")
    page.get_by_role("button", name="Preview the week").click()

    preview = page.get_by_role("region", name=re.compile("as proposed"))
    expect(preview.get_by_role("row").filter(has_text="Monday")).to_contain_text("Not working")
    expect(preview.get_by_role("row").filter(has_text="Sunday")).to_contain_text("09:00-12:00")
    warning = page.locator("#hours-warning")
    expect(warning).to_contain_text("would leave 1 booked visit outside hours")
    expect(warning).to_contain_text("Mondayson, Hana")
    expect(warning).to_contain_text("not working on Monday")
    assert not WorkingHours.objects.filter(provider=dr_hours).exists()
    check_a11y(page, "the warning before saving own hours at 1280 px")
    screenshot(page, "hours-warning")
    page.set_viewport_size({"width": 820, "height": 1180})
    check_a11y(page, "the warning before saving own hours at 820 px")
    screenshot(page, "hours-warning-820")
    page.set_viewport_size({"width": 1280, "height": 900})

    warning.get_by_role("button", name="Save, and move 1 visit").click()
    expect(flash(page)).to_contain_text("1 booked visit(s) are now outside hours: move them.")
    to_move = page.get_by_role("region", name="Visits to move")
    expect(to_move.get_by_role("link", name=re.compile("Mondayson"))).to_be_visible()
    expect(page.locator("h1 + p")).to_contain_text("Own hours")
    assert WorkingHours.objects.filter(provider=dr_hours).count() == 5  # Tue-Fri, Sun
    check_a11y(page, "the visits to move after saving at 1280 px")
    screenshot(page, "hours-saved")
    page.set_viewport_size({"width": 820, "height": 1180})
    check_a11y(page, "the visits to move after saving at 820 px")
    screenshot(page, "hours-saved-820")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Leave over Tuesday's visit: warned, then cancelled; nothing saved.
    tuesday = next_monday() + timedelta(days=1)
    leave = page.locator("#leave-form")
    leave.get_by_label(label("From (date)")).fill(tuesday.isoformat())
    leave.get_by_label(label("Until (date)")).fill(tuesday.isoformat())
    leave.get_by_label(label("Reason")).select_option(label="Training or conference")
    leave.get_by_role("button", name="Add leave").click()
    warning = page.locator("#hours-warning")
    expect(warning).to_contain_text("Saving this leave would leave 1 booked visit outside hours")
    expect(warning).to_contain_text("Tuesdale, Hana")
    check_a11y(page, "the warning before saving leave")
    warning.get_by_role("link", name="Cancel: save nothing").click()
    expect(page.get_by_role("region", name="Leave and absences")).to_contain_text("No leave ahead.")
    assert not Unavailability.objects.filter(provider=dr_hours).exists()


def test_an_admin_closes_a_site_for_a_day_sees_the_booked_visit_and_confirms(
    page: Page, live_server, dr_hours, check_a11y, screenshot
):
    from procedures.catalog.models import ClinicHoliday
    from procedures.catalog.resources import Room

    site = Room.objects.get(name="Procedure room 9").site
    tuesday = next_monday() + timedelta(days=1)
    log_in(page, live_server.url, "admin", check_a11y)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/hours/#holidays")
    form = page.locator("#closure-form")
    form.get_by_label(label("Date")).fill(tuesday.isoformat())
    form.get_by_label(label("What it is")).fill("Staff training")
    form.get_by_label(label("Closes")).select_option(label=site.name)
    form.get_by_role("button", name="Add closure").click()

    warning = page.locator("#closure-warning")
    expect(warning).to_contain_text("This closure falls on 1 booked visit. Nothing is saved yet.")
    expect(warning).to_contain_text("Tuesdale, Hana")
    assert not ClinicHoliday.objects.filter(date=tuesday).exists()
    check_a11y(page, "the warning before saving a closure at 1280 px")
    screenshot(page, "closure-warning")
    page.set_viewport_size({"width": 820, "height": 1180})
    check_a11y(page, "the warning before saving a closure at 820 px")
    screenshot(page, "closure-warning-820")

    warning.get_by_role("button", name="Close, and move 1 visit").click()
    expect(flash(page)).to_contain_text("Closure saved. 1 booked visit(s) fall on it: move them.")
    to_move = page.get_by_role("region", name="Booked visits on the new closure: move them")
    expect(to_move.get_by_role("link", name=re.compile("Tuesdale"))).to_be_visible()
    holidays = page.get_by_role("region", name="Clinic holidays")
    expect(holidays).to_contain_text(f"Staff training · {site.name}")
    assert ClinicHoliday.objects.get(date=tuesday).site == site
    check_a11y(page, "the closures after saving at 820 px")


def test_the_prep_page_lists_its_parts_at_1280_and_820_px(
    page: Page, live_server, dr_hours, check_a11y, screenshot
):
    from procedures.scheduling.models import Appointment

    visit = Appointment.objects.get(patient__family_name="Tuesdale")
    log_in(page, live_server.url, "frontdesk", check_a11y)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/appointments/{visit.pk}/prep/")
    parts = page.get_by_role("navigation", name="Parts of the prep plan")
    expect(parts.get_by_role("link")).to_have_count(7)
    # The day-of checklist is near the top, not below the long forms.
    checklist = page.get_by_role("region", name="Day-of checklist")
    expect(checklist).to_be_in_viewport()
    check_a11y(page, "the prep page at 1280 px")
    screenshot(page, "prep-parts")
    parts.get_by_role("link", name="Getting home").click()
    expect(page).to_have_url(re.compile("#transport$"))
    getting_home = page.get_by_role("region", name="Getting home")
    expect(getting_home.get_by_role("heading", name="Getting home")).to_be_in_viewport()
    # The escort is asked for here and nowhere else on the page.
    expect(page.get_by_label(label("Escort's name"))).to_have_count(1)
    expect(getting_home.get_by_role("button")).to_have_count(1)
    page.set_viewport_size({"width": 820, "height": 1180})
    page.goto(f"{live_server.url}/appointments/{visit.pk}/prep/")
    check_a11y(page, "the prep page at 820 px")
    screenshot(page, "prep-parts-820")
