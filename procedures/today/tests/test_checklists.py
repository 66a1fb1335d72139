"""The nurses' day-of page: today's patients as compact rows, each tick saved through
htmx (the row alone comes back) with who and when."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureSide, ProcedureSite, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep.checklist import readiness
from procedures.prep.models import (
    ChecklistItem,
    ChecklistTick,
    ClinicalOverride,
    MedicationHold,
    PrepPlan,
)
from procedures.prep.rules import STERNUM_REASON
from procedures.tests.factories import AppointmentFactory
from procedures.today import paging
from procedures.today.checklists import checklist_rows_of, day_checklist_visits

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


def _a_varied_day(count: int, nurse) -> list:
    """`count` of today's visits, each with other facts: medicines (and a stopped one),
    a hold plan confirmed or not, a site set, sedation, a bleeding disorder, ticks and
    a rule set aside."""
    visits = []
    for n in range(count):
        visit = AppointmentFactory(
            patient=PatientFactory(bleeding_disorder=n % 3 == 0),
            start_at=clinic_datetime(DAY, dt.time(9 + n % 8, 0)),
            end_at=clinic_datetime(DAY, dt.time(9 + n % 8, 30)),
            sedation_level=SedationLevel.IV_MODERATE if n % 2 else SedationLevel.LOCAL,
        )
        if n % 2:
            medicine = Medication.objects.create(
                patient=visit.patient, name="Warfarin", med_class=Medication.Class.ANTICOAGULANT
            )
            MedicationHold.objects.create(
                appointment=visit,
                medication=medicine,
                action=MedicationHold.Action.STOP,
                stop_at=clinic_datetime(DAY - dt.timedelta(days=3), dt.time(20)),
                decided_by=nurse,
                decided_at=timezone.now(),
            )
        if n % 3 == 1:
            PrepPlan.objects.create(
                appointment=visit,
                site=ProcedureSite.STERNUM,
                side=ProcedureSide.MIDLINE,
                hold_plan_confirmed_at=timezone.now() if n % 2 else None,
            )
            ClinicalOverride.objects.create(
                appointment=visit,
                rule=STERNUM_REASON,
                reason="Pelvis not reachable",
                by=nurse,
                at=timezone.now(),
            )
        ChecklistTick.objects.create(
            appointment=visit, item=ChecklistItem.CONSENT, by=nurse, at=timezone.now()
        )
        visits.append(visit)
    return visits


def test_the_day_reads_each_checklist_in_a_fixed_number_of_queries(nurse_client, nurse_user):
    """A network site's day is hundreds of visits: the page's queries do not grow with
    them (it made seven or more a visit, over 9,000 at 771 visits), and each row says
    what the visit's own checklist says."""
    _a_varied_day(3, nurse_user)
    with CaptureQueriesContext(connection) as few:
        assert nurse_client.get("/today/checklists/").status_code == 200
    visits = _a_varied_day(6, nurse_user)
    with CaptureQueriesContext(connection) as more:
        assert nurse_client.get("/today/checklists/").status_code == 200
    assert len(more) == len(few)

    rows = checklist_rows_of(list(day_checklist_visits().values_list("pk", flat=True)))
    assert len(rows) == 9
    for row in rows:
        alone = readiness(row.appointment)
        assert row.readiness.missing == alone.missing
        assert [(r.item, r.tick and r.tick.pk) for r in row.readiness.rows] == [
            (r.item, r.tick and r.tick.pk) for r in alone.rows
        ]
    # The facts do differ between the visits (the comparison above is not of empties).
    assert len({tuple(r.readiness.missing) for r in rows}) >= 3
    assert any(
        r.readiness.rows[0].item == ChecklistItem.MEDICATIONS_HELD
        for r in rows
        if r.appointment in visits
    )


def test_a_long_day_is_shown_a_page_of_times_at_a_time(nurse_client, monkeypatch):
    """Hundreds of visits at a network site: a page at a time, opening on the visits
    due now, each page named by its times, the checklists read for the page only."""
    monkeypatch.setattr(paging, "PER_PAGE", 2)
    for hhmm in ("06:00", "06:30", "07:00", "07:40", "09:00"):
        at = dt.time.fromisoformat(hhmm)
        AppointmentFactory(
            patient=PatientFactory(family_name=f"At{hhmm.replace(':', '')}"),
            start_at=clinic_datetime(DAY, at),
            end_at=clinic_datetime(DAY, at) + dt.timedelta(minutes=20),
        )

    page = nurse_client.get("/today/checklists/").content.decode()

    # 08:00: the 07:40 visit may still be at the door (30 minutes late at most).
    assert "At0740" in page and "At0700" in page and "At0600" not in page
    assert "06:00\u201306:30" in page and ">09:00</a>" in page  # one visit: one time
    later = nurse_client.get("/today/checklists/?page=3").content.decode()
    assert "At0900" in later and "At0740" not in later


def test_the_count_says_what_a_tick_fixes_and_what_is_the_physicians(nurse_client):
    """A sedated patient on warfarin whose physician has neither confirmed the hold plan
    nor set the site: five buttons, "5 to tick", and the physician's two (and the
    bloods to record) named as text, not counted as to do."""
    patient = PatientFactory(bleeding_disorder=True)
    Medication.objects.create(
        patient=patient, name="Warfarin", med_class=Medication.Class.ANTICOAGULANT
    )
    visit = AppointmentFactory(
        patient=patient,
        start_at=clinic_datetime(DAY, dt.time(9)),
        end_at=clinic_datetime(DAY, dt.time(10)),
        sedation_level=SedationLevel.IV_MODERATE,
    )

    html = nurse_client.get("/today/checklists/").content.decode()
    row = html.split(f'<tr id="checklist-{visit.pk}">', 1)[1].split("</tr>", 1)[0]

    buttons = row.count('<button type="submit" name="item"')
    assert buttons == 5  # fasting, escort, blood tests, consent, site and side
    assert "5 to tick" in row
    assert "to do" not in row
    assert "4 not ticked here (physician or records):" in row
    for text in (
        "Hold plan not confirmed",
        "Site and side not set",
        "No platelet count in the 7 days before.",
        "No INR in the 7 days before.",
    ):
        assert f"<li>{text}</li>" in row


def test_blood_tests_back_is_refused_on_the_page_until_the_bloods_are_recorded(nurse_client):
    visit = AppointmentFactory(
        patient=PatientFactory(bleeding_disorder=True),
        start_at=clinic_datetime(DAY, dt.time(9)),
        end_at=clinic_datetime(DAY, dt.time(10)),
        sedation_level=SedationLevel.LOCAL,
    )

    response = nurse_client.post(
        f"/today/checklists/{visit.pk}/tick/", {"item": "labs_back"}, HTTP_HX_REQUEST="true"
    )

    assert (
        "No platelet count or INR recorded in the 7 days before: record the bloods first."
        in response.content.decode()
    )
    assert not ChecklistTick.objects.filter(appointment=visit).exists()
