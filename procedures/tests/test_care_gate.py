"""Emergency access reaches every page about one patient's record, not only the
patient page: a physician opens the prep page, an order's page or a result's PDF of
someone else's patient only after stating a reason, and a POST from such a page
changes nothing until they have."""

from urllib.parse import parse_qs, urlsplit

import pytest

from clinic.models import EmergencyAccess, ReadAccess
from patients.medications import medication_add
from procedures.prep.models import MedicationHold
from procedures.tests.factories import AppointmentFactory, TestOrderFactory

pytestmark = pytest.mark.django_db
REASON = "Covering for Dr Adeyemi on call tonight."


@pytest.fixture
def other_order():
    """A test order of another physician's patient."""
    return TestOrderFactory()


def emergency_form_for(response, patient_id: int, back: str) -> None:
    assert response.status_code == 302
    assert response["Location"].startswith(f"/emergency-access/{patient_id}/?next=")
    assert parse_qs(urlsplit(response.url).query) == {"next": [back]}


def test_another_physicians_prep_page_asks_for_a_reason_first(doctor):
    appointment = AppointmentFactory()
    url = f"/appointments/{appointment.pk}/prep/"

    emergency_form_for(doctor.get(url), appointment.patient_id, url)
    assert not ReadAccess.objects.filter(object_type="procedures.appointment").exists()

    doctor.post(f"/emergency-access/{appointment.patient_id}/", {"reason": REASON})
    assert doctor.get(url).status_code == 200
    assert EmergencyAccess.objects.get().object_id == str(appointment.patient_id)


def test_a_physician_opens_their_own_patients_pages_at_once(doctor):
    mine = AppointmentFactory(provider=doctor.user.provider)
    order = TestOrderFactory(appointment=mine)

    assert doctor.get(f"/appointments/{mine.pk}/prep/").status_code == 200
    assert doctor.get(f"/appointments/{mine.pk}/prep/print/").status_code == 200
    assert doctor.get(f"/results/{order.pk}/").status_code == 200
    assert not EmergencyAccess.objects.exists()


def test_the_physician_an_order_was_reassigned_to_opens_it_at_once(doctor, other_order):
    other_order.responsible = doctor.user.provider
    other_order.save()

    assert doctor.get(f"/results/{other_order.pk}/").status_code == 200


def test_another_physicians_order_page_asks_for_a_reason_first(doctor, other_order):
    url = f"/results/{other_order.pk}/"

    emergency_form_for(doctor.get(url), other_order.appointment.patient_id, url)


def test_a_hold_posted_for_another_physicians_patient_changes_nothing(doctor):
    appointment = AppointmentFactory()
    medicine = medication_add(patient=appointment.patient, name="Aspirin", med_class="aspirin")
    page = f"http://testserver/appointments/{appointment.pk}/prep/"

    response = doctor.post(
        f"/appointments/{appointment.pk}/prep/holds/",
        {"medication": medicine.pk, "action": "continue", "resume_guidance": ""},
        headers={"referer": page},
    )

    emergency_form_for(response, appointment.patient_id, page)
    assert not MedicationHold.objects.exists()


def test_a_missing_record_is_not_found_not_a_question(doctor):
    assert doctor.get("/appointments/999999/prep/").status_code == 404
    assert doctor.get("/results/999999/").status_code == 404


def test_nurses_are_not_stopped(nurse_client, other_order):
    assert nurse_client.get(f"/results/{other_order.pk}/").status_code == 200
    assert nurse_client.get(f"/appointments/{other_order.appointment_id}/prep/").status_code == 200


def test_another_physicians_appointment_page_and_actions_ask_for_a_reason_first(doctor):
    appointment = AppointmentFactory()
    url = f"/appointments/{appointment.pk}/"

    emergency_form_for(doctor.get(url), appointment.patient_id, url)
    response = doctor.post(
        f"/appointments/{appointment.pk}/cancel/",
        {"reason_code": "patient_request", "note": ""},
        headers={"referer": "http://testserver" + url},
    )

    emergency_form_for(response, appointment.patient_id, "http://testserver" + url)
    appointment.refresh_from_db()
    assert appointment.status == appointment.Status.SCHEDULED
