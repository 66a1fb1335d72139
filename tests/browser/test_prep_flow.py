"""Preparation in a real browser, with axe-core run on every page state visited.

A physician records a medicine, is refused a stop after the procedure, sets and
confirms the hold plan and the site; the front desk is refused a phone that is not
one and then confirms the escort in "Getting home", its one place; on the day the
nurse ticks the checklist until the appointment shows READY; the printable sheet
speaks to the patient.
"""

import re
from datetime import time, timedelta

import pytest
from playwright.sync_api import Page, expect

from .test_main_flow import label, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def appointment(demo_clinic):
    """A biopsy under IV sedation today (the hour that has begun), for a new patient."""
    from patients.models import Patient
    from procedures.catalog.choices import SedationLevel
    from procedures.catalog.clock import clinic_now
    from procedures.catalog.models import ProcedureType
    from procedures.catalog.resources import Provider, Room
    from procedures.scheduling.models import Appointment

    start = clinic_now().replace(minute=0, second=0, microsecond=0)
    patient = Patient.objects.create(
        mrn="C55500001",
        given_name="Ines",
        family_name="Prepford",
        date_of_birth="1962-07-04",
        email="ines@example.com",
    )
    return Appointment.objects.create(
        patient=patient,
        procedure_type=ProcedureType.objects.get(code="bm-biopsy"),
        provider=Provider.objects.get(display_name="Dr Lee"),
        room=Room.objects.get(name="Procedure room 1"),
        start_at=start,
        end_at=start + timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
    )


def plan_confirmed_days_ago(appointment, day) -> None:
    """The stop decided and the plan confirmed four days before the visit (time cannot
    be moved under a live server: the rows are written as the services wrote them)."""
    from django.contrib.auth.models import User

    from procedures.catalog.clock import clinic_datetime
    from procedures.prep.models import MedicationHold, PrepPlan

    physician = User.objects.get(username="physician")
    decided = clinic_datetime(day - timedelta(days=4), time(11, 0))
    MedicationHold.objects.create(
        appointment=appointment,
        medication=appointment.patient.medications.get(name="Apixaban"),
        action=MedicationHold.Action.STOP,
        stop_at=clinic_datetime(day - timedelta(days=3), time(20, 0)),
        resume_guidance="the evening after",
        decided_by=physician,
        decided_at=decided,
    )
    PrepPlan.objects.update_or_create(
        appointment=appointment,
        defaults={"hold_plan_confirmed_at": decided, "hold_plan_confirmed_by": physician},
    )


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Logged out|Log in"))


def test_prep_flow(page: Page, live_server, appointment, check_a11y, screenshot):
    base = live_server.url
    prep_url = f"{base}/appointments/{appointment.pk}/prep/"
    from procedures.catalog.clock import clinic_tz

    day = appointment.start_at.astimezone(clinic_tz()).date()

    # --- Physician: medicine, a refused stop, the hold plan, the site ---------------
    log_in(page, base, "physician", check_a11y)
    page.goto(f"{base}/appointments/{appointment.pk}/")
    summary = page.get_by_role("region", name="Preparation")
    expect(summary).to_contain_text("NOT READY")
    check_a11y(page, "the appointment page with its prep summary")
    summary.get_by_role("link", name="Open the prep plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Prep plan")
    check_a11y(page, "the prep page, nothing recorded")

    page.get_by_text("Add a medicine").click()
    page.get_by_label(label("Medicine")).first.fill("Apixaban")
    page.get_by_label(label("Dose and how often")).fill("5 mg twice daily")
    page.get_by_label(label("Kind of medicine")).select_option(
        label="Anticoagulant (blood thinner)"
    )
    page.get_by_role("button", name="Add to the list").click()
    expect(page.get_by_role("status").first).to_contain_text("Medicine added")
    medicines = page.get_by_role("region", name="Medicines and holds")
    expect(medicines).to_contain_text("Hold plan not confirmed")
    expect(medicines.get_by_role("row").filter(has_text="Apixaban")).to_contain_text("stop 3 days")
    check_a11y(page, "the prep page with an undecided medicine")

    hold = page.locator("#hold-form")
    hold.get_by_label(label("Medicine")).select_option(label="Apixaban 5 mg twice daily")
    hold.get_by_label("Stop before the procedure").check()
    hold.get_by_label(label("Last dose on")).fill((day + timedelta(days=1)).isoformat())
    hold.get_by_role("button", name="Save decision").click()
    alert = page.get_by_role("alert").filter(has_text="The decision was not saved")
    expect(alert).to_contain_text("The stop must be before the procedure")
    check_a11y(page, "the hold form refusing a stop after the procedure")

    # The visit is today: a stop three days ago can no longer be an instruction.
    hold = page.locator("#hold-form")
    hold.get_by_label(label("Medicine")).select_option(label="Apixaban 5 mg twice daily")
    hold.get_by_label("Stop before the procedure").check()
    hold.get_by_label(label("Last dose on")).fill((day - timedelta(days=3)).isoformat())
    hold.get_by_label(label("at")).fill("20:00")
    hold.get_by_label(label("When to start again")).fill("the evening after")
    hold.get_by_role("button", name="Save decision").click()
    alert = page.get_by_role("alert").filter(has_text="The decision was not saved")
    expect(alert).to_contain_text("That time has passed")
    # As it really happens: the physician decided and confirmed it four days ago.
    plan_confirmed_days_ago(appointment, day)
    page.reload()
    timeline = page.get_by_role("region", name="The patient's timeline")
    expect(timeline).to_contain_text("Take your last dose of the medicine your doctor named")
    expect(timeline).to_contain_text("Apixaban 5 mg twice daily")

    site = page.locator("#site-form")
    site.get_by_label(label("Site")).select_option(
        label="Back of the pelvis (posterior iliac crest)"
    )
    site.get_by_label(label("Side")).select_option(label="Left")
    site.get_by_role("button", name="Save site and side").click()
    expect(page.get_by_role("status").first).to_contain_text("Site and side saved")
    check_a11y(page, "the prep page with a confirmed hold plan")
    screenshot(page, "prep-plan")
    log_out(page)

    # --- Front desk: the escort, a bad phone first ----------------------------------
    log_in(page, base, "frontdesk", check_a11y)
    page.goto(prep_url)
    # "Getting home" is the one place the escort is entered and confirmed.
    expect(page.get_by_label(label("Escort's name"))).to_have_count(1)
    escort = page.locator("#transport-form")
    escort.get_by_label(label("How the patient gets home")).select_option(
        label="Escort drives them home"
    )
    escort.get_by_label(label("Escort's name")).fill("Rui Prepford")
    escort.get_by_label(label("Escort's phone")).fill("ring my son")
    escort.get_by_label("The escort has confirmed they will take the patient home").check()
    escort.get_by_role("button", name="Save getting home").click()
    alert = page.get_by_role("alert").filter(has_text="Getting home was not saved")
    expect(alert).to_contain_text("ring my son is not a phone number")
    check_a11y(page, "the escort form refusing a bad phone")
    escort = page.locator("#transport-form")
    escort.get_by_label(label("Escort's phone")).fill("07700 900456")
    escort.get_by_role("button", name="Save getting home").click()
    expect(page.get_by_role("status").first).to_contain_text("Escort confirmed")
    transport = page.get_by_role("region", name="Getting home")
    expect(transport).to_contain_text("Rui Prepford, +44 7700 900456")
    expect(transport).to_contain_text("Escort confirmed")
    check_a11y(page, "the prep page with the escort confirmed")
    log_out(page)

    # --- Nurse, on the day: the checklist until READY -------------------------------
    # On apixaban: the platelet count and INR of the days before are on record (the
    # patient's clinical page), in the clinic's range, or the visit stays NOT READY.
    from decimal import Decimal

    from patients.models import BloodResult

    BloodResult.objects.create(
        patient=appointment.patient,
        taken_on=appointment.start_at.date(),
        platelets=190,
        inr=Decimal("1.1"),
    )
    log_in(page, base, "nurse", check_a11y)
    page.goto(prep_url)
    check_a11y(page, "the prep page for the nurse")
    checklist = page.get_by_role("region", name="Day-of checklist")
    for item in (
        "Medicines held as instructed",
        "Fasting confirmed",
        "Escort present",
        "Consent signed",
        "Site and side confirmed",
    ):
        page.get_by_role("region", name="Day-of checklist").get_by_role(
            "button", name=f"Tick: {item}"
        ).click()
        expect(page.get_by_role("status").first).to_contain_text(f"Ticked: {item}")
    checklist = page.get_by_role("region", name="Day-of checklist")
    expect(checklist.get_by_role("button")).to_have_count(0)
    expect(checklist).to_contain_text("Consent signed · Nia Nurse")
    expect(page.locator(".readiness")).to_contain_text("READY")
    expect(page.locator(".readiness")).not_to_contain_text("NOT READY")
    check_a11y(page, "the prep page, ready")
    screenshot(page, "prep-ready")

    page.get_by_role("link", name="Printable prep sheet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Getting ready for your appointment, Ines"
    )
    check_a11y(page, "the printable prep sheet")
    page.emulate_media(media="print")
    expect(page.locator("nav.navbar")).to_be_hidden()
    expect(page.get_by_text("Back to the prep plan")).to_be_hidden()
    expect(page.get_by_role("table")).to_contain_text(
        "Take your last dose of the medicine your doctor named"
    )
