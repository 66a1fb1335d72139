"""Issue 13: no result and no visit left behind. One test per path the twelve-week
simulation found open (items 1-8 of the issue), each written to fail before the fix."""

import datetime as dt
import itertools

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from clinic.models import EmergencyAccess, ReadAccess
from procedures import models
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_datetime
from procedures.prep.models import FrontDeskTask
from procedures.results import orders as svc
from procedures.results.escalations import escalations_run
from procedures.tests import factories

S = models.TestOrder.Status
Level = models.ResultEscalation.Level

# Monday 14 April 2025, 08:00 in the clinic: after the 07:00 digest hour.
NOW = clinic_datetime(dt.date(2025, 4, 14), dt.time(8, 0))
TODAY = NOW.date()
SLOTS = itertools.count()
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def lead(settings):
    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.example"]


@pytest.fixture
def lee(db):
    user = User.objects.create_user("lee", email="lee@clinic.example")
    return factories.ProviderFactory(display_name="Dr Lee", user=user)


def order_for(provider, **extra):
    start = NOW - dt.timedelta(days=60) + dt.timedelta(hours=2 * next(SLOTS))
    return factories.TestOrderFactory(
        appointment__provider=provider, appointment__start_at=start, **extra
    )


def final(order, by, **extra):
    return svc.result_log(
        order_id=order.pk,
        interpretation="normal",
        report_text="Normocellular marrow.",
        is_final=True,
        by=by,
        **extra,
    )


def told(order, by):
    svc.result_review(order_id=order.pk, action_planned="Discuss at clinic.", by=by)
    return svc.result_communicate(order_id=order.pk, how="phone", at=NOW, by=by)


def rows(order, level):
    return list(order.escalations.filter(level=level).order_by("episode", "pk"))


# --- 1. An amended report after the patient was told ----------------------------------


def test_it_logs_an_amendment_after_the_patient_was_told_and_asks_to_tell_again(
    care_for_all, physician_client, physician_user, lee
):
    order = order_for(lee)
    final(order, physician_user)
    told(order, physician_user)

    response = physician_client.post(
        f"/results/{order.pk}/",
        {"interpretation": "abnormal", "report_text": "Corrected: blasts 8%.", "is_final": "on"},
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == S.FINAL  # a new review, then the patient told again
    assert order.communicated_at is None and order.reviewed_at is None
    assert order.results.count() == 2
    page = physician_client.get(f"/results/{order.pk}/").content.decode()
    assert "Amended after the patient was told: review it and tell the patient again" in page
    told(order, physician_user)
    order.refresh_from_db()
    assert order.status == S.COMMUNICATED


# --- 2. An amendment that reopens review is chased again ------------------------------


def test_an_amendment_that_reopens_review_has_its_own_escalation_clock(
    clock, physician_user, lee, smtp_mail
):
    order = order_for(lee)
    final(order, physician_user)
    clock.move_to(NOW + dt.timedelta(hours=97), tick=False)
    escalations_run()
    assert {r.level for r in order.escalations.all()} == {Level.UNREVIEWED, Level.UNREVIEWED_LEAD}
    svc.result_review(order_id=order.pk, action_planned="Discuss.", by=physician_user)
    final(order, physician_user)  # amended: needs a review again
    order.refresh_from_db()
    assert order.episode == 2

    clock.move_to(NOW + dt.timedelta(hours=97 + 49), tick=False)
    escalations_run()

    assert [r.episode for r in rows(order, Level.UNREVIEWED)] == [1, 2]
    clock.move_to(NOW + dt.timedelta(hours=97 + 97), tick=False)
    escalations_run()
    assert [r.episode for r in rows(order, Level.UNREVIEWED_LEAD)] == [1, 2]


def test_a_still_late_order_gets_a_repeat_digest_at_the_set_interval(
    clock, settings, lee, smtp_mail
):
    settings.RESULTS_REPEAT_DIGEST_DAYS = 2
    order = order_for(lee, expected_by=TODAY - dt.timedelta(days=1))
    escalations_run()
    assert len(smtp_mail.wait_for(1)) == 1

    clock.move_to(NOW + dt.timedelta(days=1), tick=False)
    escalations_run()
    clock.move_to(NOW + dt.timedelta(days=2), tick=False)
    escalations_run()

    # The first digest, nothing the next day, one repeat two days later.
    assert [m["To"] for m in smtp_mail.wait_for(2)] == ["lee@clinic.example"] * 2
    [row] = rows(order, Level.OVERDUE)
    assert row.repeats == 1


# --- 3. Visits that take no sample complete without tests -----------------------------


@pytest.mark.parametrize("kind", [ProcedureKind.BMAC, ProcedureKind.RESULTS_DISCUSSION])
def test_a_visit_that_takes_no_sample_completes_without_tests(care_for_all, physician_client, kind):
    procedure = factories.ProcedureTypeFactory(code=f"p-{kind}", kind=kind)
    start = clinic_datetime(TODAY, dt.time(7, 0))
    appointment = factories.AppointmentFactory(
        procedure_type=procedure,
        start_at=start,
        end_at=start + dt.timedelta(minutes=30),
        status=models.Appointment.Status.IN_PROCEDURE,
    )

    page = physician_client.get(f"/appointments/{appointment.pk}/sample/").content.decode()
    assert "No sample is taken at this visit" in page
    response = physician_client.post(
        f"/appointments/{appointment.pk}/sample/", {"no_sample_reason": "not_needed"}
    )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == models.Appointment.Status.COMPLETED
    assert not appointment.test_orders.exists()


def test_a_biopsy_with_no_tests_ticked_needs_a_reason(care_for_all, physician_client):
    start = clinic_datetime(TODAY, dt.time(7, 0))
    appointment = factories.AppointmentFactory(
        start_at=start, end_at=start + dt.timedelta(hours=1), status="in_procedure"
    )

    response = physician_client.post(
        f"/appointments/{appointment.pk}/sample/", {"specimen_site": "posterior_iliac"}
    )

    assert response.status_code == 200
    assert "Tick at least one test on the sample, or say why no sample was taken." in (
        response.content.decode()
    )
    appointment.refresh_from_db()
    assert appointment.status == "in_procedure"


# --- 4. A procedure started but never completed is flagged the next day ---------------


def test_a_visit_left_in_procedure_yesterday_is_on_the_today_board_until_it_ends(
    care_for_all, frontdesk_client, physician_client
):
    start = clinic_datetime(TODAY - dt.timedelta(days=3), dt.time(9, 0))
    stuck = factories.AppointmentFactory(
        start_at=start, end_at=start + dt.timedelta(hours=1), status="in_procedure"
    )

    board = frontdesk_client.get("/today/").content.decode()
    assert "Visits from earlier days not ended" in board
    assert f"/appointments/{stuck.pk}/" in board

    physician_client.post(
        f"/appointments/{stuck.pk}/sample/",
        {"no_sample_reason": "abandoned", "no_sample_note": "Dry tap, patient went home."},
    )
    stuck.refresh_from_db()
    assert stuck.status == "completed"
    assert (
        "Visits from earlier days not ended" not in frontdesk_client.get("/today/").content.decode()
    )
    event = stuck.events.get(kind="no_sample")
    assert "Dry tap" in event.note


# --- 5. Orders cancelled or replaced from the order page ------------------------------


def test_a_lost_sample_is_cancelled_from_the_order_page_with_a_reason(
    care_for_all, nurse_client, lee
):
    order = order_for(lee, expected_by=TODAY - dt.timedelta(days=4))

    response = nurse_client.post(f"/results/{order.pk}/cancel/", {"reason": "sample_lost"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.cancel_reason) == (S.CANCELLED, "sample_lost")
    assert "Sample lost" in nurse_client.get(f"/results/{order.pk}/").content.decode()


def test_a_clotted_sample_is_replaced_and_the_patient_tasked_for_a_recollection(
    care_for_all, physician_client, lee
):
    order = order_for(lee, expected_by=TODAY - dt.timedelta(days=4))

    response = physician_client.post(
        f"/results/{order.pk}/replace/",
        {"reason": "clotted", "recollect": "on", "collect_by": "2025-04-16"},
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    new = order.replacements.get()
    assert response["Location"] == f"/results/{new.pk}/"
    assert new.replaces == order
    assert new.status == S.ORDERED
    # Two working days of turnaround from the recollection date.
    assert new.expected_by == dt.date(2025, 4, 18)
    task = FrontDeskTask.objects.get(appointment=order.appointment, kind="recollect")
    assert task.done_at is None
    page = physician_client.get(f"/results/{new.pk}/").content.decode()
    assert f"/results/{order.pk}/" in page  # links to its predecessor


def test_the_front_desk_may_not_cancel_an_order(frontdesk_client, lee):
    order = order_for(lee)

    response = frontdesk_client.post(f"/results/{order.pk}/cancel/", {"reason": "sample_lost"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == S.COLLECTED


def test_a_cancel_without_a_reason_says_so_and_changes_nothing(care_for_all, nurse_client, lee):
    order = order_for(lee)

    response = nurse_client.post(f"/results/{order.pk}/cancel/", {"reason": ""})

    assert response.status_code == 200
    assert "Choose why the test is cancelled." in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.COLLECTED


# --- 6. Nobody to email is an alarm ---------------------------------------------------


def test_an_escalation_with_nobody_to_email_shows_on_staff_pages_and_healthz(
    settings, client, nurse_client, admin_user
):
    settings.RESULTS_CLINIC_LEAD_EMAILS = []
    nobody = factories.ProviderFactory(display_name="Dr Nobody")
    order = order_for(nobody, expected_by=TODAY - dt.timedelta(days=1))
    escalations_run()
    assert order.escalations.get().recipient == ""

    alarm = nurse_client.get("/alarms/").content.decode()
    assert "1 escalation has nobody to email" in alarm
    assert 'hx-get="/alarms/"' in nurse_client.get("/results/").content.decode()
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["escalations"]["status"] == "no_recipient"

    client.force_login(admin_user)
    listing = client.get("/results/physicians-without-email/").content.decode()
    assert "Dr Nobody" in listing


def test_the_demo_physicians_have_email_addresses(settings):
    settings.DEBUG = True
    call_command("seed_demo", "--password", "demo-password-1")

    providers = models.Provider.objects.filter(is_active=True)
    assert providers.count() >= 2
    for provider in providers:
        assert provider.user is not None and provider.user.email, provider


# --- 7. Results cover is a care relationship ------------------------------------------


def test_a_covering_physician_opens_the_absent_physicians_orders_without_emergency_access(
    doctor,
):
    away = factories.ProviderFactory(display_name="Dr Away")
    order = order_for(away)
    models.ResultCoverage.objects.create(
        absent=away,
        covering=doctor.user.provider,
        starts_on=TODAY - dt.timedelta(days=1),
        ends_on=TODAY + dt.timedelta(days=5),
    )

    response = doctor.get(f"/results/{order.pk}/")

    assert response.status_code == 200
    assert not EmergencyAccess.objects.exists()
    read = ReadAccess.objects.get(object_type="procedures.testorder", object_id=str(order.pk))
    assert read.basis == "cover"


def test_cover_ends_with_its_period(doctor, clock):
    away = factories.ProviderFactory(display_name="Dr Away")
    order = order_for(away)
    models.ResultCoverage.objects.create(
        absent=away,
        covering=doctor.user.provider,
        starts_on=TODAY - dt.timedelta(days=5),
        ends_on=TODAY - dt.timedelta(days=1),
    )

    response = doctor.get(f"/results/{order.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/emergency-access/")


# --- 8. Reviewed but untold goes to the clinic lead too -------------------------------


def test_a_reviewed_result_the_patient_was_not_told_reaches_the_clinic_lead(
    clock, settings, physician_user, lee, smtp_mail
):
    settings.RESULTS_UNCOMMUNICATED_LEAD_DAYS = 14
    order = order_for(lee)
    final(order, physician_user)
    svc.result_review(order_id=order.pk, action_planned="Discuss.", by=physician_user)

    clock.move_to(NOW + dt.timedelta(days=8), tick=False)
    escalations_run()
    clock.move_to(NOW + dt.timedelta(days=15), tick=False)
    escalations_run()

    assert [r.level for r in order.escalations.order_by("pk")] == [
        Level.UNCOMMUNICATED,
        Level.UNCOMMUNICATED_LEAD,
    ]
    assert order.escalations.get(level=Level.UNCOMMUNICATED_LEAD).recipient == (
        "lead@clinic.example"
    )
