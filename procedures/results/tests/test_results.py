"""From the procedure to the result: services/results.py, completing, the worklist,
logging a result."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError

from clinic.models import ReadAccess
from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.results.orders import expected_by_for, result_log
from procedures.tests import factories

Appointment, Reminder = models.Appointment, models.Reminder

# Thursday 10 April 2025, 11:00 in the clinic: the week before Easter.
NOW = clinic_datetime(dt.date(2025, 4, 10), dt.time(11, 0))
TODAY = NOW.date()
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("care_for_all"),
    pytest.mark.clock(NOW),
]


@pytest.fixture
def easter(db):
    for day, name in [
        (dt.date(2025, 4, 18), "Good Friday"),
        (dt.date(2025, 4, 21), "Easter Monday"),
        (dt.date(2025, 5, 5), "Early May bank holiday"),
    ]:
        models.ClinicHoliday.objects.create(date=day, name=name)


# --- expected_by ---------------------------------------------------------------------


def test_it_expects_a_result_the_target_working_days_after_collection():
    assert expected_by_for(collected_at=NOW, turnaround_days=2) == dt.date(2025, 4, 14)


def test_it_skips_clinic_holidays_when_counting_turnaround(easter):
    # Wednesday before Easter + 2 working days: Thursday, then (past Good Friday,
    # the weekend and Easter Monday) Tuesday.
    collected_at = clinic_datetime(dt.date(2025, 4, 16), dt.time(15, 0))

    assert expected_by_for(collected_at=collected_at, turnaround_days=2) == dt.date(2025, 4, 22)


def test_it_expects_genetics_weeks_later_past_every_holiday(easter):
    cytogenetics = expected_by_for(collected_at=NOW, turnaround_days=15)
    ngs_panel = expected_by_for(collected_at=NOW, turnaround_days=20)

    assert cytogenetics == dt.date(2025, 5, 6)
    assert ngs_panel == dt.date(2025, 5, 13)


def test_it_counts_from_the_clinic_day_of_collection_not_the_utc_day():
    # Sunday 23:30 UTC in summer is already Monday 00:30 in London.
    collected_at = dt.datetime(2025, 6, 1, 23, 30, tzinfo=dt.UTC)

    assert expected_by_for(collected_at=collected_at, turnaround_days=1) == dt.date(2025, 6, 3)


# --- Completing a procedure ------------------------------------------------------------


@pytest.fixture
def panel(db):
    return [
        factories.TestTypeFactory(code="aspirate-morphology", turnaround_target_days=2),
        factories.TestTypeFactory(
            code="cytogenetics", turnaround_target_days=15, turnaround_max_days=21
        ),
    ]


@pytest.fixture
def appointment(db, panel):
    retired = factories.TestTypeFactory(code="retired-stain", is_active=False)
    procedure = factories.ProcedureTypeFactory(default_tests=[*panel, retired])
    start = clinic_datetime(TODAY, dt.time(9, 0))
    return factories.AppointmentFactory(
        procedure_type=procedure,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        status=Appointment.Status.IN_PROCEDURE,  # only a started procedure completes
    )


def complete(client, appointment):
    return client.post(f"/appointments/{appointment.pk}/complete/", follow=True)


def test_it_opens_a_test_order_for_each_test_of_the_panel_on_completion(
    physician_client, physician_user, appointment, easter
):
    response = complete(physician_client, appointment)

    assert response.redirect_chain == [(f"/appointments/{appointment.pk}/", 302)]
    assert "Procedure completed. Its test orders are on the results list." in (
        response.content.decode()
    )
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.COMPLETED
    assert appointment.completed_at == NOW
    orders = {o.test_type.code: o for o in appointment.test_orders.all()}
    assert set(orders) == {"aspirate-morphology", "cytogenetics"}
    assert orders["aspirate-morphology"].expected_by == dt.date(2025, 4, 14)
    assert orders["cytogenetics"].expected_by == dt.date(2025, 5, 6)
    for order in orders.values():
        assert order.status == models.TestOrder.Status.COLLECTED
        assert order.collected_at == NOW
        assert order.responsible == appointment.provider
    event = appointment.events.get(kind="completed")
    assert (event.from_status, event.to_status, event.by) == (
        "in_procedure",
        "completed",
        physician_user,
    )


def test_it_lets_a_nurse_complete_a_procedure(nurse_client, appointment):
    complete(nurse_client, appointment)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.COMPLETED


def test_it_refuses_to_complete_a_procedure_twice(physician_client, appointment):
    complete(physician_client, appointment)

    response = complete(physician_client, appointment)

    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["This appointment is already completed. Nothing was changed."]
    assert models.TestOrder.objects.count() == 2
    assert appointment.events.filter(kind="completed").count() == 1


def test_it_refuses_to_complete_a_cancelled_appointment(physician_client, appointment):
    appointment.status = Appointment.Status.CANCELLED
    appointment.save()

    response = complete(physician_client, appointment)

    assert "An appointment that is cancelled cannot be completed." in response.content.decode()
    assert models.TestOrder.objects.count() == 0


def test_it_does_not_let_the_front_desk_complete_a_procedure(frontdesk_client, appointment):
    response = frontdesk_client.post(f"/appointments/{appointment.pk}/complete/")

    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.IN_PROCEDURE
    assert models.TestOrder.objects.count() == 0


def test_it_completes_only_by_post(physician_client, appointment):
    response = physician_client.get(f"/appointments/{appointment.pk}/complete/")

    assert response.status_code == 405


# --- The worklist ----------------------------------------------------------------------


def order(expected_by: dt.date, **extra):
    return factories.TestOrderFactory(expected_by=expected_by, **extra)


def test_it_lists_pending_results_overdue_first(nurse_client):
    later = order(TODAY + dt.timedelta(days=5))
    due_today = order(TODAY)
    long_overdue = order(TODAY - dt.timedelta(days=3))
    overdue = order(TODAY - dt.timedelta(days=1))
    # A final result stays on the list (it needs a review); a cancelled one does not.
    final = order(TODAY - dt.timedelta(days=9), status=models.TestOrder.Status.FINAL)
    order(TODAY - dt.timedelta(days=9), status=models.TestOrder.Status.CANCELLED)

    response = nurse_client.get("/results/")

    shown = [row.pk for row in response.context["rows"]]
    assert shown == [o.pk for o in (final, long_overdue, overdue, due_today, later)]
    page = response.content.decode()
    assert "Overdue by 3 days" in page
    assert "Overdue by 1 day<" in page
    assert "Due today" in page
    assert "5 days left" in page


def row_of(html: str, test_name: str) -> str:
    """The worklist's table row of the order for `test_name`."""
    (row,) = [r for r in html.split("<tr>") if f"<td>{test_name}</td>" in r]
    return row.split("</tr>")[0]


def test_it_says_on_each_row_what_the_result_waits_for_and_what_to_do(
    client, nurse_user, physician_user
):
    visit = factories.AppointmentFactory(
        status=Appointment.Status.COMPLETED,
        patient__family_name="Okafor",
        patient__given_name="Ada",
        patient__mrn="C00000042",
    )

    def on_visit(name, days, status, **extra):
        return order(
            TODAY + dt.timedelta(days=days),
            appointment=visit,
            test_type__name=name,
            test_type__lab="HMDS",
            status=status,
            **extra,
        )

    waiting = on_visit("Flow", 1, models.TestOrder.Status.SENT, responsible=None)
    final = on_visit("Karyotype", -2, models.TestOrder.Status.FINAL)
    reviewed = on_visit(
        "FISH",
        -1,
        models.TestOrder.Status.REVIEWED,
        reviewed_at=NOW,
        reviewed_by=physician_user,
    )
    due = on_visit("Trephine", 0, models.TestOrder.Status.PRELIMINARY)

    client.force_login(nurse_user)
    html = client.get("/results/?scope=all").content.decode()

    row = row_of(html, "Flow")
    assert "Fri 11 Apr 2025<br>" in row
    assert "1 day left" in row
    assert f'<a href="{visit.get_absolute_url()}">Okafor, Ada</a>' in row
    assert "MRN C00000042" in row
    assert '<td class="d-none d-lg-table-cell">HMDS</td>' in row  # the lab, from 992 px
    assert "<td>—</td>" in row  # nobody responsible
    assert "<td>Sent to lab</td>" in row
    # A nurse opens a pending order; the link names it for a screen reader.
    assert (
        f'href="{waiting.get_absolute_url()}">Open'
        '<span class="visually-hidden"> for Flow, Okafor</span></a>'
    ) in row
    row = row_of(html, "Karyotype")
    assert "<strong>Final: needs review</strong>" in row
    assert f'href="{final.get_absolute_url()}">Review<' in row
    assert "Overdue" not in row  # the result is in: nothing is late
    row = row_of(html, "FISH")
    assert "<strong>Reviewed: tell the patient</strong>" in row
    assert f'href="{reviewed.get_absolute_url()}">Record telling<' in row
    row = row_of(html, "Trephine")
    assert '<span class="status-due-soon">Due today</span>' in row
    assert "<td>Preliminary result</td>" in row
    assert f'href="{due.get_absolute_url()}">Open<' in row
    # A physician logs the result of the same order.
    client.force_login(physician_user)
    html = client.get("/results/?scope=all").content.decode()
    assert f'href="{waiting.get_absolute_url()}">Log result<' in row_of(html, "Flow")


def test_it_counts_overdue_days_in_the_clinics_calendar(client, nurse_user, time_machine):
    # 23:30 UTC on 2 July is 00:30 on 3 July in London: two days overdue, not one.
    time_machine.move_to(dt.datetime(2025, 7, 2, 23, 30, tzinfo=dt.UTC), tick=False)
    pending = order(dt.date(2025, 7, 1))
    client.force_login(nurse_user)

    assert pending.days_overdue == 2
    assert "Overdue by 2 days" in client.get("/results/").content.decode()


def test_it_says_so_when_nothing_is_pending(nurse_client):
    response = nurse_client.get("/results/")

    assert "No results are pending" in response.content.decode()
    assert "Overdue up to a week: 0" in response.content.decode()


@pytest.mark.parametrize("count", [3, 30])
def test_it_shows_the_worklist_in_a_fixed_number_of_queries(
    physician_client, django_assert_num_queries, count
):
    for days in range(count):
        order(TODAY + dt.timedelta(days=days - count // 2))

    # session, user, roles; the bucket counts and the list's length (one query); the
    # page's rows; the filter's choices: tests with their labs, physicians.
    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    # +1 whom the physician answers for, for their "Calls to make" (that list is one
    # more query when they answer for someone: this login is no physician's).
    with django_assert_num_queries(10):
        response = physician_client.get("/results/?scope=all")

    assert len(response.context["rows"]) == count


def test_it_narrows_the_worklist_by_test_lab_and_physician(nurse_client):
    flow = factories.TestOrderFactory(test_type__name="Flow", test_type__lab="HMDS")
    karyotype = factories.TestOrderFactory(test_type__name="Karyotype", test_type__lab="Cyto")

    def listed(query):
        page = nurse_client.get(f"/results/?scope=all&{query}").context["page"]
        return {o.pk for o in page.object_list}

    assert listed(f"test_type={flow.test_type_id}") == {flow.pk}
    assert listed("lab=Cyto") == {karyotype.pk}
    assert listed(f"physician={karyotype.responsible_id}") == {karyotype.pk}
    assert listed("") == {flow.pk, karyotype.pk}
    # The chosen filters stay chosen on the page that lists them.
    page = nurse_client.get(f"/results/?scope=all&lab=Cyto&test_type={flow.test_type_id}")
    html = page.content.decode()
    assert f'<option value="{flow.test_type_id}" selected>Flow</option>' in html
    assert '<option value="Cyto" selected>Cyto</option>' in html
    assert '<option value="" selected>Any physician</option>' in html


def test_it_counts_the_aging_buckets(nurse_client, physician_user):
    for days in (-9, -8, -3, 0, 2, 3, 20):
        order(TODAY + dt.timedelta(days=days))
    factories.TestOrderFactory(status="final", expected_by=TODAY - dt.timedelta(days=30))
    # Final and reviewed on the days of pending ones: counted by their state, not by
    # their due date (the counts are grouped by day, the states counted within).
    factories.TestOrderFactory(status="final", expected_by=TODAY - dt.timedelta(days=9))
    factories.TestOrderFactory(
        status="reviewed",
        expected_by=TODAY + dt.timedelta(days=2),
        reviewed_by=physician_user,
        reviewed_at=clinic_datetime(TODAY, dt.time(9)),
    )
    factories.TestOrderFactory(status="cancelled")  # closed: not counted

    response = nurse_client.get("/results/?scope=all")
    buckets = response.context["buckets"]

    assert buckets == {
        "overdue_long": 2,
        "overdue": 1,
        "due_soon": 2,
        "later": 2,
        "unreviewed": 2,
        "untold": 1,
    }
    assert response.context["page"].paginator.count == 10


def test_it_pages_the_worklist_by_fifty_counted_with_the_buckets(nurse_client):
    visit = factories.AppointmentFactory(status=Appointment.Status.COMPLETED)
    orders = [
        factories.TestOrderFactory(appointment=visit, expected_by=TODAY + dt.timedelta(days=n))
        for n in range(51)
    ]

    first = nurse_client.get("/results/?scope=all")
    second = nurse_client.get("/results/?scope=all&page=2")
    past_the_end = nurse_client.get("/results/?scope=all&page=9")

    assert [row.pk for row in first.context["rows"]] == [o.pk for o in orders[:50]]
    assert "Page 1 of 2" in first.content.decode()
    assert [row.pk for row in second.context["rows"]] == [orders[50].pk]
    assert "Page 2 of 2" in second.content.decode()
    assert past_the_end.context["page"].number == 2  # the last page, not an error
    buckets = first.context["buckets"]
    assert buckets["due_soon"] + buckets["later"] == 51


def test_it_keeps_the_worklist_from_the_front_desk(frontdesk_client):
    assert frontdesk_client.get("/results/").status_code == 403


# --- Logging a result ------------------------------------------------------------------


@pytest.fixture
def pending(db):
    return order(TODAY + dt.timedelta(days=1))


def seen(order) -> int:
    """The latest result on the order's page, as its review and "told" forms carry it."""
    return order.results.order_by("-pk").values_list("pk", flat=True).first() or 0


def log(client, order, **data):
    data = {"interpretation": "abnormal", "report_text": "Hypercellular marrow.", **data}
    return client.post(f"/results/{order.pk}/", data)


def review(client, order, action="Discuss at clinic next week.", tell_by=""):
    return client.post(
        f"/results/{order.pk}/review/",
        {"action_planned": action, "tell_by": tell_by, "seen_result": seen(order)},
    )


def tell(client, order, how="phone", at=None):
    at = at or (NOW - dt.timedelta(minutes=5))
    return client.post(
        f"/results/{order.pk}/communicate/",
        {
            "how": how,
            "at": at.astimezone(NOW.tzinfo).strftime("%Y-%m-%dT%H:%M"),
            "seen_result": seen(order),
        },
    )


def test_it_logs_a_final_result_without_telling_the_patient_yet(
    physician_client, physician_user, pending
):
    response = log(physician_client, pending, is_final="on")

    assert response.status_code == 302
    assert response["Location"] == f"/results/{pending.pk}/"  # lands on the result
    pending.refresh_from_db()
    assert pending.status == models.TestOrder.Status.FINAL
    result = pending.results.get()
    assert (result.interpretation, result.report_text, result.is_final) == (
        "abnormal",
        "Hypercellular marrow.",
        True,
    )
    assert result.logged_by == physician_user
    assert pending.final_at == NOW
    # The "results ready" email waits for a physician's review.
    assert not Reminder.objects.exists()


def test_it_plans_a_single_notice_for_several_reviews_of_one_procedure(physician_client, pending):
    sibling = factories.TestOrderFactory(appointment=pending.appointment)

    log(physician_client, pending, is_final="on")
    log(physician_client, sibling, is_final="on")
    log(physician_client, pending, is_final="on", report_text="Amended: hypercellular.")
    review(physician_client, pending, tell_by="email")
    review(physician_client, sibling, tell_by="email")

    assert Reminder.objects.filter(kind="results_ready").count() == 1
    assert pending.results.count() == 2


def test_it_keeps_a_preliminary_result_on_the_worklist_without_telling_the_patient(
    physician_client, pending
):
    log(physician_client, pending)  # "final" unticked

    pending.refresh_from_db()
    assert pending.status == models.TestOrder.Status.PRELIMINARY
    assert pending in models.TestOrder.objects.worklist()
    assert not Reminder.objects.exists()


def test_it_keeps_a_final_result_on_the_worklist_until_the_patient_is_told(
    physician_client, pending
):
    log(physician_client, pending, is_final="on")
    assert list(models.TestOrder.objects.worklist()) == [pending]
    review(physician_client, pending)
    assert list(models.TestOrder.objects.worklist()) == [pending]
    tell(physician_client, pending)

    assert list(models.TestOrder.objects.worklist()) == []


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_it_requires_the_report_text(physician_client, pending, text):
    response = log(physician_client, pending, is_final="on", report_text=text)

    assert response.status_code == 200
    assert response.context["result_form"].errors["report_text"] == ["This field is required."]
    assert "The result was not saved" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == models.TestOrder.Status.COLLECTED
    assert not models.TestResult.objects.exists()
    assert not Reminder.objects.exists()


def test_it_refuses_a_result_on_a_cancelled_order(physician_client, pending):
    pending.status = models.TestOrder.Status.CANCELLED
    pending.save()

    response = log(physician_client, pending, is_final="on")

    assert response.status_code == 200
    message = "This test order was cancelled; no result can be logged."
    assert response.context["result_form"].non_field_errors() == [message]
    assert message in response.content.decode()
    assert not models.TestResult.objects.exists()
    assert not Reminder.objects.exists()


def test_an_amendment_once_the_patient_has_been_told_reopens_review(physician_user, pending):
    # Issue 13 (item 1): refused before; now a new review episode, told again.
    pending.status = models.TestOrder.Status.COMMUNICATED
    pending.reviewed_at = pending.communicated_at = NOW
    pending.reviewed_by = physician_user
    pending.communicated_how = "phone"
    pending.save()

    result_log(
        order_id=pending.pk,
        interpretation="normal",
        report_text="x",
        is_final=True,
        by=physician_user,
    )

    pending.refresh_from_db()
    assert (pending.status, pending.episode, pending.tell_again) == ("final", 2, True)


def test_a_preliminary_result_is_refused_once_the_patient_has_been_told(physician_user, pending):
    pending.status = models.TestOrder.Status.COMMUNICATED
    pending.reviewed_at = pending.communicated_at = NOW
    pending.reviewed_by = physician_user
    pending.communicated_how = "phone"
    pending.save()

    with pytest.raises(ValidationError, match="an amendment must be final too"):
        result_log(
            order_id=pending.pk,
            interpretation="normal",
            report_text="x",
            is_final=False,
            by=physician_user,
        )


def test_it_lets_only_physicians_log_results(frontdesk_client, nurse_user, client, pending):
    assert log(frontdesk_client, pending, is_final="on").status_code == 403
    client.force_login(nurse_user)
    assert client.get(f"/results/{pending.pk}/").status_code == 200  # nurses may read
    assert log(client, pending, is_final="on").status_code == 403
    assert not models.TestResult.objects.exists()


def test_it_records_who_opened_a_result_page(physician_client, physician_user, pending):
    physician_client.get(f"/results/{pending.pk}/")

    read = ReadAccess.objects.get()
    assert (read.user, read.object_type, read.object_id, read.view_name) == (
        physician_user,
        "procedures.testorder",
        str(pending.pk),
        "procedures:result_log",
    )
