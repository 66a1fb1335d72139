"""A medicine stop already emailed for a visit's old time is withdrawn when the visit
moves (invariant 28): the "new time" email says the earlier instructions no longer
apply, the front desk gets a call due at once, the physician confirms the plan again,
and the new stop is emailed from the new date."""

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import CallTask, Reminder
from procedures.prep.facts import plan_of
from procedures.prep.models import MedicationHold
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import prep_changes, visits

NOW = clinic_datetime(dt.date(2026, 12, 1), dt.time(9, 0))  # Tuesday 1 December 2026
DAY = dt.date(2026, 12, 9)  # Wednesday 9 December
LATER = dt.date(2026, 12, 16)  # Wednesday 16 December
K, S = Reminder.Kind, Reminder.Status
WITHDRAWN = "no longer apply"

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def visit(frontdesk_user):
    patient = PatientFactory(date_of_birth=dt.date(1955, 2, 3), email="p@example.com")
    medication_add(
        patient=patient, name="Warfarin", dose="3 mg", med_class=Medication.Class.ANTICOAGULANT
    )
    start = clinic_datetime(DAY, dt.time(9, 0))
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


def stop_warfarin(appointment, by, stop_at):
    warfarin = appointment.patient.medications.get(name="Warfarin")
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.STOP,
        stop_at=stop_at,
        by=by,
    )
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=by)


def send_until(clock, moment):
    clock.move_to(moment, tick=False)
    reminders_dispatch()


def move(appointment, day, by, at=dt.time(9, 0)):
    start = clinic_datetime(day, at)
    return visits.appointment_reschedule(
        appointment_id=appointment.pk, start_at=start, end_at=start + dt.timedelta(hours=1), by=by
    )


def new_time_email():
    [email] = [m for m in mail.outbox if "new time" in m.subject]
    return email.body, email.alternatives[0][0]


def withdrawn_calls(appointment):
    return list(CallTask.objects.filter(appointment=appointment, reason="stop_withdrawn"))


def test_it_withdraws_a_stop_already_emailed_when_the_visit_moves_later(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 7), dt.time(23, 0)))
    send_until(clock, clinic_datetime(dt.date(2026, 12, 7), dt.time(20, 0)))
    [stop_email] = [m for m in mail.outbox if "Monday 7 December" in m.body]
    assert "Take your last dose of it at 23:00 on Monday 7 December 2026" in stop_email.body
    mail.outbox.clear()

    clock.move_to(clinic_datetime(dt.date(2026, 12, 8), dt.time(10, 0)), tick=False)
    moved = move(visit, LATER, frontdesk_user)
    reminders_dispatch()

    text, html = new_time_email()
    for part in (text, html):
        assert "instructions we sent you about stopping a medicine" in part
        assert WITHDRAWN in part
        assert "Please take your medicines as usual" in part
        assert "The clinic will call you soon with the new dates" in part
    [call] = withdrawn_calls(moved)
    assert call.status == CallTask.Status.OPEN
    assert call.due_at <= timezone.now()  # at the top of the queue, due now
    assert call.appointment_version == moved.version
    assert not plan_of(moved).hold_plan_confirmed  # the physician confirms again

    # The physician re-dates the stop for the new day: it is emailed from that date.
    stop_warfarin(moved, physician_user, clinic_datetime(dt.date(2026, 12, 14), dt.time(23, 0)))
    [planned] = Reminder.objects.filter(
        appointment=moved, kind=K.MEDICATION_HOLD, status=S.PENDING, appointment_version=2
    )
    assert planned.step_at == clinic_datetime(dt.date(2026, 12, 14), dt.time(23, 0))
    mail.outbox.clear()
    send_until(clock, clinic_datetime(dt.date(2026, 12, 14), dt.time(20, 0)))
    assert any("Monday 14 December" in m.body for m in mail.outbox)


def test_it_withdraws_a_stop_already_emailed_when_the_visit_moves_earlier(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 5), dt.time(20, 0)))
    send_until(clock, clinic_datetime(dt.date(2026, 12, 5), dt.time(20, 0)))
    mail.outbox.clear()

    moved = move(visit, dt.date(2026, 12, 8), frontdesk_user)
    reminders_dispatch()

    text, html = new_time_email()
    assert WITHDRAWN in text and WITHDRAWN in html
    assert len(withdrawn_calls(moved)) == 1


def test_it_says_nothing_of_medicines_when_no_stop_was_emailed_yet(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 7), dt.time(23, 0)))

    moved = move(visit, LATER, frontdesk_user)
    reminders_dispatch()

    text, html = new_time_email()
    assert WITHDRAWN not in text and WITHDRAWN not in html
    assert withdrawn_calls(moved) == []
    # The stop planned for the old day is withdrawn before it went.
    assert not Reminder.objects.filter(appointment=moved, kind=K.MEDICATION_HOLD, status=S.SENT)


def test_it_keeps_a_stop_that_still_stands_after_a_move_the_same_day(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 7), dt.time(23, 0)))
    send_until(clock, clinic_datetime(dt.date(2026, 12, 7), dt.time(20, 0)))
    mail.outbox.clear()

    moved = move(visit, DAY, frontdesk_user, at=dt.time(11, 0))
    reminders_dispatch()

    text, _html = new_time_email()
    assert WITHDRAWN not in text
    assert withdrawn_calls(moved) == []
    assert plan_of(moved).hold_plan_confirmed


def test_it_calls_a_patient_without_email_about_the_withdrawn_stop(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 7), dt.time(23, 0)))
    send_until(clock, clinic_datetime(dt.date(2026, 12, 7), dt.time(20, 0)))
    patient = visit.patient
    patient.email = ""
    patient.save(update_fields=["email"])

    moved = move(visit, LATER, frontdesk_user)

    assert len(withdrawn_calls(moved)) == 1


def test_the_prep_page_lists_the_call_and_the_front_desk_marks_it_done_there(
    visit, physician_user, frontdesk_user, clock, client
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2026, 12, 7), dt.time(23, 0)))
    send_until(clock, clinic_datetime(dt.date(2026, 12, 7), dt.time(20, 0)))
    clock.move_to(clinic_datetime(dt.date(2026, 12, 8), dt.time(10, 0)), tick=False)
    moved = move(visit, LATER, frontdesk_user)
    prep_url = f"/appointments/{moved.pk}/prep/"

    client.force_login(frontdesk_user)
    page = client.get(prep_url).content.decode()
    assert "Visit moved after a medicine stop was emailed: call the patient with new dates" in page
    assert "Mark done" in page

    [call] = withdrawn_calls(moved)
    response = client.post(
        "/tasks/done/", {"kind": "call", "task": call.pk, "next": prep_url + "#tasks"}
    )
    assert response.status_code == 302 and response["Location"] == prep_url + "#tasks"
    call.refresh_from_db()
    assert call.status == CallTask.Status.DONE and call.done_by == frontdesk_user
    page = client.get(prep_url).content.decode()
    assert "done " in page and "Mark done</button>" not in page.split('id="prep-calls"')[1]
