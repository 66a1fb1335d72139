"""A results discussion is a talk, not a procedure: no prep, escort, fasting or
aftercare emails, nothing to check before it starts, no flags on the board."""

import datetime as dt

import pytest

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ProcedureType
from procedures.messaging.models import Reminder
from procedures.prep import checklist as prep_checklist
from procedures.prep import timeline
from procedures.prep.models import FrontDeskTask
from procedures.tests.factories import ProviderFactory, RoomFactory
from procedures.today.board import today_arrivals
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))  # Monday 1 March 2027
DAY = dt.date(2027, 3, 2)  # the next day: well inside any medicine's stop period

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def discussion(frontdesk_user):
    patient = PatientFactory(
        date_of_birth=dt.date(2026, 1, 1),  # a young child: a talk is still allowed
        email="p@example.com",
        bleeding_disorder=True,
    )
    medication_add(patient=patient, name="Warfarin", med_class=Medication.Class.ANTICOAGULANT)
    start = clinic_datetime(DAY, dt.time(14, 0))
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureType.objects.get(code="results-discussion"),  # migration 0009
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(minutes=30),
        sedation_level=SedationLevel.NONE,
        by=frontdesk_user,
    )


def test_it_emails_the_confirmation_and_the_day_before_only(discussion):
    assert sorted(discussion.reminders.values_list("kind", flat=True)) == [
        Reminder.Kind.BOOKING_CONFIRMATION,
        Reminder.Kind.DAY_BEFORE,
    ]


def test_it_has_nothing_to_prepare_and_nothing_to_check(discussion):
    assert [step.kind for step in timeline.prep_timeline(discussion)] == ["arrival"]
    assert prep_checklist.readiness(discussion).ready
    assert not FrontDeskTask.objects.filter(appointment=discussion).exists()  # no short notice


def test_it_raises_no_flag_on_the_today_board(discussion):
    [arrival] = today_arrivals(day=DAY)
    assert arrival.flag_codes == []
