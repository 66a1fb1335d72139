"""The nurses' day-of page: today's patients as compact rows, each tick saved through
htmx (the row alone comes back) with who and when."""

import datetime as dt

import pytest

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep.models import ChecklistTick
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2025, 3, 5)
NOW = clinic_datetime(DAY, dt.time(8, 0))


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def test_it_lists_todays_patients_with_their_checklist(nurse_client):
    today = AppointmentFactory(
        patient=PatientFactory(family_name="Garcia", given_name="Maria"),
        start_at=clinic_datetime(DAY, dt.time(9)),
        end_at=clinic_datetime(DAY, dt.time(10)),
        sedation_level=SedationLevel.LOCAL,
    )
    AppointmentFactory(
        patient=PatientFactory(family_name="Tomorrow"),
        start_at=clinic_datetime(DAY + dt.timedelta(days=1), dt.time(9)),
        end_at=clinic_datetime(DAY + dt.timedelta(days=1), dt.time(10)),
    )

    html = nurse_client.get("/today/checklists/").content.decode()

    assert "Garcia, Maria" in html and "Tomorrow" not in html
    assert f'hx-post="/today/checklists/{today.pk}/tick/"' in html
    assert "Consent" in html


def test_a_tick_through_htmx_answers_with_the_row_and_records_who_and_when(
    nurse_client, nurse_user
):
    visit = AppointmentFactory(
        start_at=clinic_datetime(DAY, dt.time(9)),
        end_at=clinic_datetime(DAY, dt.time(10)),
        sedation_level=SedationLevel.LOCAL,
    )

    response = nurse_client.post(
        f"/today/checklists/{visit.pk}/tick/", {"item": "consent"}, HTTP_HX_REQUEST="true"
    )

    html = response.content.decode()
    assert html.startswith(f'<tr id="checklist-{visit.pk}">')
    assert "&#10003; Consent" in html and "08:00" in html
    tick = ChecklistTick.objects.get()
    assert (tick.item, tick.by, tick.at) == ("consent", nurse_user, NOW)
    # Ticked twice (a second tab): said in the row, nothing changed.
    again = nurse_client.post(
        f"/today/checklists/{visit.pk}/tick/", {"item": "consent"}, HTTP_HX_REQUEST="true"
    )
    assert "already ticked" in again.content.decode()
    assert ChecklistTick.objects.count() == 1


def test_without_script_a_tick_returns_to_the_page(nurse_client):
    visit = AppointmentFactory(
        start_at=clinic_datetime(DAY, dt.time(9)), end_at=clinic_datetime(DAY, dt.time(10))
    )

    response = nurse_client.post(f"/today/checklists/{visit.pk}/tick/", {"item": "nonsense"})

    assert response.status_code == 302 and response["Location"] == "/today/checklists/"
    assert not ChecklistTick.objects.exists()
