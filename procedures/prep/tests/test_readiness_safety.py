"""Readiness before the needle (QA of the day-of flow): the bloods of a patient who
needs them count, "blood tests back" needs the values on record, a cancelled visit has
nothing to prepare, and the nurses' checklist counts only what a tick fixes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from patients.medications import medication_add
from patients.models import BloodResult
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep import checklist as prep_checklist
from procedures.prep import rules as prep_rules
from procedures.prep.models import ChecklistItem, ChecklistTick, ClinicalOverride
from procedures.scheduling import lifecycle
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory
from procedures.workflows import prep_changes, visits

DAY = dt.date(2027, 3, 10)
BOOKED = clinic_datetime(dt.date(2027, 2, 1), dt.time(9, 0))
ON_THE_DAY = clinic_datetime(DAY, dt.time(8, 0))

pytestmark = pytest.mark.django_db


def a_visit(*, bleeding=True, warfarin=True, day=DAY, hour=9, **extra) -> Appointment:
    patient = PatientFactory(bleeding_disorder=bleeding)
    if warfarin:
        medication_add(patient=patient, name="Warfarin", med_class="anticoagulant")
    extra.setdefault("sedation_level", SedationLevel.LOCAL)
    return AppointmentFactory(
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        patient=patient,
        start_at=clinic_datetime(day, dt.time(hour, 0)),
        end_at=clinic_datetime(day, dt.time(hour, 45)),
        **extra,
    )


def bloods(visit: Appointment, *, platelets=None, inr=None, on=DAY) -> None:
    BloodResult.objects.create(
        patient=visit.patient,
        taken_on=on,
        platelets=platelets,
        inr=None if inr is None else Decimal(inr),
    )


def everything_else_done(visit: Appointment, physician, nurse) -> None:
    """The physician's decisions and every tick but the bloods' (on the day)."""
    warfarin = visit.patient.medications.get()
    prep_changes.medication_hold_set(
        appointment_id=visit.pk,
        medication_id=warfarin.pk,
        action="continue",
        stop_at=None,
        by=physician,
    )
    prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician)
    prep_rules.procedure_site_set(
        appointment_id=visit.pk, site="posterior_iliac", side="left", by=physician
    )
    for item in prep_checklist.checklist_items(visit):
        if item != ChecklistItem.LABS_BACK:
            prep_checklist.checklist_tick(appointment_id=visit.pk, item=item, by=nurse)


@pytest.fixture
def visit(time_machine):
    time_machine.move_to(BOOKED, tick=False)
    return a_visit()


def test_blood_tests_back_cannot_be_ticked_with_no_bloods_recorded(visit, nurse_user, time_machine):
    time_machine.move_to(ON_THE_DAY, tick=False)

    def tick():
        prep_checklist.checklist_tick(
            appointment_id=visit.pk, item=ChecklistItem.LABS_BACK, by=nurse_user
        )

    with pytest.raises(ValidationError) as exc:
        tick()
    assert exc.value.messages == [
        "No platelet count or INR recorded in the 7 days before: record the bloods first."
    ]
    bloods(visit, platelets=180)
    with pytest.raises(ValidationError) as exc:
        tick()
    assert exc.value.messages == ["No INR recorded in the 7 days before: record the bloods first."]
    # Taken eight days before the procedure: too old to count.
    BloodResult.objects.create(
        patient=visit.patient, taken_on=DAY - dt.timedelta(days=8), inr=Decimal("1.0")
    )
    with pytest.raises(ValidationError):
        tick()
    assert not ChecklistTick.objects.exists()

    bloods(visit, inr="1.1")
    tick()
    assert ChecklistTick.objects.get().item == ChecklistItem.LABS_BACK


def test_dangerous_bloods_keep_the_visit_not_ready_and_need_a_reason_to_start(
    visit, nurse_user, physician_user, frontdesk_user, time_machine
):
    time_machine.move_to(ON_THE_DAY, tick=False)
    everything_else_done(visit, physician_user, nurse_user)
    bloods(visit, platelets=30, inr="3.5")
    prep_checklist.checklist_tick(
        appointment_id=visit.pk, item=ChecklistItem.LABS_BACK, by=nurse_user
    )

    state = prep_checklist.readiness(visit)
    assert not state.ready
    assert state.missing == [
        "Platelets 30 (taken 10 Mar 2027): below the clinic's 50.",
        "INR 3.50 (taken 10 Mar 2027): above the clinic's 1.5.",
    ]
    assert state.hard_stops == []  # the physician may go ahead, with a reason

    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    with pytest.raises(ValidationError, match="Not ready: Platelets 30"):
        visits.appointment_start(appointment_id=visit.pk, by=physician_user)
    visits.appointment_start(
        appointment_id=visit.pk, by=physician_user, reason="Platelets transfused at 07:30"
    )
    override = ClinicalOverride.objects.get(rule=prep_checklist.START_NOT_READY)
    assert override.reason == "Platelets transfused at 07:30"
    assert override.missing.startswith("Platelets 30")


def test_bloods_in_range_make_the_visit_ready(visit, nurse_user, physician_user, time_machine):
    time_machine.move_to(ON_THE_DAY, tick=False)
    everything_else_done(visit, physician_user, nurse_user)
    bloods(visit, platelets=180, inr="1.1")
    prep_checklist.checklist_tick(
        appointment_id=visit.pk, item=ChecklistItem.LABS_BACK, by=nurse_user
    )
    assert prep_checklist.readiness(visit).ready


def test_a_blood_thinner_alone_needs_bloods_too(time_machine):
    time_machine.move_to(BOOKED, tick=False)
    visit = a_visit(bleeding=False)

    missing = prep_checklist.readiness(visit).missing

    assert "No platelet count in the 7 days before." in missing
    assert "No INR in the 7 days before." in missing
    # The checklist's own item stays the bleeding disorder's.
    assert ChecklistItem.LABS_BACK not in prep_checklist.checklist_items(visit)
    assert not any(
        "platelet" in m
        for m in prep_checklist.readiness(a_visit(bleeding=False, warfarin=False, hour=11)).missing
    )


def test_the_appointment_page_says_not_ready_for_bloods_out_of_range(
    visit, nurse_user, physician_user, nurse_client, time_machine
):
    time_machine.move_to(ON_THE_DAY, tick=False)
    everything_else_done(visit, physician_user, nurse_user)
    bloods(visit, platelets=30, inr="3.5")
    nurse_client.force_login(nurse_user)

    page = nurse_client.get(visit.get_absolute_url()).content.decode()

    assert "NOT READY" in page and "Every check is done." not in page
    assert "Platelets 30 (taken 10 Mar 2027): below the clinic&#x27;s 50." in page


@pytest.mark.parametrize("status", [Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW])
def test_a_released_visit_has_nothing_to_prepare(visit, nurse_client, status):
    Appointment.objects.filter(pk=visit.pk).update(status=status)
    visit.refresh_from_db()

    state = prep_checklist.readiness(visit)
    assert state.no_longer_booked and not state.missing and not state.rows

    for url in (visit.get_absolute_url(), reverse("procedures:prep_detail", args=[visit.pk])):
        page = nurse_client.get(url).content.decode()
        assert "NOT READY" not in page and "Missing:" not in page
        assert "This visit is no longer booked" in page


@pytest.mark.parametrize("status", [Appointment.Status.IN_PROCEDURE, Appointment.Status.COMPLETED])
def test_a_started_visit_is_not_shown_as_not_ready(visit, nurse_client, status):
    """A visit under way or done is past its checks (made at the start; an override is on
    the timeline): its page says so, not a yellow NOT READY, and lists what is open."""
    Appointment.objects.filter(pk=visit.pk).update(status=status)
    visit.refresh_from_db()

    state = prep_checklist.readiness(visit)
    assert state.started and state.missing  # consent was never ticked for this visit

    for url in (visit.get_absolute_url(), reverse("procedures:prep_detail", args=[visit.pk])):
        page = nurse_client.get(url).content.decode()
        assert "NOT READY" not in page
        assert "The checks were made when the procedure started" in page
        assert "Still open:" in page


def test_readiness_of_a_days_list_takes_a_fixed_number_of_queries(time_machine):
    """Visits of several days, some needing bloods (a bleeding disorder or warfarin),
    each judged on its own day's bloods: six queries for two visits or eight."""
    time_machine.move_to(BOOKED, tick=False)

    def day_of(n: int) -> list[Appointment]:
        made = []
        for i in range(n):
            made.append(
                a_visit(
                    bleeding=i % 2 == 0,
                    warfarin=i % 3 == 0,
                    day=DAY + dt.timedelta(days=i % 2),
                    hour=8 + i,
                )
            )
        bloods(made[0], platelets=30, inr="1.0")
        return list(Appointment.objects.with_related().filter(pk__in=[a.pk for a in made]))

    few = day_of(2)
    with CaptureQueriesContext(connection) as read_few:
        facts = prep_checklist.readiness_facts(few)
    many = day_of(8)
    with CaptureQueriesContext(connection) as read_many:
        facts = prep_checklist.readiness_facts(many)
    assert len(read_few) == len(read_many) == 6
    for visit in many:
        alone = prep_checklist.readiness(visit)
        assert prep_checklist.readiness(visit, facts[visit.pk]).missing == alone.missing
    assert any("Platelets 30" in m for v in many for m in prep_checklist.readiness(v).missing)
