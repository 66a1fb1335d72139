"""A network's counts read with their thousands separated ("56,624 escalations"), as
the benchmark's network showed them run together ("56624"); past COUNT_AT_MOST the
pages say "more than" instead of reading every row, and the sign-off keeps the exact
figure."""

import datetime as dt

import pytest
from django.template.loader import render_to_string

from procedures.catalog.clock import clinic_datetime
from procedures.catalog.sites import ALL_SITES, SESSION_KEY
from procedures.models import OpenLoopsDay
from procedures.results.escalations import escalations_run
from procedures.tests import factories
from procedures.today import loops
from procedures.today.loops import Tally

# Monday 14 April 2025, 08:00 in the clinic: after the 07:00 digest hour.
NOW = clinic_datetime(dt.date(2025, 4, 14), dt.time(8, 0))


def test_the_alarm_separates_the_thousands():
    html = render_to_string("procedures/_alarms.html", {"count": Tally(56624), "may": {}})

    assert "56,624 escalations have nobody to email." in html


def test_one_escalation_reads_in_the_singular():
    html = render_to_string("procedures/_alarms.html", {"count": Tally(1), "may": {}})

    assert "1 escalation has nobody to email." in html


def test_past_the_most_counted_the_alarm_says_more_than():
    html = render_to_string("procedures/_alarms.html", {"count": Tally(1000, True), "may": {}})

    assert "More than 1,000 escalations have nobody to email." in html


def test_no_escalation_waiting_shows_no_alarm():
    html = render_to_string("procedures/_alarms.html", {"count": Tally(0), "may": {}})

    assert "alert" not in html


@pytest.mark.django_db
@pytest.mark.clock(NOW)
def test_the_pages_count_up_to_the_most_and_the_sign_off_keeps_the_exact_count(
    settings, monkeypatch, physician_client
):
    settings.RESULTS_CLINIC_LEAD_EMAILS = []
    monkeypatch.setattr(loops, "COUNT_AT_MOST", 2)
    nobody = factories.ProviderFactory(display_name="Dr Nobody")
    for hours in range(3):
        factories.TestOrderFactory(
            appointment__provider=nobody,
            appointment__start_at=NOW - dt.timedelta(days=60, hours=hours),
            expected_by=NOW.date() - dt.timedelta(days=1),
        )
    escalations_run()
    waiting = loops.unaddressed().count()
    assert waiting == 3  # one "overdue" escalation an order, none has anybody to email

    alarm = physician_client.get("/alarms/").content.decode()
    assert "More than 2 escalations have nobody to email." in alarm
    session = physician_client.session
    session[SESSION_KEY] = ALL_SITES
    session.save()
    page = physician_client.get("/open-loops/").content.decode()
    assert "Escalations without a recipient" in page
    assert "more than 2</span>" in page
    # The orders overdue (3) and their escalations (3), each "more than 2".
    assert "More than 4 open loops" in page
    # Each of the three is still listed: the list is read, only its count stops.
    assert len(physician_client.get("/open-loops/").context["report"].sections[-1].items) == 3

    physician_client.post("/open-loops/sign-off/", {"day": NOW.date().isoformat()})
    signed = OpenLoopsDay.objects.get(day=NOW.date())
    assert signed.counts["escalations_no_recipient"] == 3
    assert signed.counts["orders_overdue"] == 3
    # /healthz, an operator's reading, says the exact number too.
    assert loops.check_escalation_recipients()[1]["results_without_recipient"] == 3
