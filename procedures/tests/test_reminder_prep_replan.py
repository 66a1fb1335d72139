"""Prep emails follow the prep plan: a hold confirmed after booking is emailed on its
day, confirming again never emails twice, and a step already sent is not resent."""

import datetime as dt

import pytest

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.models import MedicationHold, Reminder, SedationLevel
from procedures.models.choices import ProcedureKind
from procedures.services import booking, prep
from procedures.services.clock import clinic_datetime
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))  # Monday 1 March 2027
DAY = dt.date(2027, 3, 12)  # Friday 12 March 2027

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


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
    return booking.appointment_book(
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
    prep.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.STOP,
        stop_at=clinic_datetime(DAY - dt.timedelta(days=days_before), dt.time(20, 0)),
        by=physician_user,
    )
    prep.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)


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


def test_a_stop_email_already_sent_is_not_sent_again(appointment, physician_user, frozen):
    stop_warfarin(appointment, physician_user)
    [email] = hold_emails(appointment)
    Reminder.objects.filter(pk=email.pk).update(status=Reminder.Status.SENT)

    # A later change of the sedation plan re-plans the timeline.
    prep.hold_plan_confirm(appointment_id=appointment.pk, by=physician_user)

    assert hold_emails(appointment) == []
    assert len(hold_emails(appointment, Reminder.Status.SENT)) == 1


def test_a_changed_stop_date_replaces_the_pending_email(appointment, physician_user):
    stop_warfarin(appointment, physician_user, days_before=4)
    stop_warfarin(appointment, physician_user, days_before=6)

    [email] = hold_emails(appointment)
    assert email.step_at == clinic_datetime(dt.date(2027, 3, 6), dt.time(20, 0))
