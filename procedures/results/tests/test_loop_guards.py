"""Guards of the results loop that QA found missing: a sample's collection time and site
checked against the visit and the plan, a stale page that would have amended a result
unseen, the physician's own call, and the patient's email when a date has passed."""

import datetime as dt
import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from clinic import roles
from conftest import make_user
from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.mail import reminder_message
from procedures.results import orders as svc
from procedures.scheduling import lifecycle
from procedures.tests import factories
from procedures.workflows import results as result_flows
from procedures.workflows import visits

S = models.TestOrder.Status
Call = models.CallTask
# Tuesday 8 December 2026, 11:00 in the clinic.
NOW = clinic_datetime(dt.date(2026, 12, 8), dt.time(11, 0))
TODAY = NOW.date()
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("care_for_all"),
    pytest.mark.clock(NOW),
]


def local(value: dt.datetime) -> str:
    return value.astimezone(NOW.tzinfo).strftime("%Y-%m-%dT%H:%M")


def seen(order) -> int:
    """The latest result on the order's page, as its review and "told" forms carry it."""
    return order.results.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def lee(physician_user):
    physician_user.first_name, physician_user.last_name = "Ann", "Lee"
    physician_user.save()
    return factories.ProviderFactory(display_name="Dr Lee", user=physician_user)


@pytest.fixture
def visit(clock, frontdesk_user, lee):
    """A biopsy today at 09:00 with Dr Lee; the patient checked in at 08:52, then the
    procedure under way (only a started procedure completes)."""
    morphology = factories.TestTypeFactory(code="aspirate-morphology", turnaround_target_days=2)
    procedure = factories.ProcedureTypeFactory(
        code="bx-guards", kind="aspiration_biopsy", default_tests=[morphology]
    )
    start = clinic_datetime(TODAY, dt.time(9, 0))
    appointment = factories.AppointmentFactory(
        procedure_type=procedure,
        provider=lee,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        status=models.Appointment.Status.CONFIRMED,
    )
    clock.move_to(clinic_datetime(TODAY, dt.time(8, 52)), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    models.Appointment.objects.filter(pk=appointment.pk).update(
        status=models.Appointment.Status.IN_PROCEDURE
    )
    clock.move_to(NOW, tick=False)
    appointment.refresh_from_db()
    return appointment


def sample_data(**extra):
    return {
        "test_types": [models.TestType.objects.get(code="aspirate-morphology").pk],
        "specimen_site": "posterior_iliac",
        "specimen_side": "left",
        "collected_at": local(NOW - dt.timedelta(hours=1)),
        "sent_at": "",
        "accession_number": "",
        **extra,
    }


def plan(visit, site="posterior_iliac", side="left"):
    models.PrepPlan.objects.create(appointment=visit, site=site, side=side)


# --- 1. The collection time --------------------------------------------------------


def test_it_refuses_a_collection_years_before_the_visit_and_saves_nothing(physician_client, visit):
    data = sample_data(collected_at="2020-01-01T08:00")

    response = physician_client.post(f"/appointments/{visit.pk}/sample/", data)

    assert response.status_code == 200
    message = (
        "The sample cannot have been taken before the patient checked in "
        "(08:52, 8 December 2026). Enter when it was taken."
    )
    assert response.context["form"].errors["collected_at"] == [message]
    assert message in response.content.decode()
    visit.refresh_from_db()
    assert visit.status == models.Appointment.Status.IN_PROCEDURE
    assert not models.TestOrder.objects.exists()


def test_a_collection_time_the_clocks_skip_is_refused_in_the_clinics_words(physician_client, visit):
    """QA pass 1, #11: Django's own "couldn't be interpreted in time zone" wording."""
    response = physician_client.post(
        f"/appointments/{visit.pk}/sample/", sample_data(collected_at="2027-03-28T01:30")
    )

    assert response.status_code == 200
    message = (
        "The clocks go forward at 01:00 on Sunday 28 March 2027: 01:00\u201302:00 does not "
        "exist. Enter the time as the clock showed it."
    )
    assert response.context["form"].errors["collected_at"] == [message]
    assert "couldn" not in response.content.decode()
    assert not models.TestOrder.objects.exists()


def test_it_takes_a_collection_after_the_check_in(physician_client, visit):
    data = sample_data(collected_at=local(clinic_datetime(TODAY, dt.time(8, 52))))

    response = physician_client.post(f"/appointments/{visit.pk}/sample/", data)

    assert response.status_code == 302
    [order] = visit.test_orders.all()
    assert order.collected_at == clinic_datetime(TODAY, dt.time(8, 52))
    assert order.expected_by == dt.date(2026, 12, 10)


def test_without_a_check_in_the_visits_day_is_the_limit(physician_user, lee):
    start = clinic_datetime(TODAY, dt.time(9, 0))
    visit = factories.AppointmentFactory(
        provider=lee,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        status=models.Appointment.Status.IN_PROCEDURE,
    )
    tests = [factories.TestTypeFactory()]
    yesterday = svc.Sample(
        test_types=tests,
        collected_at=clinic_datetime(TODAY, dt.time(0, 0)) - dt.timedelta(minutes=1),
    )

    with pytest.raises(ValidationError, match=r"before the visit's day began \(00:00, 8 December"):
        visits.procedure_complete(appointment_id=visit.pk, sample=yesterday, by=physician_user)
    assert not models.TestOrder.objects.exists()

    at_midnight = svc.Sample(test_types=tests, collected_at=clinic_datetime(TODAY, dt.time(0, 0)))
    visits.procedure_complete(appointment_id=visit.pk, sample=at_midnight, by=physician_user)
    assert visit.test_orders.count() == 1


def test_a_recollection_cannot_reach_the_lab_before_it_was_asked_for(physician_user, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    replacement = result_flows.order_replace(
        order_id=order.pk, reason="clotted", recollect=True, by=physician_user
    )

    with pytest.raises(ValidationError, match="The new sample was asked for at 11:00"):
        result_flows.order_sent(
            order_id=replacement.pk,
            sent_at=NOW - dt.timedelta(days=3),
            accession_number="",
            by=physician_user,
        )
    replacement.refresh_from_db()
    assert (replacement.status, replacement.collected_at) == (S.ORDERED, None)


# --- 2. The patient's email when the expected day has passed ------------------------


def test_the_email_says_we_are_still_waiting_once_the_expected_day_has_passed(physician_user, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    factories.TestOrderFactory(
        appointment=order.appointment, expected_by=dt.date(2026, 12, 2)
    )  # overdue
    svc.result_log(
        order_id=order.pk, interpretation="normal", report_text="N.", is_final=True, by=lee.user
    )
    result_flows.result_review(
        order_id=order.pk, action_planned="Clinic.", by=physician_user, tell_by="email"
    )

    message = reminder_message(models.Reminder.objects.get(kind="results_ready"))

    for part in (message.body, message.alternatives[0][0]):
        assert "We are still waiting for some results." in part
        assert "expected around" not in part
        assert "2 December" not in part


# --- 3. The physician's call ------------------------------------------------------------


@pytest.fixture
def reviewed_by_call(physician_client, lee):
    """An abnormal final result Dr Lee reviewed "as usual": so Dr Lee calls."""
    order = factories.TestOrderFactory(appointment__provider=lee)
    svc.result_log(
        order_id=order.pk, interpretation="abnormal", report_text="A.", is_final=True, by=lee.user
    )
    response = physician_client.post(
        f"/results/{order.pk}/review/",
        {"action_planned": "Refer.", "tell_by": "", "seen_result": seen(order)},
        follow=True,
    )
    assert "The call to the patient is Dr Lee&#x27;s" in response.content.decode()
    return order


def test_the_physicians_call_is_on_their_worklist_naming_them(physician_client, reviewed_by_call):
    [call] = Call.objects.filter(reason=Call.Reason.RESULTS_CALL)
    assert (call.order, call.physician.display_name) == (reviewed_by_call, "Dr Lee")

    page = physician_client.get("/results/").content.decode()

    assert "Calls to make" in page
    assert "Dr Lee calls" in page
    assert f"/results/{reviewed_by_call.pk}/" in page


def test_the_front_desk_neither_sees_nor_closes_the_physicians_call(
    frontdesk_user, reviewed_by_call
):
    frontdesk_client = Client()  # the shared client is the physician's
    frontdesk_client.force_login(frontdesk_user)
    call = Call.objects.get(reason=Call.Reason.RESULTS_CALL)

    page = frontdesk_client.get("/tasks/").content.decode()
    response = frontdesk_client.post("/tasks/done/", {"kind": "call", "task": call.pk}, follow=True)

    assert "the physician calls the patient" not in page
    assert "That call is the physician&#x27;s" in response.content.decode()
    call.refresh_from_db()
    assert call.status == Call.Status.OPEN


def test_telling_the_patient_closes_the_call_whoever_records_it(
    client, nurse_user, reviewed_by_call
):
    client.force_login(nurse_user)

    response = client.post(
        f"/results/{reviewed_by_call.pk}/communicate/",
        {
            "how": "phone",
            "at": local(NOW - dt.timedelta(minutes=5)),
            "seen_result": seen(reviewed_by_call),
        },
    )

    assert response.status_code == 302
    call = Call.objects.get(reason=Call.Reason.RESULTS_CALL)
    assert (call.status, call.done_by) == (Call.Status.DONE, nurse_user)
    assert call.note == "Patient told (By phone)"


def test_a_call_about_one_order_stays_open_when_another_is_told(physician_user, lee):
    first = factories.TestOrderFactory(appointment__provider=lee)
    second = factories.TestOrderFactory(appointment=first.appointment)
    for order in (first, second):
        svc.result_log(
            order_id=order.pk,
            interpretation="abnormal",
            report_text="A.",
            is_final=True,
            by=lee.user,
        )
        result_flows.result_review(order_id=order.pk, action_planned="Call.", by=physician_user)

    result_flows.result_communicate(order_id=first.pk, how="phone", at=NOW, by=physician_user)

    calls = dict(Call.objects.values_list("order", "status"))
    assert calls == {first.pk: Call.Status.DONE, second.pk: Call.Status.OPEN}


def test_a_recollection_task_closes_when_its_order_is_cancelled(physician_user, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    replacement = result_flows.order_replace(
        order_id=order.pk, reason="clotted", recollect=True, by=physician_user
    )
    task = models.FrontDeskTask.objects.get(kind="recollect")
    assert task.done_at is None

    result_flows.order_cancel(order_id=replacement.pk, reason="not_needed", by=physician_user)

    task.refresh_from_db()
    assert task.done_at == NOW
    assert task.note == "No longer needed: the test was cancelled"


def test_a_recollection_task_closes_when_the_new_sample_reaches_the_lab(physician_user, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    replacement = result_flows.order_replace(
        order_id=order.pk, reason="clotted", recollect=True, by=physician_user
    )

    result_flows.order_sent(
        order_id=replacement.pk, sent_at=NOW, accession_number="", by=physician_user
    )

    task = models.FrontDeskTask.objects.get(kind="recollect")
    assert (task.done_at, task.note) == (NOW, "The new sample reached the lab")


# --- 4. The sample's site -----------------------------------------------------------------


def selected(page: str, name: str) -> list[str]:
    """The option values a browser would post for the <select> `name`, as the page came."""
    [select] = re.findall(rf'<select name="{name}".*?</select>', page, re.S)
    return re.findall(r'<option value="([^"]*)" selected', select)


def test_the_sample_form_opens_with_the_plans_site_and_side(physician_client, visit):
    # QA 3, #10: the plan said posterior iliac, right; the form must not start empty.
    plan(visit, side="right")

    page = physician_client.get(f"/appointments/{visit.pk}/sample/").content.decode()

    assert selected(page, "specimen_site") == ["posterior_iliac"]
    assert selected(page, "specimen_side") == ["right"]
    assert "The prep plan's site: Posterior iliac crest, Right." in page


def test_the_sample_form_refuses_a_site_the_rules_forbid(physician_client, visit):
    plan(visit)

    response = physician_client.post(
        f"/appointments/{visit.pk}/sample/",
        sample_data(specimen_site="sternum", specimen_side="midline", site_confirmed="on"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["specimen_site"] == [
        "A biopsy is only taken from the pelvis: choose the back or front of the pelvis."
    ]
    assert not models.TestOrder.objects.exists()


def test_a_site_other_than_the_plans_needs_an_explicit_tick(
    physician_client, physician_user, visit
):
    plan(visit)
    data = sample_data(specimen_site="anterior_iliac", specimen_side="right")

    refused = physician_client.post(f"/appointments/{visit.pk}/sample/", data)

    assert refused.context["form"].errors["site_confirmed"] == [
        "The plan said posterior iliac crest, left: tick to confirm the sample was taken "
        "from anterior iliac crest, right."
    ]
    assert not models.TestOrder.objects.exists()

    done = physician_client.post(
        f"/appointments/{visit.pk}/sample/", {**data, "site_confirmed": "on"}
    )

    assert done.status_code == 302
    [order] = visit.test_orders.all()
    assert (order.specimen_site, order.specimen_side) == ("anterior_iliac", "right")
    event = visit.events.get(kind="sample_site_differs")
    assert event.note == (
        "Sample taken from anterior iliac crest, right; the plan said posterior iliac "
        "crest, left (confirmed)"
    )
    assert event.by == physician_user


def test_the_sternum_needs_a_reason_on_the_sample_form_as_on_the_prep_page(physician_client, lee):
    start = clinic_datetime(TODAY, dt.time(9, 0))
    aspiration = factories.ProcedureTypeFactory(
        code="asp-guards", kind="aspiration", default_tests=[factories.TestTypeFactory()]
    )
    visit = factories.AppointmentFactory(
        procedure_type=aspiration,
        provider=lee,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        status=models.Appointment.Status.IN_PROCEDURE,
    )
    plan(visit)
    data = {
        "test_types": [t.pk for t in aspiration.default_tests.all()],
        "specimen_site": "sternum",
        "specimen_side": "right",
        "collected_at": local(NOW - dt.timedelta(hours=1)),
        "site_confirmed": "on",
    }

    refused = physician_client.post(f"/appointments/{visit.pk}/sample/", data)

    errors = refused.context["form"].errors
    assert errors["specimen_side"] == ["The breastbone is in the midline: choose midline."]
    assert "The breastbone carries a small risk" in errors["site_reason"][0]

    done = physician_client.post(
        f"/appointments/{visit.pk}/sample/",
        {**data, "specimen_side": "midline", "site_reason": "Pelvis inaccessible (fixator)."},
    )

    assert done.status_code == 302
    assert visit.events.get(kind="sample_site_differs").note.endswith(
        ": Pelvis inaccessible (fixator)."
    )


# --- 5. and 6. Stale pages ------------------------------------------------------------------


def result_post(page, text):
    return {
        "interpretation": "normal",
        "report_text": text,
        "is_final": "on",
        "seen_result": page.context["result_form"]["seen_result"].value(),
    }


def test_a_result_from_a_stale_page_is_refused_not_made_an_amendment(physician_client, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    first_tab = physician_client.get(f"/results/{order.pk}/")
    second_tab = physician_client.get(f"/results/{order.pk}/")

    physician_client.post(f"/results/{order.pk}/", result_post(first_tab, "A"))
    stale = physician_client.post(f"/results/{order.pk}/", result_post(second_tab, "B"))

    assert stale.status_code == 200
    message = (
        "A final result was logged at 11:00 by Dr Lee since you opened this page: "
        "read it, then amend it if needed."
    )
    assert message in stale.content.decode()
    assert list(order.results.values_list("report_text", flat=True)) == ["A"]
    order.refresh_from_db()
    assert (order.status, order.episode) == (S.FINAL, 1)

    # Having read it, a deliberate second submission of the same page amends it.
    again = physician_client.post(f"/results/{order.pk}/", result_post(stale, "B"))
    assert again.status_code == 302
    assert order.results.count() == 2


def test_a_second_telling_says_when_and_by_whom_it_was_recorded(physician_client, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    svc.result_log(
        order_id=order.pk, interpretation="normal", report_text="N.", is_final=True, by=lee.user
    )
    result_flows.result_review(
        order_id=order.pk, action_planned="Clinic.", by=lee.user, tell_by="email"
    )
    told = {"how": "phone", "at": local(NOW - dt.timedelta(minutes=2)), "seen_result": seen(order)}
    physician_client.post(f"/results/{order.pk}/communicate/", told)

    response = physician_client.post(f"/results/{order.pk}/communicate/", told)

    page = response.content.decode()
    assert (
        "The patient was already recorded as told (by phone) at 10:58 by Dr Lee. "
        "Nothing was changed." in page
    )
    assert "must review the result before" not in page
    assert order.events.filter(to_status=S.COMMUNICATED).count() == 1


def test_a_second_review_says_when_and_by_whom(physician_user, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    svc.result_log(
        order_id=order.pk, interpretation="normal", report_text="N.", is_final=True, by=lee.user
    )
    result_flows.result_review(order_id=order.pk, action_planned="Clinic.", by=lee.user)

    with pytest.raises(ValidationError, match="already reviewed at 11:00 by Dr Lee"):
        result_flows.result_review(order_id=order.pk, action_planned="Again.", by=lee.user)


# --- Invariant 34: a review or a telling is of the result the physician saw (QA 1, #1) ---


@pytest.fixture
def adeyemi(db):
    user = make_user("adeyemi", roles.PHYSICIAN, first_name="Ade")
    return factories.ProviderFactory(display_name="Dr Adeyemi", user=user)


def _final(order, by, text):
    return svc.result_log(
        order_id=order.pk, interpretation="normal", report_text=text, is_final=True, by=by
    )


def review_post(page, action="Normal result, routine follow-up."):
    return {
        "action_planned": action,
        "tell_by": "email",
        "seen_result": page.context["review_form"]["seen_result"].value(),
    }


def test_a_review_from_a_page_opened_before_an_amendment_is_refused(physician_client, lee, adeyemi):
    order = factories.TestOrderFactory(appointment__provider=lee)
    _final(order, lee.user, "Normal marrow.")
    opened = physician_client.get(f"/results/{order.pk}/")
    svc.result_log(
        order_id=order.pk,
        interpretation="abnormal",
        malignant_cells="present",
        report_text="CORRECTED: blasts 40%.",
        is_final=True,
        by=adeyemi.user,
    )

    stale = physician_client.post(f"/results/{order.pk}/review/", review_post(opened))

    assert stale.status_code == 200
    message = (
        "The result changed since you opened this page (a result was logged at 11:00 by "
        "Dr Adeyemi): read the new result, then review again. Nothing was changed."
    )
    assert message in stale.content.decode()
    order.refresh_from_db()
    assert (order.status, order.reviewed_by, order.review_action) == (S.FINAL, None, "")
    assert not order.events.filter(to_status=S.REVIEWED).exists()
    assert not models.Reminder.objects.filter(kind=models.Reminder.Kind.RESULTS_READY).exists()

    # The refused page shows the amended result; reviewing it from there is deliberate.
    again = physician_client.post(
        f"/results/{order.pk}/review/", review_post(stale, "Refer to haematology today.")
    )
    assert again.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.review_action) == (S.REVIEWED, "Refer to haematology today.")


def test_a_telling_from_a_page_opened_before_an_amendment_is_refused(
    physician_client, lee, adeyemi
):
    order = factories.TestOrderFactory(appointment__provider=lee)
    _final(order, lee.user, "Normal marrow.")
    result_flows.result_review(order_id=order.pk, action_planned="Routine.", by=lee.user)
    opened = physician_client.get(f"/results/{order.pk}/")
    # A colleague amends the result and reviews the amendment, while the page is open.
    _final(order, adeyemi.user, "CORRECTED: blasts 40%.")
    result_flows.result_review(order_id=order.pk, action_planned="Call.", by=adeyemi.user)
    told = {
        "how": "phone",
        "at": local(NOW - dt.timedelta(minutes=2)),
        "seen_result": opened.context["communicate_form"]["seen_result"].value(),
    }

    stale = physician_client.post(f"/results/{order.pk}/communicate/", told)

    assert stale.status_code == 200
    assert (
        "The result changed since you opened this page (a result was logged at 11:00 by "
        "Dr Adeyemi): read the new result, then record how the patient was told. "
        "Nothing was changed." in stale.content.decode()
    )
    order.refresh_from_db()
    assert (order.status, order.communicated_at) == (S.REVIEWED, None)


def test_a_review_that_does_not_say_which_result_was_read_is_refused(physician_client, lee):
    order = factories.TestOrderFactory(appointment__provider=lee)
    _final(order, lee.user, "Normal marrow.")

    refused = physician_client.post(
        f"/results/{order.pk}/review/", {"action_planned": "Routine.", "tell_by": "email"}
    )

    assert refused.status_code == 200
    assert (
        "Read the result on this page, then submit again. Nothing was changed."
        in refused.content.decode()
    )
    order.refresh_from_db()
    assert order.status == S.FINAL
    # The page now names the result it shows: submitting it again reviews that one.
    again = physician_client.post(f"/results/{order.pk}/review/", review_post(refused))
    assert again.status_code == 302
