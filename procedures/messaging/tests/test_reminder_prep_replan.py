"""Prep emails follow the prep plan: a hold confirmed after booking is emailed on its
day, confirming again never emails twice, and a step already sent is not resent."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel, TransportMode
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep import facts, timeline
from procedures.prep import services as prep
from procedures.prep.models import FrontDeskTask, MedicationHold
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import prep_changes, visits

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))  # Monday 1 March 2027
DAY = dt.date(2027, 3, 12)  # Friday 12 March 2027

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def appointment(frontdesk_user):
    patient = PatientFactory(date_of_birth=dt.date(1960, 5, 1), email="p@example.com")
    medication_add(
        patient=patient,
        name="Warfarin",
        dose="3 mg daily",
        med_class=Medication.Class.ANTICOAGULANT,
    )
    start = clinic_datetime(DAY, dt.time(9, 0))
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


def hold_emails(appointment, status=Reminder.Status.PENDING):
    return list(
        appointment.reminders.filter(kind=Reminder.Kind.MEDICATION_HOLD, status=status)
        .exclude(step_detail="")
        .order_by("due_at")
    )


def stop_warfarin(appointment, physician_user, days_before=4):
    warfarin = appointment.patient.medications.get(name="Warfarin")
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.STOP,
        stop_at=clinic_datetime(DAY - dt.timedelta(days=days_before), dt.time(20, 0)),
        by=physician_user,
    )
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)


def test_it_plans_the_stop_email_once_the_physician_confirms_the_holds(appointment, physician_user):
    assert hold_emails(appointment) == []  # booked before any hold was decided

    stop_warfarin(appointment, physician_user)

    [email] = hold_emails(appointment)
    assert email.step_at == clinic_datetime(dt.date(2027, 3, 8), dt.time(20, 0))
    assert email.due_at <= email.step_at  # on the day, inside the send window
    assert "Warfarin" not in email.step_text  # the medicine's name only with consent


def test_confirming_again_does_not_plan_a_second_email(appointment, physician_user):
    stop_warfarin(appointment, physician_user)
    stop_warfarin(appointment, physician_user)

    assert len(hold_emails(appointment)) == 1
    assert len(hold_emails(appointment, Reminder.Status.CANCELLED)) == 1


def test_a_stop_email_already_sent_is_not_sent_again(appointment, physician_user, clock):
    stop_warfarin(appointment, physician_user)
    [email] = hold_emails(appointment)
    Reminder.objects.filter(pk=email.pk).update(status=Reminder.Status.SENT)

    # A later change of the sedation plan re-plans the timeline.
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)

    assert hold_emails(appointment) == []
    assert len(hold_emails(appointment, Reminder.Status.SENT)) == 1


def test_a_changed_stop_date_replaces_the_pending_email(appointment, physician_user):
    stop_warfarin(appointment, physician_user, days_before=4)
    stop_warfarin(appointment, physician_user, days_before=6)

    [email] = hold_emails(appointment)
    assert email.step_at == clinic_datetime(dt.date(2027, 3, 6), dt.time(20, 0))


def warfarin_decision(appointment, physician_user, action, stop_at=None):
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=appointment.patient.medications.get(name="Warfarin").pk,
        action=action,
        stop_at=stop_at,
        by=physician_user,
    )


def test_changing_a_decision_after_confirming_withdraws_the_pending_stop_email(
    appointment, physician_user
):
    stop_warfarin(appointment, physician_user)

    # The physician changes their mind: keep taking it. Until they confirm again,
    # no email may tell the patient to stop.
    warfarin_decision(appointment, physician_user, MedicationHold.Action.CONTINUE)

    assert hold_emails(appointment) == []
    assert len(hold_emails(appointment, Reminder.Status.CANCELLED)) == 1
    assert not facts.PrepFacts(appointment).plan.hold_plan_confirmed


def escort_requests(appointment, status=Reminder.Status.PENDING):
    return list(appointment.reminders.filter(kind=Reminder.Kind.ESCORT_REQUEST, status=status))


def set_sedation(appointment, level, physician_user):
    prep_changes.sedation_plan_set(
        appointment_id=appointment.pk,
        sedation_level=level,
        food_fast_hours=6,
        clear_fluid_fast_hours=2,
        by=physician_user,
    )


def test_the_escort_request_follows_a_sedation_change_on_the_prep_page(appointment, physician_user):
    [asked] = escort_requests(appointment)  # booked with IV sedation

    set_sedation(appointment, SedationLevel.LOCAL, physician_user)
    assert escort_requests(appointment) == []
    assert [r.pk for r in escort_requests(appointment, Reminder.Status.CANCELLED)] == [asked.pk]

    set_sedation(appointment, SedationLevel.IV_MODERATE, physician_user)
    [again] = escort_requests(appointment)
    # Two clinic days before the visit, at 10:00.
    assert again.due_at == clinic_datetime(DAY - dt.timedelta(days=2), dt.time(10, 0))

    # Setting the same sedation again asks nobody twice.
    set_sedation(appointment, SedationLevel.IV_MODERATE, physician_user)
    assert escort_requests(appointment) == [again]


def test_a_sent_escort_request_is_not_sent_again_after_a_sedation_change(
    appointment, physician_user
):
    [asked] = escort_requests(appointment)
    Reminder.objects.filter(pk=asked.pk).update(status=Reminder.Status.SENT)

    set_sedation(appointment, SedationLevel.GENERAL, physician_user)

    assert escort_requests(appointment) == []


def move(appointment, day, frontdesk_user):
    start = clinic_datetime(day, dt.time(9, 0))
    return visits.appointment_reschedule(
        appointment_id=appointment.pk, start_at=start, by=frontdesk_user
    )


def test_moving_to_another_day_sends_confirmed_stops_back_to_the_physician(
    appointment, physician_user, frontdesk_user
):
    stop_warfarin(appointment, physician_user)  # stop on Monday 8 March for Friday 12
    assert len(hold_emails(appointment)) == 1

    moved = move(appointment, dt.date(2027, 3, 3), frontdesk_user)  # Wednesday 3 March

    # A stop dated for the old day would now fall after the procedure: no email
    # tells the patient to stop until the physician dates and confirms it again.
    assert hold_emails(moved) == []
    plan = facts.PrepFacts(moved).plan
    assert not plan.hold_plan_confirmed
    assert moved.events.filter(kind="hold_plan_reopened").exists()
    assert not any(s.kind == "medication_hold" for s in timeline.prep_timeline(moved))
    # Warfarin's usual 3 days' stop does not fit from Monday 1 March: the front desk is told.
    [task] = FrontDeskTask.objects.filter(appointment=moved, done_at__isnull=True)
    assert task.kind == FrontDeskTask.Kind.SHORT_NOTICE
    assert task.due_date == dt.date(2027, 3, 1)


def test_moving_within_the_day_keeps_the_confirmed_stops(
    appointment, physician_user, frontdesk_user
):
    stop_warfarin(appointment, physician_user)
    start = clinic_datetime(DAY, dt.time(11, 0))

    moved = visits.appointment_reschedule(
        appointment_id=appointment.pk, start_at=start, by=frontdesk_user
    )

    assert facts.PrepFacts(moved).plan.hold_plan_confirmed
    [email] = hold_emails(moved)
    assert email.appointment_version == moved.version


def test_front_desk_tasks_move_with_the_visit(appointment, frontdesk_user):
    prep.transport_set(
        appointment_id=appointment.pk,
        transport_mode=TransportMode.WHEELCHAIR,
        escort_name="Ana Garcia",
        escort_phone="07700 900123",
        needs_wheelchair=True,
        by=frontdesk_user,
    )
    assert FrontDeskTask.objects.get(kind="wheelchair").due_date == dt.date(2027, 3, 10)

    move(appointment, dt.date(2027, 3, 5), frontdesk_user)

    # Two days before the new day, not after it.
    assert FrontDeskTask.objects.get(kind="wheelchair").due_date == dt.date(2027, 3, 3)


# --- The room's hold follows the sedation -------------------------------------------


@pytest.fixture
def next_in_room(appointment, frontdesk_user):
    """Another patient in the same room from 12:00, with another physician."""
    start = clinic_datetime(DAY, dt.time(12, 0))
    return visits.appointment_book(
        patient=PatientFactory(email="q@example.com"),
        procedure_type=appointment.procedure_type,
        provider=ProviderFactory(),
        room=appointment.room,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )


def with_recovery(appointment, *, iv, general):
    procedure = appointment.procedure_type
    procedure.recovery_minutes_iv, procedure.recovery_minutes_general = iv, general
    procedure.save()


def test_deeper_sedation_holds_the_room_longer_for_recovery(appointment, physician_user):
    with_recovery(appointment, iv=0, general=90)

    set_sedation(appointment, SedationLevel.GENERAL, physician_user)

    appointment.refresh_from_db()
    assert appointment.buffer_after_minutes == 90
    assert appointment.blocked_until == clinic_datetime(DAY, dt.time(11, 30))


def test_a_sedation_whose_recovery_runs_into_the_next_booking_is_refused(
    appointment, physician_user, next_in_room
):
    with_recovery(appointment, iv=0, general=180)  # 10:00 + 3 h runs past 12:00

    with pytest.raises(ValidationError) as refused:
        set_sedation(appointment, SedationLevel.GENERAL, physician_user)

    [first, clash, *_rest] = refused.value.message_dict["sedation_level"]
    assert "held until 13:00 for recovery" in first
    assert "12:00" in clash  # the room's other booking, without the patient's name
    assert "q@example.com" not in " ".join(refused.value.messages)
    appointment.refresh_from_db()
    assert (appointment.sedation_level, appointment.buffer_after_minutes) == (
        SedationLevel.IV_MODERATE,
        0,
    )
