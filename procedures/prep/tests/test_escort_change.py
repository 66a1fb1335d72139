"""QA 3, #4: a new escort is never confirmed by a box that came ticked with the page.

The patient confirmed Tom through the emailed link; the front desk then typed Sarah
into "Getting home" and saved without touching the box. The box was pre-ticked, so
Sarah showed as confirmed and nobody asked her. Now the box is never pre-ticked, the
confirmation is text above the form, an untouched box keeps it for the same escort,
and a new name or phone drops it (and asks again) unless the new escort is ticked.
"""

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging import links
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import Reminder
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.today.board import today_arrivals
from procedures.workflows.visits import appointment_book

NOW = clinic_datetime(dt.date(2026, 12, 14), dt.time(9, 0))  # Monday 14 December 2026
DAY = dt.date(2026, 12, 21)
pytestmark = [pytest.mark.clock(NOW), pytest.mark.usefixtures("care_for_all")]


@pytest.fixture
def visit(db, frontdesk_user):
    start = clinic_datetime(DAY, dt.time(10, 0))
    return appointment_book(
        patient=PatientFactory(
            given_name="Eleanor", family_name="Whitfield", email="eleanor@example.com"
        ),
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


@pytest.fixture
def tom_confirmed_by_the_patient(visit, smtp_mail, clock, frontdesk_client, frontdesk_user):
    """The escort request goes out on the 19th and the patient names Tom through it; the
    front desk logs in on the 20th."""
    clock.move_to(clinic_datetime(dt.date(2026, 12, 19), dt.time(10, 5)), tick=False)
    reminders_dispatch()
    assert escort_emails(smtp_mail) == 1
    grant = links.link_read(
        purpose="escort", token=links.link_token(appointment=visit, purpose="escort")
    )
    links.link_confirm_escort(grant=grant, name="Tom Whitfield", phone="07700 900456")
    clock.move_to(clinic_datetime(dt.date(2026, 12, 20), dt.time(11, 0)), tick=False)
    frontdesk_client.force_login(frontdesk_user)
    visit.refresh_from_db()
    return visit


def escort_emails(smtp_mail) -> int:
    return sum("taking you home" in str(m["Subject"]) for m in smtp_mail.messages)


def url(name, visit):
    return reverse(f"procedures:{name}", args=[visit.pk])


class GettingHomeForm(HTMLParser):
    """What a browser sends from the page's "Getting home" form, boxes as they came."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, str] = {}
        self.inside = self.select = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == "transport-form"
        elif not self.inside:
            return
        elif tag == "input" and a.get("name") and a.get("type") != "submit":
            if a.get("type") != "checkbox":
                self.data[a["name"]] = a.get("value", "")
            elif "checked" in a:
                self.data[a["name"]] = "on"
        elif tag == "select":
            self.select = a["name"]
        elif tag == "option" and self.select and "selected" in a:
            self.data[self.select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = False


def getting_home(client, visit, **typed):
    """Open the prep page, type into Getting home (`typed`) and press Save."""
    form = GettingHomeForm()
    form.feed(client.get(url("prep_detail", visit)).content.decode())
    assert form.data["tr-transport_mode"] == "escort_driving"
    form.data.update({f"tr-{k}": v for k, v in typed.items()})
    return client.post(url("prep_transport", visit), form.data, follow=True)


def test_the_box_is_not_ticked_and_the_confirmation_reads_as_text(
    frontdesk_client, tom_confirmed_by_the_patient
):
    page = frontdesk_client.get(url("prep_detail", tom_confirmed_by_the_patient)).content.decode()

    [box] = re.findall(r'<input[^>]*name="tr-escort_confirmed"[^>]*>', page)
    assert "checked" not in box
    assert "Escort confirmed" in page
    assert "by the patient" in page
    assert "Take the confirmation back" in page


def test_a_new_escort_saved_without_the_box_is_not_confirmed_and_is_asked_again(
    frontdesk_client, tom_confirmed_by_the_patient, smtp_mail, clock
):
    visit = tom_confirmed_by_the_patient

    response = getting_home(
        frontdesk_client,
        visit,
        escort_name="Sarah Whitfield",
        escort_phone="07700 900789",
    )

    page = response.content.decode()
    assert "A new escort name or phone: the escort is no longer confirmed" in page
    assert "Escort not confirmed" in page
    assert "Sarah Whitfield" in page
    visit.refresh_from_db()
    assert (visit.escort_name, visit.escort_confirmed_at) == ("Sarah Whitfield", None)
    assert visit.prep_plan.escort_confirmed_via == ""
    assert visit.events.filter(kind="escort_unconfirmed").exists()
    # The patient is asked again (the first request was sent, and answered for Tom).
    assert Reminder.objects.filter(
        appointment=visit, kind="escort_request", status="pending"
    ).exists()
    reminders_dispatch()
    assert escort_emails(smtp_mail) == 2
    clock.move_to(clinic_datetime(DAY, dt.time(8, 0)), tick=False)
    [row] = today_arrivals(day=DAY)
    assert "escort" in row.flag_codes


def test_the_same_escort_saved_with_the_box_untouched_stays_confirmed(
    frontdesk_client, tom_confirmed_by_the_patient
):
    visit = tom_confirmed_by_the_patient
    confirmed_at = visit.escort_confirmed_at

    response = getting_home(
        frontdesk_client,
        visit,
        escort_name="Tom Whitfield",
        escort_phone="07700 900456",
        needs_wheelchair="on",
    )

    assert "Getting home saved." in response.content.decode()
    visit.refresh_from_db()
    assert visit.escort_confirmed_at == confirmed_at
    assert visit.prep_plan.escort_confirmed_via == "patient_link"
    assert not Reminder.objects.filter(
        appointment=visit, kind="escort_request", status="pending"
    ).exists()


def test_a_new_escort_ticked_in_the_same_save_is_confirmed_by_the_staff_member(
    frontdesk_client, tom_confirmed_by_the_patient
):
    visit = tom_confirmed_by_the_patient

    response = getting_home(
        frontdesk_client,
        visit,
        escort_name="Sarah Whitfield",
        escort_phone="07700 900789",
        escort_confirmed="on",
    )

    assert "Getting home saved. Escort confirmed." in response.content.decode()
    visit.refresh_from_db()
    assert visit.escort_name == "Sarah Whitfield"
    assert visit.escort_confirmed_at is not None
    assert visit.prep_plan.escort_confirmed_by.username == "fd"
    assert not Reminder.objects.filter(
        appointment=visit, kind="escort_request", status="pending"
    ).exists()


def test_confirming_and_taking_back_at_once_is_refused_and_changes_nothing(
    frontdesk_client, tom_confirmed_by_the_patient
):
    visit = tom_confirmed_by_the_patient

    response = getting_home(
        frontdesk_client,
        visit,
        escort_name="Sarah Whitfield",
        escort_phone="07700 900789",
        escort_confirmed="on",
        escort_take_back="on",
    )

    assert response.status_code == 400
    assert "Either confirm the escort or take the confirmation back, not both." in (
        response.content.decode()
    )
    visit.refresh_from_db()
    assert visit.escort_name == "Tom Whitfield"
    assert visit.escort_confirmed_at is not None
