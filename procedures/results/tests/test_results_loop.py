"""Closing the loop: the sample form at completion, every state rule, the PDF,
review and telling the patient, ownership and coverage, booking the discussion."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from clinic.models import ReadAccess
from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.mail import reminder_message
from procedures.results import orders as svc
from procedures.results.models import answering_for
from procedures.tests import factories
from procedures.workflows import results as result_flows
from procedures.workflows import visits

S = models.TestOrder.Status

# Thursday 10 April 2025, 11:00 in the clinic.
NOW = clinic_datetime(dt.date(2025, 4, 10), dt.time(11, 0))
TODAY = NOW.date()
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("care_for_all"),
    pytest.mark.clock(NOW),
]


@pytest.fixture
def private_dir(settings, tmp_path):
    settings.CLINIC_PRIVATE_DIR = tmp_path / "private"
    return settings.CLINIC_PRIVATE_DIR


def local(value: dt.datetime) -> str:
    return value.astimezone(NOW.tzinfo).strftime("%Y-%m-%dT%H:%M")


def seen(order) -> int:
    """The latest result on the order's page, as its review and "told" forms carry it."""
    return order.results.order_by("-pk").values_list("pk", flat=True).first() or 0


# --- The sample form at completion -----------------------------------------------------


@pytest.fixture
def appointment(db):
    morphology = factories.TestTypeFactory(code="aspirate-morphology", turnaround_target_days=2)
    histology = factories.TestTypeFactory(code="core-histology", turnaround_target_days=5)
    fish = factories.TestTypeFactory(
        code="fish", name="FISH panel", turnaround_target_days=10, turnaround_max_days=15
    )
    procedure = factories.ProcedureTypeFactory(default_tests=[morphology, histology])
    procedure.optional_tests.set([fish])
    start = clinic_datetime(TODAY, dt.time(9, 0))
    return factories.AppointmentFactory(
        procedure_type=procedure,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        status=models.Appointment.Status.IN_PROCEDURE,  # only a started procedure completes
    )


def sample_data(appointment, **extra):
    tests = models.TestType.objects.filter(code__in=["aspirate-morphology", "fish"])
    return {
        "test_types": [t.pk for t in tests],
        "specimen_site": "posterior_iliac",
        "specimen_side": "left",
        "collected_at": local(NOW - dt.timedelta(hours=1)),
        "sent_at": "",
        "accession_number": "",
        **extra,
    }


def test_it_offers_the_panel_ticked_and_the_optional_tests_unticked(nurse_client, appointment):
    response = nurse_client.get(f"/appointments/{appointment.pk}/sample/")

    form = response.context["form"]
    assert {t.code for t in form.fields["test_types"].queryset} == {
        "aspirate-morphology",
        "core-histology",
        "fish",
    }
    assert {t.code for t in form.initial["test_types"]} == {
        "aspirate-morphology",
        "core-histology",
    }


def test_it_completes_with_the_ticked_tests_site_side_and_collection_time(
    physician_client, appointment
):
    data = sample_data(appointment, sent_at=local(NOW - dt.timedelta(minutes=30)))
    data["accession_number"] = "HAE-25-0412"

    response = physician_client.post(f"/appointments/{appointment.pk}/sample/", data)

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == models.Appointment.Status.COMPLETED
    orders = {o.test_type.code: o for o in appointment.test_orders.all()}
    assert set(orders) == {"aspirate-morphology", "fish"}
    fish = orders["fish"]
    assert (fish.specimen_site, fish.specimen_side, fish.accession_number) == (
        "posterior_iliac",
        "left",
        "HAE-25-0412",
    )
    assert fish.collected_at == NOW - dt.timedelta(hours=1)
    assert fish.status == S.SENT
    assert fish.expected_by == dt.date(2025, 4, 24)  # 10 working days
    assert fish.responsible == appointment.provider


def test_it_refuses_a_collection_time_in_the_future_and_saves_nothing(
    physician_client, appointment
):
    data = sample_data(appointment, collected_at=local(NOW + dt.timedelta(hours=2)))

    response = physician_client.post(f"/appointments/{appointment.pk}/sample/", data)

    assert response.status_code == 200
    message = "The collection time is in the future. Enter when it was taken."
    assert response.context["form"].errors["collected_at"] == [message]
    assert message in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == models.Appointment.Status.IN_PROCEDURE
    assert not models.TestOrder.objects.exists()


def test_the_service_refuses_a_future_collection_too(physician_user, appointment):
    sample = svc.Sample(
        test_types=list(models.TestType.objects.all()),
        collected_at=NOW + dt.timedelta(minutes=5),
    )
    with pytest.raises(ValidationError, match="collection time is in the future"):
        visits.procedure_complete(appointment_id=appointment.pk, sample=sample, by=physician_user)
    assert not models.TestOrder.objects.exists()


def test_it_refuses_a_sample_without_tests(physician_client, appointment):
    data = sample_data(appointment, test_types=[])

    response = physician_client.post(f"/appointments/{appointment.pk}/sample/", data)

    assert response.context["form"].errors["test_types"] == [
        "Tick at least one test on the sample, or say why no sample was taken."
    ]
    assert not models.TestOrder.objects.exists()


# --- The state machine -------------------------------------------------------------


@pytest.fixture
def order(db):
    return factories.TestOrderFactory(expected_by=TODAY + dt.timedelta(days=1))


def log_final(order, by, **extra):
    return svc.result_log(
        order_id=order.pk,
        interpretation="normal",
        report_text="Normocellular marrow.",
        is_final=True,
        by=by,
        **extra,
    )


def test_it_walks_an_order_from_collected_to_communicated(physician_user, order):
    svc.order_sent(order_id=order.pk, sent_at=NOW, accession_number="A-1", by=physician_user)
    svc.result_log(
        order_id=order.pk,
        interpretation="abnormal",
        report_text="Preliminary: hypercellular.",
        is_final=False,
        by=physician_user,
    )
    log_final(order, physician_user, cellularity="hyper", fibrosis="mild")
    result_flows.result_review(
        order_id=order.pk, action_planned="Refer to haematology.", by=physician_user
    )
    svc.result_communicate(order_id=order.pk, how="in_person", at=NOW, by=physician_user)

    order.refresh_from_db()
    assert order.status == S.COMMUNICATED
    assert (order.reviewed_by, order.review_action) == (physician_user, "Refer to haematology.")
    assert (order.communicated_how, order.communicated_at) == ("in_person", NOW)
    assert [e.to_status for e in order.events.all()] == [
        "sent",
        "preliminary",
        "final",
        "reviewed",
        "communicated",
    ]
    assert order.results.count() == 2  # every version kept


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        ("cancelled", "log", "This test order was cancelled; no result can be logged."),
        (
            "collected",
            "review",
            "Only a final result can be reviewed: this order is at “Collected”.",
        ),
        (
            "preliminary",
            "review",
            "Only a final result can be reviewed: this order is at “Preliminary result”.",
        ),
        (
            "final",
            "communicate",
            "A physician must review the result before the patient is told: "
            "this order is at “Final result”.",
        ),
        (
            "collected",
            "communicate",
            "A physician must review the result before the patient is told: "
            "this order is at “Collected”.",
        ),
        ("final", "sent", "A test order at “Final result” cannot move to “Sent to lab”."),
        ("final", "cancel", "Only a test still waiting for its final result can be cancelled."),
    ],
)
def test_it_refuses_each_illegal_move_with_its_reason_and_saves_nothing(
    physician_user, order, status, action, message
):
    order.status = status
    order.save()
    calls = {
        "log": lambda: log_final(order, physician_user),
        "review": lambda: result_flows.result_review(
            order_id=order.pk, action_planned="x", by=physician_user
        ),
        "communicate": lambda: svc.result_communicate(
            order_id=order.pk, how="phone", at=NOW, by=physician_user
        ),
        "sent": lambda: svc.order_sent(
            order_id=order.pk, sent_at=NOW, accession_number="", by=physician_user
        ),
        "cancel": lambda: svc.order_cancel(order_id=order.pk, reason="x", by=physician_user),
    }

    with pytest.raises(ValidationError) as exc:
        calls[action]()

    assert exc.value.messages == [message]
    order.refresh_from_db()
    assert order.status == status
    assert not order.events.exists()
    assert not models.TestResult.objects.exists()
    assert not models.Reminder.objects.exists()


def test_review_before_final_is_refused_on_the_page(physician_client, order):
    response = physician_client.post(
        f"/results/{order.pk}/review/", {"action_planned": "Call", "seen_result": seen(order)}
    )

    message = "Only a final result can be reviewed: this order is at “Collected”."
    assert response.status_code == 200
    assert message in response.content.decode()
    order.refresh_from_db()
    assert order.status == S.COLLECTED


def test_telling_before_review_is_refused_on_the_page(physician_client, physician_user, order):
    log_final(order, physician_user)

    response = physician_client.post(
        f"/results/{order.pk}/communicate/",
        {"how": "phone", "at": local(NOW), "seen_result": seen(order)},
    )

    assert "A physician must review the result before the patient is told" in (
        response.content.decode()
    )
    order.refresh_from_db()
    assert order.status == S.FINAL
    assert order.communicated_at is None


def test_an_amendment_after_review_needs_a_new_review(physician_user, order):
    log_final(order, physician_user)
    result_flows.result_review(
        order_id=order.pk, action_planned="Routine follow-up.", by=physician_user
    )

    log_final(order, physician_user, other_findings="Amended: small granulomas.")

    order.refresh_from_db()
    assert order.status == S.FINAL
    assert order.reviewed_at is None
    assert order.results.count() == 2


# --- Review plans the patient's email -------------------------------------------------


def test_the_review_plans_the_results_ready_email_not_the_result(physician_client, physician_user):
    order = factories.TestOrderFactory()
    log_final(order, physician_user)
    assert not models.Reminder.objects.exists()

    response = physician_client.post(
        f"/results/{order.pk}/review/",
        {"action_planned": "Discuss at clinic.", "seen_result": seen(order)},
    )

    assert response.status_code == 302
    notice = models.Reminder.objects.get()
    assert (notice.kind, notice.status, notice.due_at) == ("results_ready", "pending", NOW)


def test_the_review_needs_an_action_planned(physician_client, physician_user, order):
    log_final(order, physician_user)

    response = physician_client.post(
        f"/results/{order.pk}/review/", {"action_planned": "  ", "seen_result": seen(order)}
    )

    assert response.context["review_form"].errors["action_planned"]
    order.refresh_from_db()
    assert order.status == S.FINAL


def test_the_email_says_other_results_are_still_pending_without_naming_them(physician_user):
    order = factories.TestOrderFactory()
    factories.TestOrderFactory(
        appointment=order.appointment,
        test_type=factories.TestTypeFactory(name="Cytogenetics (karyotype)"),
        expected_by=dt.date(2025, 5, 6),
    )
    log_final(order, physician_user)
    result_flows.result_review(
        order_id=order.pk, action_planned="Wait for genetics.", by=physician_user
    )

    message = reminder_message(models.Reminder.objects.get())

    html = message.alternatives[0][0]
    for part in (message.body, html):
        assert "Some results are still pending, expected around 6 May 2025." in part
        assert "Cytogenetics" not in part
    assert "Cytogenetics" not in message.subject


def test_the_email_says_nothing_of_pending_results_when_all_are_in(physician_user, order):
    log_final(order, physician_user)
    result_flows.result_review(order_id=order.pk, action_planned="Done.", by=physician_user)

    message = reminder_message(models.Reminder.objects.get())

    assert "still pending" not in message.body


# --- Booking the discussion ----------------------------------------------------------


def test_it_links_to_booking_prefilled_after_the_last_expected_result(
    physician_client, frontdesk_user, client
):
    order = factories.TestOrderFactory(expected_by=dt.date(2025, 4, 11))  # a Friday
    factories.TestOrderFactory(appointment=order.appointment, expected_by=dt.date(2025, 4, 17))

    page = physician_client.get(f"/results/{order.pk}/").content.decode()

    patient = order.appointment.patient
    url = (
        f"/appointments/book/?patient={patient.pk}&amp;date=2025-04-18"
        f"&amp;type=results-discussion&amp;provider={order.responsible_id}"
    )
    assert url in page
    client.force_login(frontdesk_user)
    form = client.get(url.replace("&amp;", "&")).context["form"]
    discussion = models.ProcedureType.objects.get(code="results-discussion")
    assert form.initial == {
        "patient_mrn": patient.mrn,
        "procedure_type": discussion.pk,
        "sedation_level": "none",
        "provider": order.responsible_id,
        "date": dt.date(2025, 4, 18),
    }


# --- PDF reports -----------------------------------------------------------------------

# A one-page PDF that pypdf reads (clinic/pdf.py parses uploads).
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 72 72]>>endobj\n"
    b"trailer<</Root 1 0 R>>\nstartxref\n0\n%%EOF\n"
)


def post_pdf(client, order, content, name="report.pdf"):
    upload = SimpleUploadedFile(name, content, content_type="application/pdf")
    return client.post(
        f"/results/{order.pk}/",
        {
            "interpretation": "normal",
            "report_text": "See the lab's report.",
            "is_final": "on",
            "report_pdf": upload,
        },
    )


def test_it_keeps_the_pdf_privately_and_serves_it_to_clinical_staff_with_an_audit(
    physician_client, nurse_user, frontdesk_user, client, order, private_dir, settings
):
    assert post_pdf(physician_client, order, PDF).status_code == 302

    result = order.results.get()
    stored = private_dir / result.report_pdf.name
    assert stored.read_bytes() == PDF
    assert not str(stored).startswith(str(settings.STATIC_ROOT))
    client.force_login(nurse_user)
    response = client.get(f"/results/reports/{result.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == PDF
    read = ReadAccess.objects.get(object_type="procedures.testresult")
    assert (read.user, read.object_id) == (nurse_user, str(result.pk))
    client.force_login(frontdesk_user)
    assert client.get(f"/results/reports/{result.pk}/pdf/").status_code == 403


def test_it_refuses_a_file_that_is_not_a_pdf(physician_client, order, private_dir):
    response = post_pdf(physician_client, order, b"MZ\x90\x00 not a pdf", name="report.pdf")

    message = "This file is not a PDF. Upload the lab's report as a PDF."
    assert response.context["result_form"].errors["report_pdf"] == [message]
    assert "This file is not a PDF." in response.content.decode()
    assert not models.TestResult.objects.exists()
    assert not private_dir.exists() or not any(private_dir.rglob("*.pdf"))


def test_it_refuses_an_oversized_pdf(physician_client, order, private_dir, settings):
    settings.RESULTS_PDF_MAX_BYTES = 1024 * 1024
    response = post_pdf(physician_client, order, PDF + b"0" * (1024 * 1024))

    assert response.context["result_form"].errors["report_pdf"] == [
        "The file is 1.0 MB; a report may be at most 1 MB."
    ]
    assert not models.TestResult.objects.exists()


# --- Ownership: mine, reassignment, coverage ---------------------------------------------


@pytest.fixture
def lee(physician_user):
    return factories.ProviderFactory(display_name="Dr Lee", user=physician_user)


def test_my_results_are_mine_and_my_covered_colleagues(physician_client, lee):
    mine = factories.TestOrderFactory(appointment__provider=lee)
    away = factories.ProviderFactory(display_name="Dr Away")
    covered = factories.TestOrderFactory(appointment__provider=away)
    factories.TestOrderFactory()  # someone else's, not covered
    models.ResultCoverage.objects.create(
        absent=away, covering=lee, starts_on=TODAY, ends_on=TODAY + dt.timedelta(days=7)
    )

    response = physician_client.get("/results/")  # a physician starts on their own list

    assert response.context["scope"] == "mine"
    assert set(response.context["page"]) == {mine, covered}
    assert len(physician_client.get("/results/?scope=all").context["page"]) == 3


def test_coverage_ends_on_its_last_day(physician_user, lee):
    away = factories.ProviderFactory(display_name="Dr Away")
    factories.TestOrderFactory(appointment__provider=away)
    models.ResultCoverage.objects.create(
        absent=away, covering=lee, starts_on=TODAY - dt.timedelta(days=7), ends_on=TODAY
    )

    assert models.TestOrder.objects.owned_by(physician_user, TODAY).count() == 1
    tomorrow = TODAY + dt.timedelta(days=1)
    assert models.TestOrder.objects.owned_by(physician_user, tomorrow).count() == 0
    # The worklist's page reads the same physicians as ids first.
    assert sorted(answering_for(physician_user, TODAY)) == sorted([lee.pk, away.pk])
    assert answering_for(physician_user, tomorrow) == [lee.pk]


def test_it_reassigns_an_order_and_says_so_on_its_timeline(physician_client, lee, order):
    response = physician_client.post(f"/results/{order.pk}/reassign/", {"responsible": lee.pk})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.responsible == lee
    page = physician_client.get(f"/results/{order.pk}/").content.decode()
    assert "Reassigned" in page
    assert "to Dr Lee" in page


def test_the_worklist_filters_by_test_lab_physician_and_state(nurse_client, lee):
    genetics = factories.TestTypeFactory(lab="Genetics lab")
    a = factories.TestOrderFactory(test_type=genetics, expected_by=TODAY - dt.timedelta(days=2))
    b = factories.TestOrderFactory(appointment__provider=lee, status=S.FINAL)
    c = factories.TestOrderFactory()

    def listed(query):
        return set(nurse_client.get(f"/results/?scope=all&{query}").context["page"])

    assert listed(f"test_type={genetics.pk}") == {a}
    assert listed("lab=Genetics+lab") == {a}
    assert listed(f"physician={lee.pk}") == {b}
    assert listed("state=final") == {b}
    assert listed("state=overdue") == {a}
    assert listed("state=pending") == {a, c}


def test_the_navigation_count_is_one_query(nurse_client, django_assert_num_queries):
    factories.TestOrderFactory(expected_by=TODAY - dt.timedelta(days=1))  # overdue
    factories.TestOrderFactory(status=S.FINAL)  # needs review
    factories.TestOrderFactory(expected_by=TODAY + dt.timedelta(days=3))  # fine

    with django_assert_num_queries(4):  # session, user, roles, the count
        response = nurse_client.get("/results/attention/")

    badge = response.content.decode()
    assert ">2<" in badge
    assert "results need attention" in badge


@pytest.mark.parametrize("count", [2, 20])
def test_my_worklist_costs_the_same_queries_at_any_size(
    physician_client, lee, django_assert_num_queries, count
):
    for days in range(count):
        factories.TestOrderFactory(
            appointment__provider=lee,
            appointment__start_at=NOW - dt.timedelta(days=30, hours=-2 * days),
            expected_by=TODAY + dt.timedelta(days=days - count // 2),
        )

    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    # -1 the paginator is told the length the bucket counts' query counted.
    # -1 the filter's tests and labs come from one query.
    # +1 the physicians they answer for, read first (the page is then read in order).
    # +1 the calls they owe patients about results ("Calls to make"), whatever the size.
    with django_assert_num_queries(11):
        response = physician_client.get("/results/?scope=mine&state=pending")

    assert len(response.context["rows"]) == count


def test_a_filter_it_cannot_read_is_said_and_ignored(nurse_client):
    order = factories.TestOrderFactory()

    response = nurse_client.get("/results/?scope=all&test_type=999999&state=bogus")

    assert "Some filters were not understood" in response.content.decode()
    assert list(response.context["page"]) == [order]
