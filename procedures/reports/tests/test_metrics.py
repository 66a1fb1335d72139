"""Each figure of the operations dashboard against the small world in `world.py`,
worked out by hand: counted live, and again with the period's days rolled up (the
daily roll-up, reports/rollup.py, must not change a figure)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from procedures.catalog.resources import Room
from procedures.reports import metrics
from procedures.reports.dashboard import operations_report
from procedures.reports.models import ReportDay
from procedures.reports.rollup import roll_due
from procedures.reports.turnaround import turnaround_by_test
from procedures.results.orders import orders_follow_rooms
from procedures.scheduling.site_rules import visits_follow_rooms
from procedures.tests import factories

from .world import END, NOW, START, build_world

DAY = dt.timedelta(days=1)

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(params=["live", "rolled up"])
def world(request):
    built = build_world()
    if request.param == "rolled up":
        # 2 to 14 March are over (30 hours before the clock); 15 March is counted live.
        assert roll_due().days > 0
        assert set(ReportDay.objects.values_list("day", flat=True)) >= {START, END - DAY}
        assert not ReportDay.objects.filter(day=END).exists()
    return built


def test_it_measures_room_utilisation_against_open_hours(world):
    uses = {u.room: u for u in metrics.room_utilisation(world.scope())}
    # Room A: 10 weekdays less the holiday = 9 days of 10 hours, less the 4-hour
    # closure: 5,160 minutes. Held: 105 (with buffers) + 120 + 60 (not recorded yet
    # held); the no-show and the cancelled visits do not count.
    assert (uses["Room A"].open_minutes, uses["Room A"].booked_minutes) == (5160, 285)
    assert uses["Room A"].utilisation == pytest.approx(285 / 5160)
    # Room B: two Mondays of 4 hours; one 3-hour visit.
    assert (uses["Room B"].open_minutes, uses["Room B"].booked_minutes) == (480, 180)
    assert uses["Room B"].utilisation == 0.375
    assert "Room C" not in uses  # retired
    total = metrics.utilisation_total(list(uses.values()))
    assert (total.open_minutes, total.booked_minutes) == (5640, 465)


def test_it_counts_no_shows_per_week(world):
    weeks = metrics.no_shows_by_week(world.scope())
    assert [(w.week, w.no_shows, w.arrived, w.not_recorded) for w in weeks] == [
        (dt.date(2026, 3, 2), 1, 1, 0),
        (dt.date(2026, 3, 9), 0, 2, 1),
    ]
    assert weeks[0].rate == 0.5
    assert weeks[1].rate == 0
    assert metrics.no_show_total(weeks).rate == 0.25


def test_it_counts_cancellations_by_reason_zeros_included(world):
    cancellations = metrics.cancellations_by_reason(world.scope())
    counts = {r.code: r.count for r in cancellations.reasons}
    assert counts["prep_not_done"] == 1
    assert counts["no_escort"] == 1
    assert counts["not_recorded"] == 1
    assert counts["patient_unwell"] == 0
    assert len(counts) == 9  # every reason, and "not recorded"
    assert (cancellations.cancelled, cancellations.planned) == (3, 8)
    assert cancellations.rate == 0.375
    shares = {r.code: r.share for r in cancellations.reasons}
    assert shares["no_escort"] == pytest.approx(1 / 3)


def test_it_measures_days_from_booking_to_procedure(world):
    lead = metrics.booking_lead_time(world.scope())
    # Not cancelled: 10, 2, 0, 9 and 67 days.
    assert [(b.label, b.count) for b in lead.buckets] == [
        ("Same day", 1),
        ("1 to 7 days", 1),
        ("8 to 14 days", 2),
        ("15 to 28 days", 0),
        ("29 to 56 days", 0),
        ("57 days or more", 1),
    ]
    assert lead.visits == 5
    assert lead.median == 9
    assert lead.mean == pytest.approx(88 / 5)


def test_it_measures_turnaround_against_target_per_test_and_lab(world):
    rows = metrics.turnaround_against_target(world.scope())
    assert [(r.test_type, r.lab, r.target_days, r.count) for r in rows] == [
        ("Cytogenetics", "Genetics lab", 5, 1),
        ("Flow cytometry", "Haematology lab", 2, 3),
    ]
    cyto, flow = rows
    assert (cyto.median, cyto.within_target) == (8, 0)
    assert (flow.median, flow.p90) == (2, pytest.approx(2.8))
    assert flow.within_target_percent == 67


def test_its_turnaround_agrees_with_the_turnaround_page(world):
    """Grouped in SQL by day pairs, the figures are the turnaround page's, row for row."""
    page = turnaround_by_test(start=START, end=END)
    ours = metrics.turnaround_against_target(world.scope())
    key = lambda r: (r.test_type, r.lab)  # noqa: E731
    assert sorted(ours, key=key) == sorted(page, key=key)


def test_it_narrows_every_figure_to_some_rooms(world):
    """The site filter's extension point: one argument, every figure follows it."""
    scope = world.scope(rooms=Room.objects.filter(name="Room B"))
    assert [
        (u.room, u.open_minutes, u.booked_minutes) for u in metrics.room_utilisation(scope)
    ] == [("Room B", 480, 180)]
    assert metrics.no_show_total(metrics.no_shows_by_week(scope)).arrived == 1
    assert metrics.cancellations_by_reason(scope).planned == 1
    assert metrics.booking_lead_time(scope).median == 67
    assert [(r.test_type, r.count) for r in metrics.turnaround_against_target(scope)] == [
        ("Flow cytometry", 1)
    ]


def test_a_sites_report_reads_its_visits_and_orders_by_site(world):
    """A site's report narrows visits and orders by the site they carry (invariants 18
    and 20): the same figures as narrowing by the site's rooms, the other site's none."""
    north = factories.SiteFactory(code="north")
    world.room_b.site = north  # as the admin moves it: the room, then what it holds
    world.room_b.save()
    visits_follow_rooms(room_ids=[world.room_b.pk])
    orders_follow_rooms(room_ids=[world.room_b.pk])
    by_rooms = world.scope(rooms=Room.objects.filter(site=north))
    by_site = world.scope(rooms=Room.objects.filter(site=north), site_id=north.pk)

    assert by_site.visits().count() == by_rooms.visits().count() > 0
    assert by_site.final_results().count() == by_rooms.final_results().count() == 1
    assert metrics.no_show_total(metrics.no_shows_by_week(by_site)).arrived == 1
    assert metrics.cancellations_by_reason(by_site).planned == 1
    assert metrics.booking_lead_time(by_site).median == 67
    assert [(r.test_type, r.count) for r in metrics.turnaround_against_target(by_site)] == [
        ("Flow cytometry", 1)
    ]


def test_it_narrows_to_a_procedure(world):
    scope = world.scope(procedure_type=world.aspiration)
    uses = {u.room: u.booked_minutes for u in metrics.room_utilisation(scope)}
    assert uses == {"Room A": 120, "Room B": 0}
    assert metrics.booking_lead_time(scope).median == 0
    assert [(r.test_type, r.count) for r in metrics.turnaround_against_target(scope)] == [
        ("Flow cytometry", 1)
    ]


def test_an_empty_period_has_no_rates(world):
    scope = world.scope(rooms=Room.objects.none())
    report = operations_report(scope)
    assert report.rooms == []
    assert report.rooms_total.utilisation is None
    assert report.no_show_total.rate is None
    assert report.cancellations.rate is None
    assert report.lead_time.median is None


def test_it_reads_the_whole_report_in_a_fixed_number_of_queries(world):
    with CaptureQueriesContext(connection) as one_week:
        operations_report(world.scope())
    for n in range(3):  # more visits, the same queries
        build_more = world.visits[1]
        build_more.pk = None
        build_more.start_at = build_more.start_at + dt.timedelta(days=7, hours=n + 1)
        build_more.end_at = build_more.start_at + dt.timedelta(minutes=30)
        build_more.save()
    with CaptureQueriesContext(connection) as more:
        operations_report(world.scope())
    # Rooms, their hours, closures, holidays; the period's rolled-up days and the
    # sites (on "all sites", to count the other days live); the visits of the days
    # counted live: statuses and reasons, booking lead, time held; their results;
    # the tests' names and the holidays. The same rolled up or not: today (15 March
    # here) is always counted live.
    assert len(one_week) == len(more) == 12
