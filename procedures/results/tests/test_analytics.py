"""Turnaround analytics against figures worked out by hand."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.sites import SESSION_KEY
from procedures.reports.turnaround import turnaround_by_test
from procedures.results.analytics import percentile, working_days_between
from procedures.tests import factories

# The page reads on the `replica` alias (a second connection): the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica"])
MON = dt.date(2025, 3, 3)  # a Monday


def final(test_type, collected: dt.date, final_on: dt.date, hour=10):
    order = factories.TestOrderFactory(
        test_type=test_type, collected_at=clinic_datetime(collected, dt.time(9, 0))
    )
    order.status = models.TestOrder.Status.FINAL
    order.final_at = clinic_datetime(final_on, dt.time(hour, 0))
    order.save()
    return order


@pytest.fixture
def data(db):
    morphology = factories.TestTypeFactory(
        name="Aspirate smear morphology", lab="Haematology lab", turnaround_target_days=2
    )
    cytogenetics = factories.TestTypeFactory(
        name="Cytogenetics (karyotype)",
        lab="Genetics lab",
        turnaround_target_days=15,
        turnaround_max_days=21,
    )
    # Morphology, collected Monday 3 March: 1, 2, 2, 3 and (over a weekend) 5
    # working days.
    final(morphology, MON, MON + dt.timedelta(days=1))  # Tue: 1
    final(morphology, MON, MON + dt.timedelta(days=2))  # Wed: 2
    final(morphology, MON, MON + dt.timedelta(days=2))  # Wed: 2
    final(morphology, MON, MON + dt.timedelta(days=3))  # Thu: 3
    final(morphology, MON, MON + dt.timedelta(days=7))  # next Mon: 5
    # Cytogenetics: 14 and 16 working days; a holiday inside the second.
    models.ClinicHoliday.objects.create(date=dt.date(2025, 3, 17), name="Clinic closed")
    final(cytogenetics, MON, dt.date(2025, 3, 20))  # 3rd week Thu: 13 days minus holiday=12
    final(cytogenetics, MON, dt.date(2025, 3, 26))  # 16 working days
    # Outside the period (final in February): not counted.
    final(morphology, dt.date(2025, 2, 3), dt.date(2025, 2, 28))
    return morphology, cytogenetics


def test_it_counts_working_days_skipping_weekends_and_holidays():
    assert working_days_between(MON, MON, set()) == 0
    assert working_days_between(MON, MON + dt.timedelta(days=7), set()) == 5
    assert working_days_between(MON, dt.date(2025, 3, 20), {dt.date(2025, 3, 17)}) == 12


def test_it_interpolates_the_90th_percentile_between_ranks():
    # Ranks of [1, 2, 2, 3, 5]: position (5-1)*0.9 = 3.6 → 3 + 0.6*(5-3) = 4.2
    assert percentile([1, 2, 2, 3, 5], 0.9) == pytest.approx(4.2)
    assert percentile([12, 16], 0.9) == pytest.approx(15.6)
    assert percentile([7], 0.9) == 7


def test_it_figures_count_median_p90_and_share_within_target(data):
    rows = {r.test_type: r for r in turnaround_by_test(start=MON, end=dt.date(2025, 3, 31))}

    morphology = rows["Aspirate smear morphology"]
    assert (morphology.lab, morphology.count, morphology.median) == ("Haematology lab", 5, 2)
    assert morphology.p90 == pytest.approx(4.2)
    assert morphology.within_target == pytest.approx(3 / 5)  # 1, 2, 2 of 1, 2, 2, 3, 5
    cyto = rows["Cytogenetics (karyotype)"]
    assert (cyto.count, cyto.median) == (2, 14)
    assert cyto.p90 == pytest.approx(15.6)
    assert cyto.within_target == pytest.approx(1 / 2)


def test_the_period_is_in_clinic_days(data):
    # Only the Tuesday result of morphology falls on 4 March.
    rows = turnaround_by_test(start=dt.date(2025, 3, 4), end=dt.date(2025, 3, 4))
    assert [(r.test_type, r.count) for r in rows] == [("Aspirate smear morphology", 1)]


def test_the_page_shows_the_table_and_an_svg_chart(nurse_client, data):
    response = nurse_client.get("/results/turnaround/?start=2025-03-01&end=2025-03-31")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in page
    assert 'role="img"' in page
    assert "<td>Aspirate smear morphology</td><td>Haematology lab</td><td>5</td><td>2</td>" in (
        page
    )
    assert "<td>4.2</td><td>2</td><td>60%</td>" in page


def test_the_csv_has_the_same_figures(nurse_client, data):
    response = nurse_client.get("/results/turnaround.csv?start=2025-03-01&end=2025-03-31")

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "Test"
    assert rows[1:] == [
        ["Aspirate smear morphology", "Haematology lab", "2", "5", "2", "4.2", "60"],
        ["Cytogenetics (karyotype)", "Genetics lab", "15", "2", "14", "15.6", "50"],
    ]


def test_it_refuses_an_end_before_the_start(nurse_client):
    response = nurse_client.get("/results/turnaround/?start=2025-03-31&end=2025-03-01")

    assert "The end date must not be before the start date." in response.content.decode()
    csv_response = nurse_client.get("/results/turnaround.csv?start=2025-03-31&end=2025-03-01")
    assert csv_response.status_code == 400


def test_the_front_desk_cannot_see_analytics(frontdesk_client):
    assert frontdesk_client.get("/results/turnaround/").status_code == 403


def test_the_page_counts_only_the_headers_sites_results(nurse_client, data):
    """On a site, only its own orders count; more results add no
    query (they are grouped in SQL)."""
    morphology, _cytogenetics = data
    north = factories.SiteFactory(code="north", name="Northgate Satellite Clinic")
    url = "/results/turnaround/?start=2025-03-01&end=2025-03-31"
    nurse_client.get(url)  # the first page of a session reads its home site once
    with CaptureQueriesContext(connection) as before:
        nurse_client.get(url)
    for day in (1, 2, 2):
        order = final(morphology, MON, MON + dt.timedelta(days=day))
        order.appointment.room.site = north
        order.appointment.room.save()
        order.site = north
        order.save()
    with CaptureQueriesContext(connection) as after:
        at_home = nurse_client.get(url).content.decode()
    assert len(after) == len(before)
    # The nurse's home site: its five, not the satellite's three.
    assert "<td>Aspirate smear morphology</td><td>Haematology lab</td><td>5</td>" in at_home

    rows = turnaround_by_test(start=MON, end=dt.date(2025, 3, 31), site_id=north.pk)
    assert [(r.test_type, r.count, r.median) for r in rows] == [("Aspirate smear morphology", 3, 2)]
    session = nurse_client.session
    session[SESSION_KEY] = north.pk
    session.save()
    at_north = nurse_client.get(url).content.decode()
    assert "<td>Aspirate smear morphology</td><td>Haematology lab</td><td>3</td>" in at_north
    assert "Cytogenetics" not in at_north


@pytest.mark.clock(clinic_datetime(dt.date(2025, 4, 15), dt.time(12, 0)))
@pytest.mark.parametrize("query", ["?site=1", "?page=2", "?q=a", "?start=&end="])
def test_a_parameter_not_of_the_period_leaves_the_default_period(nurse_client, data, query):
    """QA pass 1, #10: ?site=1 answered 400 "From: This field is required"; only the
    period's own parameters are read, and a period not given is the 90 days to today."""
    response = nurse_client.get(f"/results/turnaround/{query}")

    page = response.content.decode()
    assert response.status_code == 200
    assert "This field is required" not in page
    assert "Final results from 15 Jan 2025 to 15 Apr 2025" in page
    assert 'value="2025-01-15"' in page and 'value="2025-04-15"' in page
    # The five March results and the one of 28 February.
    assert "<td>Aspirate smear morphology</td><td>Haematology lab</td><td>6</td>" in page
    csv_response = nurse_client.get(f"/results/turnaround.csv{query}")
    assert csv_response.status_code == 200
    assert csv_response["Content-Disposition"].endswith(
        'filename="turnaround-2025-01-15-2025-04-15.csv"'
    )


@pytest.mark.clock(clinic_datetime(dt.date(2025, 4, 15), dt.time(12, 0)))
def test_a_period_given_by_one_end_runs_to_today_or_90_days_before(nurse_client, data):
    from_march = nurse_client.get("/results/turnaround/?start=2025-03-01").content.decode()
    to_march = nurse_client.get("/results/turnaround/?end=2025-03-31").content.decode()

    assert "Final results from 1 Mar 2025 to 15 Apr 2025" in from_march
    assert "<td>Aspirate smear morphology</td><td>Haematology lab</td><td>5</td>" in from_march
    assert "Final results from 31 Dec 2024 to 31 Mar 2025" in to_march
    refused = nurse_client.get("/results/turnaround/?start=2025-05-01")
    assert refused.status_code == 400
    assert "The end date must not be before the start date." in refused.content.decode()
