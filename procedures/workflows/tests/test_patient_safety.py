"""Issue 12: nothing unsafe reaches a patient. One test per thing seen on the demo
clinic (items 1-17 of the issue), each written to fail before its fix."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from patients import services as patient_services
from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, ProcedureSide, ProcedureSite, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ClinicHoliday
from procedures.messaging import links
from procedures.messaging.dispatch import reminders_claim, reminders_dispatch
from procedures.messaging.ics import appointment_ics
from procedures.messaging.models import CallTask, EmailOptOut, Reminder
from procedures.prep import rules as prep_rules
from procedures.prep.checklist import checklist_tick
from procedures.prep.models import MedicationHold
from procedures.prep.timeline import prep_timeline
from procedures.results import orders
from procedures.results.forms import SampleForm
from procedures.results.models import TestOrder
from procedures.scheduling import lifecycle
from procedures.tests.factories import (
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    TestTypeFactory,
)
from procedures.today.board import today_arrivals
from procedures.workflows import prep_changes, visits
from procedures.workflows import results as results_flow

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))  # Monday 1 March 2027
DAY = dt.date(2027, 3, 12)  # Friday 12 March 2027
DOB = dt.date(1960, 5, 1)
S = Reminder.Status
K = Reminder.Kind

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def check_in_and_start(visit, *, frontdesk, physician) -> None:
    """Checked in and started on the day, as a real team must: the site and side set,
    consent and the site confirmed (no reason overrides those), a reason for the rest."""
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk)
    prep_rules.procedure_site_set(
        appointment_id=visit.pk,
        site=ProcedureSite.POSTERIOR_ILIAC,
        side=ProcedureSide.LEFT,
        by=physician,
    )
    for item in ("consent", "site_side"):
        checklist_tick(appointment_id=visit.pk, item=item, by=physician)
    visits.appointment_start(
        appointment_id=visit.pk, by=physician, reason="Checked by the team on the day"
    )


def book(
    by,
    *,
    day=DAY,
    at=dt.time(9, 0),
    medicines=True,
    email="p@example.com",
    fast_begun_confirmed=False,
    **extra,
):
    patient = PatientFactory(date_of_birth=DOB, email=email, **extra)
    if medicines:
        medication_add(
            patient=patient,
            name="Warfarin",
            dose="3 mg daily",
            med_class=Medication.Class.ANTICOAGULANT,
        )
    start = clinic_datetime(day, at)
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=by,
        fast_begun_confirmed=fast_begun_confirmed,
    )


@pytest.fixture
def visit(frontdesk_user):
    return book(frontdesk_user)


def stop_warfarin(appointment, by, stop_at):
    warfarin = appointment.patient.medications.get(name="Warfarin")
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=warfarin.pk,
        action=MedicationHold.Action.STOP,
        stop_at=stop_at,
        by=by,
    )


def rows(appointment, *kinds, status=None):
    found = appointment.reminders.all()
    if kinds:
        found = found.filter(kind__in=kinds)
    if status:
        found = found.filter(status=status)
    return list(found.order_by("due_at", "pk"))


# 1 -------------------------------------------------------------------------------------


def test_it_refuses_to_confirm_a_stop_that_has_already_passed(visit, physician_user, clock):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2027, 3, 8), dt.time(20, 0)))
    clock.move_to(clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 0)), tick=False)

    with pytest.raises(ValidationError, match="already passed"):
        prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)

    assert rows(visit, K.MEDICATION_HOLD) == []


def test_it_refuses_a_last_dose_in_the_past(visit, physician_user):
    with pytest.raises(ValidationError, match="passed"):
        stop_warfarin(visit, physician_user, NOW - dt.timedelta(days=1))


def test_it_reopens_the_plan_when_a_move_puts_a_stop_after_the_start(
    visit, physician_user, frontdesk_user
):
    # Without sedation (no fast), a last dose may be the same morning.
    prep_changes.sedation_plan_set(
        appointment_id=visit.pk,
        sedation_level=SedationLevel.LOCAL,
        food_fast_hours=6,
        clear_fluid_fast_hours=2,
        by=physician_user,
    )
    stop_warfarin(visit, physician_user, clinic_datetime(DAY, dt.time(8, 30)))
    prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)

    start = clinic_datetime(DAY, dt.time(8, 0))  # the same day, earlier than the stop
    moved = visits.appointment_reschedule(
        appointment_id=visit.pk,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        by=frontdesk_user,
    )

    stops = [s for s in prep_timeline(moved) if s.kind == "medication_hold" and s.detail]
    assert stops == []
    assert all(r.step_at < moved.start_at for r in rows(moved, K.MEDICATION_HOLD, status=S.PENDING))


# 2 -------------------------------------------------------------------------------------


def test_it_withdraws_the_visits_emails_when_the_procedure_is_completed(
    visit, frontdesk_user, physician_user, clock
):
    clock.move_to(clinic_datetime(DAY, dt.time(8, 50)), tick=False)
    check_in_and_start(visit, frontdesk=frontdesk_user, physician=physician_user)
    visits.appointment_complete(appointment_id=visit.pk, by=physician_user)

    before_visit = [K.FASTING, K.PREP_STEP, K.ESCORT_REQUEST, K.DAY_BEFORE, K.MEDICATION_HOLD]
    assert rows(visit, *before_visit, status=S.PENDING) == []
    withdrawn = rows(visit, *before_visit, status=S.CANCELLED)
    assert withdrawn
    assert all(r.skip_reason for r in withdrawn)


def test_it_skips_at_send_time_a_prep_email_of_a_visit_under_way(
    visit, frontdesk_user, physician_user, clock
):
    clock.move_to(clinic_datetime(DAY, dt.time(8, 50)), tick=False)
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    # A row that slipped past the planning (written by hand, as an older release would).
    stray = Reminder.objects.create(
        appointment=visit, kind=K.PREP_STEP, due_at=clinic_datetime(DAY, dt.time(8, 0))
    )

    reminders_dispatch()

    stray.refresh_from_db()
    assert stray.status == S.SKIPPED
    assert "checked in" in stray.skip_reason
    assert mail.outbox == [] or all("prepare" not in m.subject.lower() for m in mail.outbox)


# 3 -------------------------------------------------------------------------------------


def test_it_withdraws_the_escort_request_once_the_front_desk_confirms_the_escort(
    visit, frontdesk_client
):
    assert rows(visit, K.ESCORT_REQUEST, status=S.PENDING)

    response = frontdesk_client.post(
        f"/appointments/{visit.pk}/prep/transport/",
        {
            "tr-transport_mode": "escort_driving",
            "tr-escort_name": "Ana Lopez",
            "tr-escort_phone": "07700 900123",
            "tr-escort_confirmed": "on",
        },
    )

    assert response.status_code == 302
    assert rows(visit, K.ESCORT_REQUEST, status=S.PENDING) == []
    [withdrawn] = rows(visit, K.ESCORT_REQUEST, status=S.CANCELLED)
    assert withdrawn.skip_reason == "escort confirmed"


def test_it_withdraws_the_escort_request_when_the_escort_is_confirmed_after_check_in(
    frontdesk_user, time_machine
):
    """Found by the visit machine: booked on the day, checked in, the escort confirmed at
    the desk; the prep is no longer replanned then, but the answered request must go.
    (Booked at 07:00 for 11:00, sedated: the patient said they had not eaten since 05:00.)"""
    time_machine.move_to(clinic_datetime(DAY, dt.time(7, 0)), tick=False)
    visit = book(frontdesk_user, at=dt.time(11, 0), fast_begun_confirmed=True)
    time_machine.move_to(clinic_datetime(DAY, dt.time(10, 0)), tick=False)
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    assert rows(visit, K.ESCORT_REQUEST, status=S.PENDING)

    prep_changes.escort_confirm(
        appointment_id=visit.pk, name="Ana Lopez", phone="07700 900123", by=frontdesk_user
    )

    assert rows(visit, K.ESCORT_REQUEST, status=S.PENDING) == []
    [withdrawn] = rows(visit, K.ESCORT_REQUEST, status=S.CANCELLED)
    assert withdrawn.skip_reason == "escort confirmed"


def test_it_withdraws_the_escort_request_once_the_patient_names_the_escort(visit):
    grant = links.link_read(
        purpose="escort", token=links.link_token(appointment=visit, purpose="escort")
    )
    links.link_confirm_escort(grant=grant, name="Ana Lopez", phone="07700 900123")

    assert rows(visit, K.ESCORT_REQUEST, status=S.PENDING) == []


# 4 -------------------------------------------------------------------------------------


def test_it_keeps_the_rows_of_emails_a_prep_save_did_not_change(visit, physician_user):
    before = {r.pk for r in rows(visit)}

    for _ in range(3):
        prep_changes.sedation_plan_set(
            appointment_id=visit.pk,
            sedation_level=SedationLevel.IV_MODERATE,
            food_fast_hours=6,
            clear_fluid_fast_hours=2,
            by=physician_user,
        )

    assert {r.pk for r in rows(visit)} == before
    assert rows(visit, status=S.CANCELLED) == []


# 5 -------------------------------------------------------------------------------------


def test_it_never_dates_a_step_that_had_passed_at_booking(frontdesk_user, clock):
    clock.move_to(clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 0)), tick=False)
    appointment = book(frontdesk_user)  # two days ahead: "7 days before" is past

    [medicine_list] = [s for s in prep_timeline(appointment) if s.kind == "what_to_bring"]

    assert medicine_list.as_soon_as_possible
    assert medicine_list.at >= appointment.created_at
    [email] = [r for r in rows(appointment, K.PREP_STEP) if "medicine" in r.step_text]
    assert email.step_at is None  # the email says "as soon as possible", not a past date


# 6 -------------------------------------------------------------------------------------


def test_it_shows_patients_no_staff_notes(visit, client, nurse_client, clock):
    token = links.link_token(appointment=visit, purpose="details")
    url = f"/p/details/{token}/"
    client.post(url, {"date_of_birth": DOB.strftime("%d/%m/%Y")})
    page = client.get(url).content.decode()
    assert "Keep taking your medicines" in page
    assert "Hold plan not confirmed" not in page

    sheet = nurse_client.get(f"/appointments/{visit.pk}/prep/print/").content.decode()
    assert "Keep taking your medicines" in sheet
    assert "Hold plan not confirmed" not in sheet


# 7 -------------------------------------------------------------------------------------


def test_it_offers_the_site_and_side_the_physician_set_on_the_sample_form(visit, physician_user):
    prep_rules.procedure_site_set(
        appointment_id=visit.pk,
        site=ProcedureSite.POSTERIOR_ILIAC,
        side=ProcedureSide.RIGHT,
        by=physician_user,
    )

    form = SampleForm(appointment=visit)

    assert form["specimen_side"].value() == "right"
    assert form["specimen_site"].value() == "posterior_iliac"


# 8 -------------------------------------------------------------------------------------


def test_it_never_expects_a_result_on_a_public_holiday(settings):
    settings.CLINIC_HOLIDAYS_COUNTRY, settings.CLINIC_HOLIDAYS_SUBDIVISION = "GB", "ENG"
    collected = clinic_datetime(dt.date(2026, 12, 23), dt.time(11, 0))  # Wednesday

    # Thu 24 (1); Fri 25 Christmas, Mon 28 Boxing Day (substitute); Tue 29 (2).
    assert orders.expected_by_for(collected_at=collected, turnaround_days=2) == dt.date(
        2026, 12, 29
    )
    # New Year's Day is a Friday: the next working day is Monday 4 January.
    collected = clinic_datetime(dt.date(2026, 12, 31), dt.time(11, 0))
    assert orders.expected_by_for(collected_at=collected, turnaround_days=1) == dt.date(2027, 1, 4)
    # A closure typed by an admin counts too.
    ClinicHoliday.objects.create(date=dt.date(2027, 1, 4), name="Clinic closed")
    assert orders.expected_by_for(collected_at=collected, turnaround_days=1) == dt.date(2027, 1, 5)


# 9 -------------------------------------------------------------------------------------


def test_it_plans_a_call_not_an_email_for_an_abnormal_karyotype(
    visit, physician_user, frontdesk_user, clock
):
    clock.move_to(clinic_datetime(DAY, dt.time(8, 50)), tick=False)
    check_in_and_start(visit, frontdesk=frontdesk_user, physician=physician_user)
    karyotype = TestTypeFactory(code="karyotype", name="Cytogenetics (karyotype)")
    visits.appointment_complete(
        appointment_id=visit.pk,
        by=physician_user,
        sample=orders.Sample(
            test_types=[karyotype], collected_at=clinic_datetime(DAY, dt.time(8, 50))
        ),
    )
    order = TestOrder.objects.get(appointment=visit)
    orders.result_log(
        order_id=order.pk,
        interpretation="abnormal",
        report_text="46,XY,t(9;22)",
        is_final=True,
        by=physician_user,
    )

    results_flow.result_review(order_id=order.pk, action_planned="Discuss", by=physician_user)

    assert rows(visit, K.RESULTS_READY) == []
    [call] = CallTask.objects.filter(appointment=visit, reason=CallTask.Reason.RESULTS_CALL)
    assert call.status == CallTask.Status.OPEN


def test_it_emails_results_ready_when_the_physician_chooses_email(
    visit, physician_user, frontdesk_user, clock
):
    clock.move_to(clinic_datetime(DAY, dt.time(8, 50)), tick=False)
    check_in_and_start(visit, frontdesk=frontdesk_user, physician=physician_user)
    visits.appointment_complete(
        appointment_id=visit.pk,
        by=physician_user,
        sample=orders.Sample(
            test_types=[TestTypeFactory(code="morph")],
            collected_at=clinic_datetime(DAY, dt.time(8, 50)),
        ),
    )
    order = TestOrder.objects.get(appointment=visit)
    orders.result_log(
        order_id=order.pk, interpretation="normal", report_text="", is_final=True, by=physician_user
    )

    results_flow.result_review(
        order_id=order.pk, action_planned="", by=physician_user, tell_by="email"
    )

    assert len(rows(visit, K.RESULTS_READY)) == 1


# 10 ------------------------------------------------------------------------------------


def test_it_never_resends_a_prep_email_after_a_move_and_a_second_confirmation(
    visit, physician_user, frontdesk_user, clock
):
    stop_warfarin(visit, physician_user, clinic_datetime(dt.date(2027, 3, 9), dt.time(20, 0)))
    prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)
    for day in range(5, 10):
        clock.move_to(clinic_datetime(dt.date(2027, 3, day), dt.time(20, 0)), tick=False)
        reminders_dispatch()
    sent_before = {(r.kind, r.step_text) for r in rows(visit, status=S.SENT) if r.step_text}
    assert (K.MEDICATION_HOLD, rows(visit, K.MEDICATION_HOLD)[0].step_text) in sent_before

    clock.move_to(clinic_datetime(dt.date(2027, 3, 11), dt.time(9, 0)), tick=False)
    start = clinic_datetime(dt.date(2027, 3, 19), dt.time(9, 0))
    visits.appointment_reschedule(
        appointment_id=visit.pk,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        by=frontdesk_user,
    )
    with pytest.raises(ValidationError):
        prep_changes.hold_plan_confirm(appointment_id=visit.pk, by=physician_user)  # stop past
    for day in range(11, 20):
        clock.move_to(clinic_datetime(dt.date(2027, 3, day), dt.time(19, 0)), tick=False)
        reminders_dispatch()

    sent = rows(visit, status=S.SENT)
    texts = [r.step_text for r in sent if r.kind == K.PREP_STEP]
    assert len(texts) == len(set(texts))  # "bring your medicine list" once
    for row in sent:
        assert row.step_at is None or row.step_at >= row.sent_at - dt.timedelta(days=1)


# 11 ------------------------------------------------------------------------------------


def test_it_sends_the_booking_confirmation_before_any_prep_step(frontdesk_user, clock):
    clock.move_to(clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 0)), tick=True)
    appointment = book(frontdesk_user)

    reminders_dispatch()

    assert mail.outbox
    assert "booked" in mail.outbox[0].subject.lower()
    assert rows(appointment, K.BOOKING_CONFIRMATION)[0].status == S.SENT


def test_it_holds_a_prep_email_while_the_confirmation_waits_for_a_retry(frontdesk_user, clock):
    clock.move_to(clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 0)), tick=False)
    appointment = book(frontdesk_user)
    [confirmation] = rows(appointment, K.BOOKING_CONFIRMATION)
    Reminder.objects.filter(pk=confirmation.pk).update(
        due_at=clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 30)), last_error="451"
    )

    reminders_dispatch()

    assert mail.outbox == []
    assert rows(appointment, K.PREP_STEP, status=S.SENT) == []
    clock.move_to(clinic_datetime(dt.date(2027, 3, 10), dt.time(9, 31)), tick=False)
    reminders_dispatch()
    assert "booked" in mail.outbox[0].subject.lower()
    assert any("preparing" in m.subject.lower() for m in mail.outbox[1:])


# 12 ------------------------------------------------------------------------------------


def test_it_increases_the_sequence_on_a_calendar_cancellation(visit, frontdesk_user):
    request = appointment_ics(visit, method="REQUEST").decode()
    assert "SEQUENCE:1" in request

    cancelled = visits.appointment_cancel(
        appointment_id=visit.pk, by=frontdesk_user, reason_code="patient_request"
    )

    assert "SEQUENCE:2" in appointment_ics(cancelled, method="CANCEL").decode()
    assert b"SEQUENCE:2" in appointment_ics(cancelled, method="CANCEL")


# 13 ------------------------------------------------------------------------------------


def test_it_turns_a_refused_email_into_a_call_at_once(visit, smtp_mail):
    smtp_mail.scripted_replies = ["550 5.1.1 no such user"]

    reminders_dispatch()

    [confirmation] = rows(visit, K.BOOKING_CONFIRMATION)
    assert confirmation.status == S.FAILED
    [call] = CallTask.objects.filter(appointment=visit, reason=CallTask.Reason.EMAIL_FAILED)
    assert (call.status, call.reminder_kind, call.reminder_id) == (
        CallTask.Status.OPEN,
        K.BOOKING_CONFIRMATION,
        confirmation.pk,
    )
    assert call.due_at <= NOW + dt.timedelta(minutes=1)


# 14 ------------------------------------------------------------------------------------


def test_it_resends_an_email_whose_worker_died_soon_after_its_lease_ends(visit, settings, clock):
    [claimed] = reminders_claim(now=NOW, limit=10)  # the worker dies right after claiming
    lease_end = NOW + dt.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)

    clock.move_to(lease_end + dt.timedelta(seconds=61), tick=False)
    reminders_dispatch()  # the every-minute run, no sweep needed

    assert Reminder.objects.get(pk=claimed).status == S.SENT
    sweep = settings.CELERY_BEAT_SCHEDULE["sweep-expired-leases"]["schedule"]
    assert float(getattr(sweep, "total_seconds", lambda: sweep)()) <= 60


# 15 ------------------------------------------------------------------------------------


def test_it_emails_the_warning_signs_the_same_evening_even_to_an_unsubscribed_patient(
    visit, frontdesk_user, physician_user, clock
):
    EmailOptOut.objects.create(patient=visit.patient)
    clock.move_to(clinic_datetime(DAY, dt.time(8, 50)), tick=False)
    check_in_and_start(visit, frontdesk=frontdesk_user, physician=physician_user)
    clock.move_to(clinic_datetime(DAY, dt.time(10, 0)), tick=False)
    visits.appointment_complete(appointment_id=visit.pk, by=physician_user)
    mail.outbox.clear()

    clock.move_to(clinic_datetime(DAY, dt.time(10, 1)), tick=False)
    reminders_dispatch()

    [warning] = [m for m in mail.outbox if "bleeding that does not stop" in m.body]
    assert "unsubscribe" not in warning.body.lower()


# 16 ------------------------------------------------------------------------------------


def test_it_turns_every_planned_email_into_a_call_when_the_email_is_removed(visit):
    planned = {r.kind for r in rows(visit, status=S.PENDING)}
    patient = visit.patient

    patient.email = ""
    patient_services.patient_update(patient=patient)

    assert rows(visit, status=S.PENDING) == []
    calls = CallTask.objects.filter(appointment=visit, status=CallTask.Status.OPEN)
    assert planned - {K.AFTERCARE} <= {c.reminder_kind for c in calls}

    patient.email = "new@example.com"
    patient_services.patient_update(patient=patient)

    assert {r.kind for r in rows(visit, status=S.PENDING)} == planned
    assert not CallTask.objects.filter(
        appointment=visit, status=CallTask.Status.OPEN, reason=CallTask.Reason.NO_EMAIL
    ).exists()


def test_it_calls_at_send_time_when_the_patient_cannot_be_emailed_any_more(visit):
    # The address went without the replanning (an import, a shell): the dispatcher
    # still never drops the email silently.
    type(visit.patient).objects.filter(pk=visit.patient_id).update(email_reminders=False)

    reminders_dispatch()

    [confirmation] = rows(visit, K.BOOKING_CONFIRMATION)
    assert confirmation.status == S.SKIPPED
    assert CallTask.objects.filter(
        appointment=visit, reminder_kind=K.BOOKING_CONFIRMATION, status=CallTask.Status.OPEN
    ).exists()


# 17 ------------------------------------------------------------------------------------


def test_it_asks_for_the_escort_again_when_the_visit_moves_to_another_day(
    visit, frontdesk_user, clock
):
    prep_changes.escort_confirm(
        appointment_id=visit.pk, name="Ana Lopez", phone="07700 900123", by=frontdesk_user
    )
    new_day = dt.date(2027, 3, 15)
    start = clinic_datetime(new_day, dt.time(9, 0))
    moved = visits.appointment_reschedule(
        appointment_id=visit.pk,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        by=frontdesk_user,
    )

    assert moved.escort_confirmed_at is None
    [arrival] = today_arrivals(day=new_day)
    assert "escort" in arrival.flag_codes
    assert rows(moved, K.ESCORT_REQUEST, status=S.PENDING)


# Found by the state machine (tests/stateful/test_visit_machine.py) -------------------


def test_it_plans_no_prep_email_when_a_cancelled_visits_sedation_changes(
    frontdesk_user, physician_user
):
    appointment = book(frontdesk_user, medicines=False)
    appointment.refresh_from_db()
    visits.appointment_cancel(
        appointment_id=appointment.pk, by=frontdesk_user, reason_code="patient_request"
    )

    # A released visit's plan is read-only now: the change is refused outright.
    with pytest.raises(ValidationError, match="can no longer be changed"):
        prep_changes.sedation_plan_set(
            appointment_id=appointment.pk,
            sedation_level=SedationLevel.IV_MODERATE,
            food_fast_hours=8,
            clear_fluid_fast_hours=2,
            by=physician_user,
        )

    assert rows(appointment, K.FASTING, K.PREP_STEP, K.ESCORT_REQUEST, status=S.PENDING) == []


# Found by tests/faults (two dispatchers at once) after item 14's lease-aware claim -----


def test_it_leaves_a_row_just_past_its_lease_to_the_slow_run_still_marking_it(
    visit, settings, clock
):
    [claimed] = reminders_claim(now=NOW, limit=10)
    lease_end = NOW + dt.timedelta(seconds=settings.REMINDER_LEASE_SECONDS)

    clock.move_to(lease_end + dt.timedelta(seconds=5), tick=False)
    reminders_dispatch()

    assert Reminder.objects.get(pk=claimed).status == S.SENDING
    assert mail.outbox == []
