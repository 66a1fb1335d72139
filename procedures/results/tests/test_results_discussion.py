"""Booking the results discussion from the order page: the physicians and nurses who
see the button book it in one step, with the patient, the type and the date chosen."""

import datetime as dt
import re
from html import unescape

import pytest

from clinic import roles
from clinic.models import ReadAccess
from conftest import make_user
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ProcedureType
from procedures.scheduling.models import Appointment
from procedures.tests import factories

# Thursday 10 April 2025, 11:00 in the clinic.
NOW = clinic_datetime(dt.date(2025, 4, 10), dt.time(11, 0))
# The day after the last expected result (Thursday 17 April): Friday 18 April.
SUGGESTED = dt.date(2025, 4, 18)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def discussion():
    """Installed by migration 0009, as on a production database."""
    return ProcedureType.objects.get(code="results-discussion")


@pytest.fixture
def order(db):
    order = factories.TestOrderFactory(expected_by=dt.date(2025, 4, 11))
    factories.TestOrderFactory(appointment=order.appointment, expected_by=dt.date(2025, 4, 17))
    return order


def book_link(client, order) -> str:
    """The order page's "Book a results discussion" link."""
    page = client.get(f"/results/{order.pk}/").content.decode()
    match = re.search(r'href="([^"]*)">Book a results discussion<', page)
    assert match, "the order page offers no booking link"
    return unescape(match.group(1))


def test_the_migration_installs_a_discussion_type_with_nothing_to_prepare(discussion):
    assert discussion.is_discussion
    assert discussion.kind == "results_discussion"
    assert discussion.get_kind_display() == "Results discussion"
    assert discussion.default_duration_minutes == 30
    assert discussion.default_sedation_level == SedationLevel.NONE
    assert not discussion.default_tests.exists()
    assert not factories.ProcedureTypeFactory().is_discussion


@pytest.mark.usefixtures("care_for_all")
@pytest.mark.parametrize("role", [roles.PHYSICIAN, roles.NURSE])
def test_it_opens_the_booking_page_with_patient_type_and_date_chosen(
    client, order, discussion, role
):
    client.force_login(make_user("clinician", role))
    link = book_link(client, order)

    response = client.get(link)

    assert response.status_code == 200
    patient = order.appointment.patient
    assert link == (
        f"/appointments/book/?patient={patient.pk}&date={SUGGESTED.isoformat()}"
        f"&type=results-discussion&provider={order.responsible_id}"
    )
    assert response.context["form"].initial == {
        "patient_mrn": patient.mrn,
        "procedure_type": discussion.pk,
        "sedation_level": SedationLevel.NONE,
        "provider": order.responsible_id,
        "date": SUGGESTED,
    }
    page = response.content.decode()
    assert '<h1 class="h3 mb-3">Book a results discussion</h1>' in page
    assert f'<option value="{discussion.pk}" selected>Results discussion</option>' in page
    assert f'value="{SUGGESTED.isoformat()}"' in page
    assert "Fri 18 Apr 2025" in page
    # The patient search is the front desk's: not offered where it would be refused.
    assert 'name="q"' not in page
    read = ReadAccess.objects.filter(object_type="patients.patient").get()
    assert read.object_id == str(patient.pk)


@pytest.mark.usefixtures("care_for_all")
@pytest.mark.parametrize("role", [roles.PHYSICIAN, roles.NURSE])
def test_it_books_the_discussion_with_one_post_from_the_link(client, order, discussion, role):
    client.force_login(make_user("clinician", role))
    link = book_link(client, order)
    form = client.get(link).context["form"]
    room = factories.RoomFactory(is_monitored=False)

    response = client.post(
        link,
        {
            "patient_mrn": form.initial["patient_mrn"],
            "procedure_type": form.initial["procedure_type"],
            "provider": form.initial["provider"],
            "room": room.pk,
            "date": form.initial["date"].isoformat(),
            "start_time": "10:00",
            "sedation_level": form.initial["sedation_level"],
        },
    )

    booked = Appointment.objects.get(procedure_type=discussion)
    assert response.status_code == 302
    assert response["Location"] == booked.get_absolute_url()
    assert booked.patient == order.appointment.patient
    assert booked.provider_id == order.responsible_id
    assert booked.start_at == clinic_datetime(SUGGESTED, dt.time(10, 0))
    assert booked.end_at == clinic_datetime(SUGGESTED, dt.time(10, 30))
    assert booked.sedation_level == SedationLevel.NONE


def test_the_front_desk_still_books_and_searches_patients(frontdesk_client, order, discussion):
    patient = order.appointment.patient
    link = f"/appointments/book/?patient={patient.pk}&date=2025-04-18&type=results-discussion"

    response = frontdesk_client.get(link)

    assert response.status_code == 200
    assert response.context["form"].initial["procedure_type"] == discussion.pk
    assert 'name="q"' in response.content.decode()
    assert frontdesk_client.get("/appointments/book/").status_code == 200


def test_it_refuses_staff_without_a_booking_role_and_anonymous_visitors(client, order):
    link = f"/appointments/book/?patient={order.appointment.patient_id}"
    assert client.get(link)["Location"].startswith("/accounts/login/")

    client.force_login(make_user("nobody", None))
    assert client.get(link).status_code == 403
    client.force_login(make_user("admin-only", roles.CLINIC_ADMIN))
    assert client.get(link).status_code == 403
    assert not ReadAccess.objects.filter(object_type="patients.patient").exists()


def test_a_physician_outside_their_patients_states_a_reason_before_the_page_or_booking(
    client, order, discussion
):
    client.force_login(make_user("stranger", roles.PHYSICIAN))
    patient = order.appointment.patient
    link = f"/appointments/book/?patient={patient.pk}&type=results-discussion"

    shown = client.get(link)
    posted = client.post(
        "/appointments/book/",
        {
            "patient_mrn": patient.mrn,
            "procedure_type": discussion.pk,
            "provider": order.responsible_id,
            "room": factories.RoomFactory().pk,
            "date": SUGGESTED.isoformat(),
            "start_time": "10:00",
        },
    )

    for response in (shown, posted):
        assert response.status_code == 302
        assert response["Location"].startswith(f"/emergency-access/{patient.pk}/?next=")
    assert patient.mrn not in shown.content.decode()
    assert not Appointment.objects.filter(procedure_type=discussion).exists()
