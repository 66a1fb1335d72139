"""The reports' daily roll-up (reports/rollup.py): a day counted once when it is over
reads the same as counted live, and stays so when the day changes afterwards
(docs/invariants.md, 24)."""

import datetime as dt
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.testing.processes import wait_until
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.resources import Room
from procedures.reports.models import ReportDay
from procedures.reports.rollup import VisitFacts, forget_sites, roll_due
from procedures.reports.scope import ReportScope
from procedures.reports.turnaround import turnaround_by_test
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment
from procedures.tests import factories
from procedures.workflows import visits

from .figures import agrees
from .world import END, NOW, START, build_world

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]

Status = Appointment.Status


def missing_days(rolled, site_id: int) -> set[dt.date]:
    return {
        first + dt.timedelta(days=n)
        for first, last in rolled.missing.get(site_id, [])
        for n in range((last - first).days + 1)
    }


def day_row(day: dt.date) -> VisitFacts | None:
    row = ReportDay.objects.filter(day=day).first()
    return VisitFacts.from_json(row.visits) if row else None


@pytest.fixture
def world():
    built = build_world()
    # 2 March (the first visit) to 14 March: the 15th ended less than 30 hours ago.
    assert roll_due().days == 13
    return built


def scope(**kwargs) -> ReportScope:
    return ReportScope(start=START, end=END, **kwargs)


def test_a_rolled_up_day_holds_what_the_live_count_gives(world):
    # 11 March: visit 7, an hour in room A, booked 9 days ahead, never recorded.
    eleventh = day_row(dt.date(2026, 3, 11))
    assert eleventh == VisitFacts(
        planned=1, unrecorded=1, lead={9: 1}, held={world.room_a.pk: 3600}
    )
    # A day without visits has its row too: it is known to be empty.
    assert day_row(dt.date(2026, 3, 7)) == VisitFacts()
    assert ReportDay.objects.get(day=dt.date(2026, 3, 13)).turnaround == sorted(
        [
            [world.flow.pk, "2026-03-10", 1],
            [world.cytogenetics.pk, "2026-03-02", 1],
        ]
    )
    agrees(scope())


def test_running_it_again_counts_nothing_twice(world):
    rows = ReportDay.objects.count()
    assert roll_due().days == 0
    assert ReportDay.objects.count() == rows


def test_a_late_no_show_on_a_rolled_up_day_is_counted(world):
    """Visit 7 (11 March) was never recorded; marked a no-show days later."""
    visits.appointment_no_show(appointment_id=world.visits[7].pk, by=None)

    assert day_row(dt.date(2026, 3, 11)) is None  # forgotten: counted live
    counted = agrees(scope())
    assert counted["no_shows"][1] == (dt.date(2026, 3, 9), 1, 2, 0)
    roll_due()  # and rolled up again
    assert day_row(dt.date(2026, 3, 11)).no_shows == 1
    assert agrees(scope()) == counted


def test_a_visit_moved_off_a_rolled_up_day_leaves_it(world):
    moved = world.visits[7]
    moved.start_at = clinic_datetime(dt.date(2026, 3, 20), dt.time(9))
    moved.end_at = moved.start_at + dt.timedelta(hours=1)
    moved.save()

    counted = agrees(scope())
    assert counted["no_shows"][1] == (dt.date(2026, 3, 9), 0, 2, 0)
    roll_due()
    assert day_row(dt.date(2026, 3, 11)) == VisitFacts()


def test_a_corrected_collection_time_moves_the_turnaround(world):
    order = TestOrder.objects.get(appointment=world.visits[6], test_type=world.flow)
    order.collected_at = clinic_datetime(dt.date(2026, 3, 12), dt.time(9))
    order.save()

    [_, flow] = agrees(scope())["turnaround"]
    assert flow.count == 3 and flow.median == 1  # 2, 1 and now 1 working day


def test_a_deleted_visit_and_its_results_leave_their_days(world):
    TestOrder.objects.filter(appointment=world.visits[6]).delete()
    world.visits[6].delete()

    counted = agrees(scope())
    assert counted["cancellations"][0] == 7
    assert [(r.test_type, r.count) for r in counted["turnaround"]] == [
        ("Cytogenetics", 1),
        ("Flow cytometry", 2),
    ]


def test_a_room_moved_to_another_site_takes_both_sites_days_out(world):
    home = world.room_a.site
    north = factories.SiteFactory(code="north")
    world.room_b.site = north  # as the admin does: the room, then what it holds
    world.room_b.save()
    Appointment.objects.filter(room=world.room_b).update(site=north)
    TestOrder.objects.filter(appointment__room=world.room_b).update(site=north)

    assert not ReportDay.objects.filter(site__in=[home, north]).exists()
    agrees(scope(site_id=north.pk, rooms=Room.objects.filter(site=north)))
    agrees(scope(site_id=home.pk, rooms=Room.objects.filter(site=home)))
    roll_due()
    assert agrees(scope(site_id=north.pk, rooms=Room.objects.filter(site=north)))["rooms"] == [
        ("Room B", 480, 180)
    ]


def test_a_site_in_another_zone_is_counted_in_its_own(world):
    """New York's days are rolled up in New York time: its own report reads them, the
    network's (in London time, on "All sites") counts them live."""
    east = factories.SiteFactory(code="east", time_zone="America/New_York")
    room = factories.RoomFactory(name="East room", site=east)
    with timezone.override(east.tz):
        # 21:30 in New York on 10 March is 01:30 on the 11th in London.
        late = factories.AppointmentFactory(
            room=room,
            start_at=clinic_datetime(dt.date(2026, 3, 10), dt.time(21, 30)),
            end_at=clinic_datetime(dt.date(2026, 3, 10), dt.time(22, 30)),
            status=Status.COMPLETED,
        )
    assert late.site == east
    roll_due()
    row = ReportDay.objects.get(site=east, day=dt.date(2026, 3, 10))
    assert (row.time_zone, row.visits["planned"]) == ("America/New_York", 1)

    with timezone.override(east.tz):
        own = scope(site_id=east.pk, rooms=Room.objects.filter(site=east))
        assert dt.date(2026, 3, 10) not in missing_days(own.rolled, east.pk)
        assert agrees(own)["no_shows"] == [(dt.date(2026, 3, 9), 0, 1, 0)]
    network = scope()
    assert network.rolled.missing[east.pk] == [(START, END)]
    assert agrees(network)["no_shows"][1][2] == 3  # two at home, one in New York


def test_a_site_given_another_zone_is_counted_again_in_it(world):
    site = world.room_a.site
    site.time_zone = "America/New_York"
    site.save()
    with timezone.override(site.tz):
        own = scope(site_id=site.pk, rooms=Room.objects.filter(site=site))
        assert own.rolled.rows == []  # London's days do not answer for New York's
        agrees(own)
    roll_due()
    # Counted again in New York time, up to its last day over (13 March there); the
    # 14th's London row stays, right for a page in London time.
    zones = dict(ReportDay.objects.filter(site=site).values_list("day", "time_zone"))
    assert {zones[START + dt.timedelta(days=n)] for n in range(12)} == {"America/New_York"}
    with timezone.override(site.tz):
        agrees(scope(site_id=site.pk, rooms=Room.objects.filter(site=site)))


def test_the_turnaround_page_reads_the_roll_up(world):
    """It reads the rolled-up days from their rows: a bulk write that skips `save()`
    (which is why such a write must call `forget_sites`) is not seen until then."""
    TestOrder.objects.filter(test_type=world.flow).exclude(appointment=world.visits[1]).update(
        test_type=world.cytogenetics
    )
    with CaptureQueriesContext(connection) as read:
        rows = turnaround_by_test(start=START, end=END)
    assert [(r.test_type, r.count) for r in rows] == [("Cytogenetics", 1), ("Flow cytometry", 3)]
    # Rolled-up days, the sites, the last day's results live, the tests' names, the
    # holidays.
    assert len(read) == 5
    forget_sites([world.room_a.site_id])
    assert [(r.test_type, r.count) for r in turnaround_by_test(start=START, end=END)] == [
        ("Cytogenetics", 3),
        ("Flow cytometry", 1),
    ]


def test_the_days_ordinary_work_never_touches_the_roll_up(world, clock):
    """A visit completed hours after it started, a result logged now: no query on the
    roll-up. A visit recorded two days late forgets its day (and that is two queries)."""
    clock.move_to("2026-03-16T17:00:00+00:00")
    today = factories.AppointmentFactory(
        room=world.room_a,
        start_at=clinic_datetime(dt.date(2026, 3, 16), dt.time(9)),
        end_at=clinic_datetime(dt.date(2026, 3, 16), dt.time(10)),
    )
    order = factories.TestOrderFactory(appointment=world.visits[9], test_type=world.flow)
    with CaptureQueriesContext(connection) as work:
        today.status = Status.COMPLETED
        today.save()
        order.final_at = timezone.now()
        order.status = TestOrder.Status.FINAL
        order.save()
    assert not [q for q in work if "reportday" in q["sql"] or "procedures_site" in q["sql"]]

    late = world.visits[7]  # 11 March
    with CaptureQueriesContext(connection) as recorded:
        late.status = Status.COMPLETED
        late.save()
    assert len([q for q in recorded if "reportday" in q["sql"]]) == 1
    assert day_row(dt.date(2026, 3, 11)) is None


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_roller_waits_for_a_change_to_a_past_day(postgres, world):
    """A late recording and the hourly roll-up at once: the roller waits for the
    change's transaction, so the day it writes holds the change (without the lock it
    would read the day before the change committed, after the change forgot the day)."""
    eleventh = dt.date(2026, 3, 11)
    ReportDay.objects.filter(day=eleventh).delete()  # not rolled up yet
    recorded, release, errors = threading.Event(), threading.Event(), []

    def record_late():
        try:
            with transaction.atomic():
                visit = Appointment.objects.get(pk=world.visits[7].pk)
                visit.status = Status.NO_SHOW
                visit.save()  # forgets 11 March, holding the site's lock
                recorded.set()
                assert release.wait(timeout=30)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def roll():
        try:
            roll_due()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    changer = threading.Thread(target=record_late)
    changer.start()
    assert recorded.wait(timeout=30)
    roller = threading.Thread(target=roll)
    roller.start()

    def roller_waits() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    wait_until(roller_waits, timeout=30, what="the roller to wait for the change's lock")
    release.set()
    changer.join(timeout=30)
    roller.join(timeout=30)

    assert errors == []
    assert day_row(eleventh).no_shows == 1
    agrees(scope())


def test_the_command_rolls_up_with_progress_and_again_from_scratch(world, capsys):
    call_command("reports_roll")
    assert "Rolled up 0 day(s) at 0 site(s)." in capsys.readouterr().out
    call_command("reports_roll", "--again")
    out = capsys.readouterr().out
    assert "Forgot 13 rolled-up day(s)." in out
    assert ": rolled up 2026-03-02 to 2026-03-14" in out
    assert "Rolled up 13 day(s) at 1 site(s)." in out
    agrees(scope())


def test_the_beat_runs_it_every_hour(settings):
    from procedures.reports.jobs import roll_up_report_days

    entry = settings.CELERY_BEAT_SCHEDULE["roll-up-report-days"]
    assert entry["task"] == roll_up_report_days.name
    assert entry["schedule"] == 3600


def test_a_run_out_of_time_keeps_what_it_did_and_the_next_goes_on(world):
    forget_sites([world.room_a.site_id])
    stopped = roll_due(budget_seconds=0)
    assert (stopped.days, stopped.finished) == (0, False)
    assert roll_due().days == 13


def test_the_task_reports_what_it_did(world):
    from procedures.reports.jobs import roll_up_report_days

    forget_sites([world.room_a.site_id])
    assert roll_up_report_days() == {"sites": 1, "days": 13, "finished": True}
    assert roll_up_report_days() == {"sites": 0, "days": 0, "finished": True}


@pytest.mark.clock("2026-04-06T09:00:00+00:00")
def test_days_across_the_clock_change_are_counted_as_live():
    """29 March 2026 is 23 hours long in London: visits just after midnight and just
    before it on the days around it fall on the same days rolled up as counted live."""
    room = factories.RoomFactory(name="Room DST")
    for day, hour, minute in (
        (dt.date(2026, 3, 28), 23, 30),
        (dt.date(2026, 3, 29), 0, 30),
        (dt.date(2026, 3, 29), 23, 30),
        (dt.date(2026, 3, 30), 0, 15),
    ):
        start = clinic_datetime(day, dt.time(hour, minute))
        factories.AppointmentFactory(
            room=room,
            start_at=start,
            end_at=start + dt.timedelta(minutes=30),
            status=Status.COMPLETED,
        )
    assert roll_due().days == 8  # 28 March (the first visit) to 4 April
    assert [day_row(dt.date(2026, 3, d)).arrived for d in (28, 29, 30)] == [1, 2, 1]
    counted = agrees(ReportScope(start=dt.date(2026, 3, 23), end=dt.date(2026, 4, 5)))
    assert counted["no_shows"] == [
        (dt.date(2026, 3, 23), 0, 3, 0),
        (dt.date(2026, 3, 30), 0, 1, 0),
    ]


def test_the_check_finds_a_day_a_bulk_write_left_wrong_and_counts_it_again(world, capsys):
    call_command("reports_roll", "--check")
    assert "Checked 13 rolled-up day(s): 0 differed." in capsys.readouterr().out

    # A bulk UPDATE skips save(): the day's row still says "not recorded".
    Appointment.objects.filter(pk=world.visits[7].pk).update(status=Status.NO_SHOW)
    with pytest.raises(CommandError, match="1 rolled-up day"):
        call_command("reports_roll", "--check")
    out = capsys.readouterr().out
    assert f"{world.room_a.site.code}: 2026-03-11 differed from a live count" in out
    assert "Rolled up 1 day(s) at 1 site(s)." in out
    assert day_row(dt.date(2026, 3, 11)).no_shows == 1
    agrees(scope())


def test_the_command_refuses_a_look_back_of_no_days(world):
    with pytest.raises(CommandError, match="--days must be 1 or more"):
        call_command("reports_roll", "--check", "--days", "0")
