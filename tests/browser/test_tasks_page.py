"""The front desk's task queue in a real browser, axe-core on every state: open it
from the navigation, filter to calls, mark a call done from the keyboard with a note,
and see the queue empty."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from .test_main_flow import flash, log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(demo_clinic):
    """One overdue call (a reschedule request) and one wheelchair to arrange, for a
    new patient; whatever the demo clinic left open is closed first."""
    from django.utils import timezone

    from patients.models import Patient
    from procedures.catalog.clock import clinic_today
    from procedures.catalog.models import ProcedureType
    from procedures.catalog.resources import Provider, Room
    from procedures.messaging.models import CallTask
    from procedures.prep.models import FrontDeskTask
    from procedures.scheduling.models import Appointment

    CallTask.objects.update(status=CallTask.Status.DONE)
    FrontDeskTask.objects.update(done_at=timezone.now())
    start = (timezone.now() + timedelta(days=6)).replace(minute=0, second=0, microsecond=0)
    patient = Patient.objects.create(
        mrn="C55500077",
        given_name="Tomas",
        family_name="Taskwell",
        date_of_birth="1958-02-11",
        email="tomas@example.com",
    )
    appointment = Appointment.objects.create(
        patient=patient,
        procedure_type=ProcedureType.objects.get(code="bm-biopsy"),
        provider=Provider.objects.get(display_name="Dr Lee"),
        room=Room.objects.get(name="Procedure room 1"),
        start_at=start,
        end_at=start + timedelta(hours=1),
    )
    CallTask.objects.create(
        appointment=appointment,
        reason=CallTask.Reason.RESCHEDULE_REQUEST,
        due_at=timezone.now() - timedelta(hours=2),
        note="Any morning next week",
    )
    FrontDeskTask.objects.create(
        appointment=appointment,
        kind=FrontDeskTask.Kind.WHEELCHAIR,
        due_date=clinic_today() + timedelta(days=4),
    )
    return appointment


def test_the_front_desk_works_through_its_queue(page: Page, live_server, queue, check_a11y):
    from procedures.messaging.models import CallTask

    log_in(page, live_server.url, "frontdesk", check_a11y)
    tasks_link = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name=re.compile(r"^Tasks")
    )
    expect(tasks_link).to_contain_text("1 task overdue")  # the badge, loaded by htmx
    tasks_link.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Front-desk tasks")
    rows = page.get_by_role("row")
    expect(rows).to_have_count(3)  # the header, the call, the wheelchair
    expect(rows.nth(1)).to_contain_text("Patient asked to reschedule")
    expect(rows.nth(1)).to_contain_text("overdue")
    expect(rows.nth(2)).to_contain_text("Arrange a wheelchair")
    check_a11y(page, "the task queue")

    page.get_by_label("Show").select_option("calls")
    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/tasks/\?show=calls&overdue=1$"))
    expect(page.get_by_role("row")).to_have_count(2)
    check_a11y(page, "the task queue, overdue calls only")

    note = page.get_by_label("Note on the call to Tomas Taskwell (optional)")
    note.focus()
    page.keyboard.type("Moved to Tuesday 9:00")
    page.keyboard.press("Tab")
    mark_done = re.compile(r"^Mark done\s*: Patient asked to reschedule")
    done = page.get_by_role("button", name=mark_done)
    expect(done).to_be_focused()
    page.keyboard.press("Enter")

    expect(flash(page)).to_contain_text("Done: Patient asked to reschedule, for Tomas Taskwell.")
    expect(page).to_have_url(re.compile(r"/tasks/\?show=calls&overdue=1$"))
    expect(page.get_by_text("Nothing matches these filters.")).to_be_visible()
    check_a11y(page, "the task queue after marking the call done")
    call = CallTask.objects.get(appointment=queue)
    assert call.status == CallTask.Status.DONE
    assert call.done_by.username == "frontdesk"

    page.get_by_role("link", name="Show everything").first.click()
    expect(page.get_by_role("row")).to_have_count(2)  # the wheelchair is still to do
