"""Escalation of late results: once per (order, level), a digest of links only."""

import datetime as dt
import itertools
import re
import threading

import pytest
from django.db import connection

from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.results.escalations import escalations_plan, escalations_run
from procedures.tests import factories

S = models.TestOrder.Status
Level = models.ResultEscalation.Level

# Monday 14 April 2025, 08:00 in the clinic: after the 07:00 digest hour.
NOW = clinic_datetime(dt.date(2025, 4, 14), dt.time(8, 0))
TODAY = NOW.date()


@pytest.fixture
def lee(db, django_user_model):
    user = django_user_model.objects.create_user("lee", email="lee@clinic.example")
    return factories.ProviderFactory(display_name="Dr Lee", user=user)


@pytest.fixture(autouse=True)
def lead(settings):
    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.example"]


SLOTS = itertools.count()


def order_for(provider, **extra):
    # Each in its own slot: PostgreSQL refuses two overlapping visits for one physician.
    start = NOW - dt.timedelta(days=60) + dt.timedelta(hours=2 * next(SLOTS))
    return factories.TestOrderFactory(
        appointment__provider=provider, appointment__start_at=start, **extra
    )


def overdue_order(lee, days_overdue: int, **extra):
    return order_for(lee, expected_by=TODAY - dt.timedelta(days=days_overdue), **extra)


def levels(order) -> set[str]:
    return set(order.escalations.values_list("level", flat=True))


@pytest.mark.django_db
def test_it_tells_the_physician_of_an_overdue_result_once(lee, smtp_mail, time_machine):
    time_machine.move_to(NOW, tick=False)
    # A name no part of the email could hold by chance (a random "Rivers" is inside
    # "Riverside Procedure Clinic").
    order = overdue_order(lee, 1, appointment__patient__family_name="Quennevaux")
    order_for(lee, expected_by=TODAY)  # due today: fine

    escalations_run()
    escalations_run()

    assert levels(order) == {Level.OVERDUE}
    assert models.ResultEscalation.objects.count() == 1
    [message] = smtp_mail.wait_for(1)
    assert message["To"] == "lee@clinic.example"
    assert message["Subject"] == "Results follow-up: 1 item needs you"
    body = message.get_body(("plain",)).get_content()
    assert f"http://localhost:8000/results/{order.pk}/" in body
    # Links only: no patient, no test.
    patient = order.appointment.patient
    for secret in (patient.family_name, patient.mrn, order.test_type.name):
        assert secret not in message.as_string()


@pytest.mark.django_db
def test_overdue_digests_wait_for_the_digest_hour(lee, smtp_mail, time_machine):
    time_machine.move_to(clinic_datetime(TODAY, dt.time(6, 30)), tick=False)
    overdue_order(lee, 2)

    assert escalations_run().emails == 0
    assert not models.ResultEscalation.objects.exists()


@pytest.mark.django_db
def test_one_digest_per_recipient_covers_all_their_orders(lee, smtp_mail, time_machine):
    time_machine.move_to(NOW, tick=False)
    overdue_order(lee, 1)
    overdue_order(lee, 2)

    assert escalations_run().emails == 1
    [message] = smtp_mail.wait_for(1)
    assert message["Subject"] == "Results follow-up: 2 items need you"


@pytest.mark.django_db
def test_a_backlog_is_written_in_chunks_with_queries_per_chunk_not_per_order(
    lee, time_machine, settings, django_assert_max_num_queries
):
    """A network's first run (or one after an outage) may find 100,000 late orders:
    read and written a chunk at a time, never a query per order."""
    settings.RESULTS_ESCALATION_CHUNK = 2
    time_machine.move_to(NOW, tick=False)
    away = factories.ProviderFactory(display_name="Dr Away")
    models.ResultCoverage.objects.create(absent=away, covering=lee, starts_on=TODAY, ends_on=TODAY)
    late = [overdue_order(lee, 1) for _ in range(3)] + [overdue_order(away, 1) for _ in range(2)]

    # The covers and the sites' zones (2); at OVERDUE 5 orders in chunks of 2: 3 reads
    # and 3 writes, and the read that finds none left; one empty read for each of the 5
    # other levels.
    with django_assert_max_num_queries(2 + 7 + 5):
        assert escalations_plan(now=NOW) == 5

    rows = models.ResultEscalation.objects.filter(level=Level.OVERDUE)
    assert sorted(rows.values_list("order_id", flat=True)) == sorted(o.pk for o in late)
    # The absent physician's orders go to their cover, as one order at a time did.
    assert set(rows.values_list("recipient", flat=True)) == {"lee@clinic.example"}
    assert escalations_plan(now=NOW) == 0  # written once


@pytest.mark.django_db
def test_a_long_digest_lists_the_first_items_and_counts_the_rest(
    lee, smtp_mail, time_machine, settings
):
    settings.RESULTS_DIGEST_MAX_ITEMS = 2
    time_machine.move_to(NOW, tick=False)
    orders = [overdue_order(lee, days) for days in (3, 2, 1)]

    assert escalations_run().emails == 1
    [message] = smtp_mail.wait_for(1)
    assert message["Subject"] == "Results follow-up: 3 items need you"
    body = message.get_body(("plain",)).get_content()
    assert len(re.findall(r"http://localhost:8000/results/\d+/", body)) == 2
    assert "And 1 more: it is on your results worklist." in body
    assert "results/?scope=mine" in body
    # All three are told: the next run sends nothing until a repeat is due.
    assert not models.ResultEscalation.objects.filter(notified_at__isnull=True).exists()
    assert escalations_run().emails == 0
    assert len(orders) == models.ResultEscalation.objects.count()


@pytest.mark.django_db
def test_the_lead_hears_of_results_overdue_by_a_further_n_days(
    lee, smtp_mail, time_machine, settings
):
    settings.RESULTS_OVERDUE_LEAD_DAYS = 3
    time_machine.move_to(NOW, tick=False)
    three = overdue_order(lee, 3)
    four = overdue_order(lee, 4)

    escalations_run()

    assert levels(three) == {Level.OVERDUE}
    assert levels(four) == {Level.OVERDUE, Level.OVERDUE_LEAD}
    lead_row = four.escalations.get(level=Level.OVERDUE_LEAD)
    assert lead_row.recipient == "lead@clinic.example"
    assert sorted(m["To"] for m in smtp_mail.wait_for(2)) == [
        "lead@clinic.example",
        "lee@clinic.example",
    ]


@pytest.mark.django_db
def test_an_unreviewed_final_result_goes_to_the_physician_then_the_lead(lee, time_machine):
    order = order_for(lee, status=S.FINAL)
    order.final_at = NOW
    order.save()

    time_machine.move_to(NOW + dt.timedelta(hours=47), tick=False)
    escalations_run()
    assert levels(order) == set()
    time_machine.move_to(NOW + dt.timedelta(hours=48), tick=False)
    escalations_run()
    assert levels(order) == {Level.UNREVIEWED}
    time_machine.move_to(NOW + dt.timedelta(hours=96), tick=False)
    escalations_run()
    assert levels(order) == {Level.UNREVIEWED, Level.UNREVIEWED_LEAD}


@pytest.mark.django_db
def test_a_reviewed_result_not_told_after_7_days_goes_to_the_physician(
    lee, time_machine, django_user_model
):
    order = order_for(lee, status=S.REVIEWED, reviewed_at=NOW, reviewed_by=lee.user)

    time_machine.move_to(NOW + dt.timedelta(days=6, hours=23), tick=False)
    escalations_run()
    assert levels(order) == set()
    time_machine.move_to(NOW + dt.timedelta(days=7), tick=False)
    escalations_run()
    assert levels(order) == {Level.UNCOMMUNICATED}


@pytest.mark.django_db
def test_thresholds_come_from_settings(lee, time_machine, settings):
    settings.RESULTS_UNREVIEWED_HOURS = 4
    order = order_for(lee, status=S.FINAL)
    order.final_at = NOW
    order.save()
    time_machine.move_to(NOW + dt.timedelta(hours=4), tick=False)

    escalations_run()

    assert levels(order) == {Level.UNREVIEWED}


@pytest.mark.django_db
def test_a_covering_physician_gets_the_absent_ones_chase(lee, smtp_mail, time_machine):
    time_machine.move_to(NOW, tick=False)
    away = factories.ProviderFactory(display_name="Dr Away")
    models.ResultCoverage.objects.create(absent=away, covering=lee, starts_on=TODAY, ends_on=TODAY)
    overdue_order(away, 1)

    escalations_run()

    assert [m["To"] for m in smtp_mail.wait_for(1)] == ["lee@clinic.example"]


@pytest.mark.django_db
def test_each_escalation_shows_on_the_orders_timeline(
    lee, physician_client, time_machine, care_for_all
):
    time_machine.move_to(NOW, tick=False)
    order = overdue_order(lee, 5)
    escalations_run()

    page = physician_client.get(f"/results/{order.pk}/").content.decode()

    assert "Result overdue: physician told" in page
    assert "Result long overdue: clinic lead told" in page


@pytest.mark.django_db
def test_the_beat_schedule_runs_the_task(settings):
    from procedures.results.tasks import escalate_late_results

    entry = settings.CELERY_BEAT_SCHEDULE["escalate-late-results"]
    assert entry["task"] == escalate_late_results.name
    assert entry["schedule"] == 15 * 60


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_write_and_send_each_level_exactly_once(
    postgres, lee, smtp_mail, time_machine
):
    time_machine.move_to(NOW, tick=False)
    orders = [overdue_order(lee, 5) for _ in range(20)]
    barrier = threading.Barrier(2)
    errors, reports = [], []

    def run():
        try:
            barrier.wait(timeout=10)
            reports.append(escalations_run(now=NOW))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    for order in orders:
        assert levels(order) == {Level.OVERDUE, Level.OVERDUE_LEAD}
    assert models.ResultEscalation.objects.count() == 40
    assert not models.ResultEscalation.objects.filter(notified_at__isnull=True).exists()
    # One digest to Dr Lee and one to the lead, whichever run sent them.
    assert sum(r.emails for r in reports) == 2
    messages = smtp_mail.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["lead@clinic.example", "lee@clinic.example"]
    lee_digest = next(m for m in messages if m["To"] == "lee@clinic.example")
    body = lee_digest.get_body(("plain",)).get_content()
    assert [body.count(f"/results/{o.pk}/") for o in orders] == [1] * 20


@pytest.mark.django_db
def test_the_task_runs_the_escalation_and_reports_counts(lee, smtp_mail, time_machine):
    from procedures.results.tasks import escalate_late_results

    time_machine.move_to(NOW, tick=False)
    overdue_order(lee, 1)

    assert escalate_late_results() == {"planned": 1, "repeated": 0, "emails": 1}
    assert escalate_late_results()["emails"] == 0


@pytest.mark.django_db
def test_a_refused_digest_is_retried_without_repeating_anyone_elses(
    lee, smtp_mail, time_machine, django_user_model
):
    time_machine.move_to(NOW, tick=False)
    patel = factories.ProviderFactory(
        display_name="Dr Patel",
        user=django_user_model.objects.create_user("patel", email="patel@clinic.example"),
    )
    overdue_order(lee, 1)
    overdue_order(patel, 1)
    # Digests go out by recipient in order: Dr Lee's is refused for now.
    smtp_mail.scripted_replies.append("451 4.3.0 Try again later")

    assert escalations_run().emails == 1
    assert [m["To"] for m in smtp_mail.wait_for(1)] == ["patel@clinic.example"]
    assert escalations_run().emails == 1

    messages = smtp_mail.wait_for(2)
    assert sorted(m["To"] for m in messages) == ["lee@clinic.example", "patel@clinic.example"]
    assert not models.ResultEscalation.objects.filter(notified_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_lead_escalation_with_no_lead_address_waits_unsent_until_one_is_set(
    lee, smtp_mail, time_machine, settings, caplog, physician_client, care_for_all
):
    settings.RESULTS_CLINIC_LEAD_EMAILS = []
    time_machine.move_to(NOW, tick=False)
    order = overdue_order(lee, 5)

    assert escalations_run().emails == 1  # Dr Lee's digest only

    assert [m["To"] for m in smtp_mail.wait_for(1)] == ["lee@clinic.example"]
    lead_row = order.escalations.get(level=Level.OVERDUE_LEAD)
    assert (lead_row.recipient, lead_row.notified_at) == ("", None)
    assert "have nobody to email" in caplog.text
    page = physician_client.get(f"/results/{order.pk}/").content.decode()
    assert "Result long overdue: clinic lead told (email not sent yet)" in page

    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.example"]
    assert escalations_run().emails == 1

    assert [m["To"] for m in smtp_mail.wait_for(2)][1:] == ["lead@clinic.example"]
    lead_row.refresh_from_db()
    assert lead_row.recipient == "lead@clinic.example"
    assert lead_row.notified_at == NOW
    assert escalations_run().emails == 0


@pytest.mark.django_db
def test_a_physician_without_an_email_is_chased_once_they_have_one(lee, smtp_mail, time_machine):
    time_machine.move_to(NOW, tick=False)
    lee.user.email = ""
    lee.user.save()
    order = overdue_order(lee, 1)

    assert escalations_run().emails == 0
    assert order.escalations.get().notified_at is None

    lee.user.email = "lee@clinic.example"
    lee.user.save()
    assert escalations_run().emails == 1
    assert [m["To"] for m in smtp_mail.wait_for(1)] == ["lee@clinic.example"]
    assert order.escalations.get().notified_at == NOW


@pytest.mark.django_db
def test_the_digests_read_naturally_and_the_leads_links_to_all_results(
    lee, smtp_mail, time_machine, settings
):
    settings.RESULTS_OVERDUE_LEAD_DAYS = 3
    time_machine.move_to(NOW, tick=False)
    order = overdue_order(lee, 4)

    escalations_run()

    mails = {m["To"]: m.get_body(("plain",)).get_content() for m in smtp_mail.wait_for(2)}
    physician, lead = mails["lee@clinic.example"], mails["lead@clinic.example"]
    link = f"http://localhost:8000/results/{order.pk}/"
    assert f"- Result overdue: {link}" in physician
    assert "physician told" not in physician
    assert "Your results worklist: http://localhost:8000/results/?scope=mine" in physician
    assert f"- Result overdue for several days: {link}" in lead
    assert "clinic lead told" not in lead
    assert "The results worklist, all results: http://localhost:8000/results/?scope=all" in lead
    assert "Your results worklist" not in lead and "scope=mine" not in lead
    for message in smtp_mail.wait_for(2):
        assert "told:" not in message.get_body(("html",)).get_content()


@pytest.mark.django_db
def test_a_digest_is_signed_by_the_site_of_its_results_or_by_the_network(
    lee, smtp_mail, time_machine, settings
):
    """QA pass 3: a digest about Northgate's results was signed with the first site's
    name, "Riverside Procedure Clinic"."""
    time_machine.move_to(NOW, tick=False)
    northgate = factories.SiteFactory(
        code="north", name="Northgate Satellite Clinic", phone="0161 496 0123"
    )
    order = overdue_order(lee, 1, appointment__room__site=northgate)
    assert order.site == northgate

    escalations_run()

    [message] = smtp_mail.wait_for(1)
    text, html = (message.get_body((part,)).get_content() for part in ("plain", "html"))
    assert text.rstrip().endswith("Northgate Satellite Clinic")
    # Signed with the site's name and address; a staff email carries no "call us on"
    # line (that footer is the patients').
    assert f"Northgate Satellite Clinic · {northgate.address}" in html
    assert "0161 496 0123" not in html
    assert settings.CLINIC_NAME not in text + html

    # The lead's digest covers results of two sites: signed by the network.
    settings.RESULTS_OVERDUE_LEAD_DAYS = 3
    overdue_order(lee, 4, appointment__room__site=northgate)
    overdue_order(lee, 4)  # the main site's
    smtp_mail.messages.clear()

    escalations_run()

    lead = [m for m in smtp_mail.wait_for(2) if m["To"] == "lead@clinic.example"]
    [text] = [m.get_body(("plain",)).get_content() for m in lead]
    assert text.rstrip().endswith(f"{settings.CLINIC_NAME} · all sites")
