"""The reports' daily roll-up: a site's day counted once, when it is over (issue 18).

The operations dashboard and the turnaround page aggregate a period's visits and
results. Counted live, a network's quarter is ten times the rows at ten times the
volume. So each site's day, once it is over, is counted once into a `ReportDay` row
(`days_roll`, hourly from the beat and `manage.py reports_roll`), and a report reads
those rows for the days they cover and counts the rest live (today, days not rolled
up yet, days forgotten since): `scope_visit_facts`, `scope_turnaround_pairs`.

The two paths share one arithmetic: a day's row holds exactly what the live count
of that day returns (`visit_facts_by_day`, `turnaround_pairs`), so a report reads the
same with or without the roll-up (docs/invariants.md, 24). That stays true because
every change to a day already rolled up deletes its row:

- a visit or an order saved with a change to what is counted (`tracked_fields`),
  created or deleted, on a day that may have been rolled up (`forget_around`);
- a room moved to another site (both sites' rows);
- a site given another time zone: its rows say the zone they were counted in, and a
  page in another zone (the network's, on "All sites") counts live.

A day is rolled up only once it ended `SETTLE` (30 hours) ago, so a change within
`SETTLE` of the moment it is about (a visit completed the evening after it started, a
result logged now) cannot reach a rolled-up day: the clinic's ordinary work never
touches the roll-up, and a change to an older day costs two queries. The roller and a change
to a past day take the same lock (the site's row), so neither writes over the other.
Bulk writes that skip `save()` (a data migration, the dev tools' seeding) must call
`forget_sites` themselves.

Not rolled up: a report narrowed to one procedure (counted live, from fewer rows).
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from operator import or_
from time import monotonic as time_now
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Model, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from clinic.loaded import LoadedValues
from procedures.catalog.clock import clinic_datetime, clinic_tz
from procedures.catalog.resources import Room
from procedures.catalog.sites import Site
from procedures.reports.models import ReportDay
from procedures.results.analytics import TurnaroundPair, turnaround_pairs
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment

Status = Appointment.Status
ARRIVED = (Status.CHECKED_IN, Status.IN_PROCEDURE, Status.COMPLETED)
UNRECORDED = (Status.REQUESTED, Status.SCHEDULED, Status.CONFIRMED)

#: A day is rolled up once it ended this long ago. A day ends at most 24 hours after
#: any moment in it, so a change within this long of the moment it is about (a visit's
#: start, a result's first final) cannot reach a rolled-up day, in any zone.
SETTLE = timedelta(hours=30)
#: Days are rolled up in runs of at most this many (one set of queries each).
CHUNK_DAYS = 31


# --- One day's figures -------------------------------------------------------------------


@dataclass
class VisitFacts:
    """A clinic day's visits as the dashboard counts them (metrics.py defines each)."""

    planned: int = 0  # every status
    no_shows: int = 0
    arrived: int = 0
    unrecorded: int = 0  # still scheduled (or requested, confirmed) after their start
    cancelled: Counter[str] = field(default_factory=Counter)  # reason code -> visits
    lead: Counter[int] = field(default_factory=Counter)  # days booked ahead -> visits
    held: Counter[int] = field(default_factory=Counter)  # room id -> seconds held

    def add(self, other: "VisitFacts") -> None:
        self.planned += other.planned
        self.no_shows += other.no_shows
        self.arrived += other.arrived
        self.unrecorded += other.unrecorded
        self.cancelled.update(other.cancelled)
        self.lead.update(other.lead)
        self.held.update(other.held)

    def as_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "no_shows": self.no_shows,
            "arrived": self.arrived,
            "unrecorded": self.unrecorded,
            "cancelled": dict(self.cancelled),
            "lead": {str(days): n for days, n in self.lead.items()},
            "held": {str(room): seconds for room, seconds in self.held.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "VisitFacts":
        return cls(
            planned=data["planned"],
            no_shows=data["no_shows"],
            arrived=data["arrived"],
            unrecorded=data["unrecorded"],
            cancelled=Counter(data["cancelled"]),
            lead=Counter({int(days): n for days, n in data["lead"].items()}),
            held=Counter({int(room): seconds for room, seconds in data["held"].items()}),
        )


def visit_facts_by_day(
    visits: QuerySet[Appointment], *, now: datetime | None = None
) -> dict[date, VisitFacts]:
    """`visits` counted per clinic day of their start (the current zone), in three
    grouped queries: statuses and cancellation reasons, days booked ahead, time held."""
    now = now or timezone.now()
    tz = clinic_tz()
    on_day = visits.annotate(day=TruncDate("start_at", tzinfo=tz))
    facts: dict[date, VisitFacts] = defaultdict(VisitFacts)
    for row in (
        on_day.values("day", "cancel_reason_code")
        .annotate(
            planned=Count("pk"),
            no_shows=Count("pk", filter=Q(status=Status.NO_SHOW)),
            arrived=Count("pk", filter=Q(status__in=ARRIVED)),
            unrecorded=Count("pk", filter=Q(status__in=UNRECORDED, start_at__lt=now)),
            cancelled=Count("pk", filter=Q(status=Status.CANCELLED)),
        )
        .order_by()
    ):
        day = facts[row["day"]]
        day.planned += row["planned"]
        day.no_shows += row["no_shows"]
        day.arrived += row["arrived"]
        day.unrecorded += row["unrecorded"]
        if row["cancelled"]:
            day.cancelled[row["cancel_reason_code"]] += row["cancelled"]
    # Days from booking to procedure: calendar days in clinic time, from the first
    # booking (a moved visit keeps its `created_at`), cancelled visits left out.
    for row in (
        on_day.exclude(status=Status.CANCELLED)
        .annotate(booked_on=TruncDate("created_at", tzinfo=tz))
        .values("day", "booked_on")
        .annotate(visits=Count("pk"))
        .order_by()
    ):
        facts[row["day"]].lead[max((row["day"] - row["booked_on"]).days, 0)] += row["visits"]
    for row in (
        on_day.exclude(status__in=Appointment.RELEASED_STATUSES)
        .filter(room__isnull=False)
        .values("day", "room")
        .annotate(held=Sum(F("blocked_until") - F("blocked_from")))
        .order_by()
    ):
        if row["held"]:
            facts[row["day"]].held[row["room"]] += round(row["held"].total_seconds())
    return dict(facts)


# --- Reading a period: rows where the day is rolled up, live for the rest -------------


def _day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _within(field_name: str, runs: list[tuple[date, date]]) -> Q:
    """Timestamps `field_name` on the days of `runs` (at least one; the current zone)."""
    return reduce(
        or_,
        (
            Q(
                **{
                    f"{field_name}__gte": clinic_datetime(first, time.min),
                    f"{field_name}__lt": clinic_datetime(last + timedelta(days=1), time.min),
                }
            )
            for first, last in runs
        ),
    )


@dataclass
class RolledPeriod:
    """A period's rolled-up rows counted in the current zone, and the days of each site
    that have none (counted live)."""

    rows: list[dict[str, Any]]
    missing: dict[int, list[tuple[date, date]]]  # site id -> runs of days

    def live(self, timestamp: str) -> Q | None:
        """Rows whose `timestamp` falls on a missing day of their site (None: none)."""
        if not self.missing:
            return None
        return reduce(
            or_,
            (
                Q(site_id=site_id) & _within(timestamp, runs)
                for site_id, runs in self.missing.items()
            ),
        )


def rolled_period(
    *, start: date, end: date, site_id: int | None, columns: tuple[str, ...]
) -> RolledPeriod:
    """The rolled-up rows of days `start` to `end` of site `site_id` (None: every site)
    in the current zone, with `columns` ("visits", "turnaround")."""
    rows = ReportDay.objects.filter(day__gte=start, day__lte=end, time_zone=str(clinic_tz()))
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    found = list(rows.values("site_id", "day", *columns))
    rolled: dict[int, set[date]] = defaultdict(set)
    for row in found:
        rolled[row["site_id"]].add(row["day"])
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    site_ids = [site_id] if site_id is not None else list(Site.objects.values_list("pk", flat=True))
    missing = {}
    for site in site_ids:
        runs = _day_ranges(day for day in days if day not in rolled.get(site, ()))
        if runs:
            missing[site] = runs
    return RolledPeriod(rows=found, missing=missing)


def rollup_applies(*, procedure_type: object, rooms: object, site_id: int | None) -> bool:
    """A report narrowed to a procedure, or to rooms other than a site's, counts live."""
    return procedure_type is None and (rooms is None or site_id is not None)


def scope_visit_facts(
    visits: QuerySet[Appointment], *, rolled: RolledPeriod | None, now: datetime | None = None
) -> dict[date, VisitFacts]:
    """Per clinic day, the facts of `visits` (a period's, of a site or of every site):
    from `rolled` where a day is rolled up, live for the others (None: all live)."""
    if rolled is None:
        return visit_facts_by_day(visits, now=now)
    facts: dict[date, VisitFacts] = defaultdict(VisitFacts)
    for row in rolled.rows:
        facts[row["day"]].add(VisitFacts.from_json(row["visits"]))
    live = rolled.live("start_at")
    if live is not None:
        for day, counted in visit_facts_by_day(visits.filter(live), now=now).items():
            facts[day].add(counted)
    return dict(facts)


def scope_turnaround_pairs(
    orders: QuerySet[TestOrder], *, rolled: RolledPeriod | None
) -> list[TurnaroundPair]:
    """The turnaround pairs of `orders` (results final in a period, of a site or of every
    site): from `rolled` where a day is rolled up, live for the others (None: all live)."""
    if rolled is None:
        return turnaround_pairs(orders)
    counts: Counter[tuple[int, date, date]] = Counter()
    for row in rolled.rows:
        for test_type_id, collected_on, finals in row["turnaround"]:
            counts[test_type_id, date.fromisoformat(collected_on), row["day"]] += finals
    live = rolled.live("final_at")
    if live is not None:
        for pair in turnaround_pairs(orders.filter(live)):
            counts[pair.test_type_id, pair.collected_on, pair.final_on] += pair.finals
    return [TurnaroundPair(*key, finals) for key, finals in counts.items()]


# --- Rolling up ---------------------------------------------------------------------------


def _lock_sites(site_ids: Iterable[int]) -> None:
    """The sites' rows, locked until the transaction ends: the roller and a change to
    a past day of the site wait for each other. FOR NO KEY UPDATE: a new visit or order
    of the site (which only references the row) is not held up."""
    list(
        Site.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(site_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def last_settled_day(site: Site, now: datetime) -> date:
    """The site's last day that ended at least `SETTLE` ago."""
    return (now - SETTLE).astimezone(site.tz).date() - timedelta(days=1)


def _counted(
    site: Site, first: date, last: date, *, now: datetime
) -> tuple[dict[date, VisitFacts], dict[date, list[list[Any]]]]:
    """The site's days `first` to `last`, counted live in its zone: the visits' facts
    and the turnaround pairs by final day, as a `ReportDay` row holds them."""
    with timezone.override(site.tz):
        since = clinic_datetime(first, time.min)
        until = clinic_datetime(last + timedelta(days=1), time.min)
        visits = visit_facts_by_day(
            Appointment.objects.filter(site=site, start_at__gte=since, start_at__lt=until),
            now=now,
        )
        finals: dict[date, list[list[Any]]] = defaultdict(list)
        for pair in turnaround_pairs(
            TestOrder.objects.filter(
                site=site, final_at__gte=since, final_at__lt=until, collected_at__isnull=False
            )
        ):
            finals[pair.final_on].append(
                [pair.test_type_id, pair.collected_on.isoformat(), pair.finals]
            )
    return visits, {day: sorted(pairs) for day, pairs in finals.items()}


def days_roll(site: Site, first: date, last: date, *, now: datetime | None = None) -> int:
    """Count the site's days `first` to `last` (all over, in its zone) into their rows,
    replacing any. Returns how many days."""
    now = now or timezone.now()
    if last > last_settled_day(site, now):
        raise ValueError(f"{last} is not over at {site.code} yet")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    with transaction.atomic():
        _lock_sites([site.pk])
        visits, finals = _counted(site, first, last, now=now)
        ReportDay.objects.filter(site=site, day__gte=first, day__lte=last).delete()
        ReportDay.objects.bulk_create(
            ReportDay(
                site=site,
                day=day,
                time_zone=site.time_zone,
                visits=visits.get(day, VisitFacts()).as_json(),
                turnaround=finals.get(day, []),
                rolled_at=now,
            )
            for day in days
        )
    return len(days)


@dataclass
class RollReport:
    sites: int = 0
    days: int = 0
    finished: bool = True  # False: the time budget ran out; the next run goes on


def _first_day(site: Site, horizon_start: date) -> date | None:
    with timezone.override(site.tz):
        starts = [
            Appointment.objects.filter(site=site).aggregate(first=Min("start_at"))["first"],
            TestOrder.objects.filter(site=site, final_at__isnull=False).aggregate(
                first=Min("final_at")
            )["first"],
        ]
        known = [s.astimezone(site.tz).date() for s in starts if s is not None]
    return max(min(known), horizon_start) if known else None


def roll_due(
    *,
    now: datetime | None = None,
    progress: Callable[[str], None] | None = None,
    budget_seconds: float | None = None,
) -> RollReport:
    """Roll up every site's days that are over and have no row counted in the site's
    current zone, back to `REPORTS_ROLLUP_DAYS` ago (older periods are counted live).
    Cheap when nothing is due: a few queries a site. With `budget_seconds`, no new run
    of days starts after that long (each run is its own transaction, so what is done is
    kept and the next call goes on): the beat's task stays within its time limit on a
    first run over years of history."""
    now = now or timezone.now()
    deadline = None if budget_seconds is None else time_now() + budget_seconds
    report = RollReport()
    for site in Site.objects.order_by("pk"):
        last = last_settled_day(site, now)
        first = _first_day(site, last - timedelta(days=settings.REPORTS_ROLLUP_DAYS - 1))
        if first is None or first > last:
            continue
        done = set(
            ReportDay.objects.filter(
                site=site, day__gte=first, day__lte=last, time_zone=site.time_zone
            ).values_list("day", flat=True)
        )
        missing = [
            first + timedelta(days=n)
            for n in range((last - first).days + 1)
            if first + timedelta(days=n) not in done
        ]
        if not missing:
            continue
        report.sites += 1
        for run_first, run_last in _day_ranges(missing):
            while run_first <= run_last:
                if deadline is not None and time_now() >= deadline:
                    report.finished = False
                    return report
                chunk_last = min(run_first + timedelta(days=CHUNK_DAYS - 1), run_last)
                report.days += days_roll(site, run_first, chunk_last, now=now)
                if progress:
                    progress(f"{site.code}: rolled up {run_first} to {chunk_last}")
                run_first = chunk_last + timedelta(days=1)
    return report


# --- Checking it -------------------------------------------------------------------------


@dataclass
class CheckReport:
    days: int = 0  # rolled-up days compared with a live count
    wrong: list[tuple[str, date]] = field(default_factory=list)  # (site code, day), forgotten


def rolled_check(*, days: int, now: datetime | None = None) -> CheckReport:
    """Count each site's rolled-up days of the last `days` live again and compare; a day
    whose row differs (a bulk write that skipped the models, say) is forgotten, so the
    next run counts it again. The operator's check (`reports_roll --check`)."""
    now = now or timezone.now()
    report = CheckReport()
    for site in Site.objects.order_by("pk"):
        last = last_settled_day(site, now)
        rows = list(
            ReportDay.objects.filter(
                site=site, time_zone=site.time_zone, day__gt=last - timedelta(days=days)
            ).order_by("day")
        )
        if not rows:
            continue
        visits, finals = _counted(site, rows[0].day, rows[-1].day, now=now)
        wrong = [
            row.day
            for row in rows
            if VisitFacts.from_json(row.visits) != visits.get(row.day, VisitFacts())
            or row.turnaround != finals.get(row.day, [])
        ]
        report.days += len(rows)
        if wrong:
            with transaction.atomic():
                _lock_sites([site.pk])
                ReportDay.objects.filter(site=site, day__in=wrong).delete()
            report.wrong += [(site.code, day) for day in wrong]
    return report


# --- Forgetting a day when it changes -------------------------------------------------


def forget_sites(site_ids: Iterable[int | None]) -> int:
    """Every rolled-up day of the sites: counted live until rolled up again."""
    ids = sorted({pk for pk in site_ids if pk is not None})
    if not ids:
        return 0
    with transaction.atomic():
        _lock_sites(ids)
        deleted, _ = ReportDay.objects.filter(site_id__in=ids).delete()
    return deleted


def forget_around(pairs: Iterable[tuple[int | None, datetime | None]], *, now: datetime) -> int:
    """The rolled-up days that may hold each (site, moment): the moment's day in any
    zone (a day either side of its UTC date), when the moment is more than `SETTLE`
    ago (a later one is on a day not rolled up yet)."""
    days: dict[int, set[date]] = defaultdict(set)
    for site_id, moment in pairs:
        if site_id is None or moment is None or moment >= now - SETTLE:
            continue
        utc_day = moment.astimezone(UTC).date()
        days[site_id] |= {utc_day - timedelta(days=1), utc_day, utc_day + timedelta(days=1)}
    if not days:
        return 0
    deleted = 0
    with transaction.atomic():
        _lock_sites(days)
        for site_id, around in days.items():
            deleted += ReportDay.objects.filter(site_id=site_id, day__in=around).delete()[0]
    return deleted


# What places a row on its day: a visit's start, a result's first final.
_MOMENT: dict[type[Model], str] = {Appointment: "start_at", TestOrder: "final_at"}


def _row_saved(sender: type[Model], instance: LoadedValues, created: bool, **kwargs: Any) -> None:
    before, after = instance.loaded_values(), instance.current_values()
    if not created and before == after:
        return
    moment = _MOMENT[sender]
    forget_around(
        [
            (before.get("site_id"), before.get(moment)),
            (after.get("site_id"), after.get(moment)),
        ],
        now=timezone.now(),
    )
    instance.remember_loaded()


def _row_deleted(sender: type[Model], instance: LoadedValues, **kwargs: Any) -> None:
    moment = _MOMENT[sender]
    forget_around(
        [(getattr(instance, "site_id", None), getattr(instance, moment, None))],
        now=timezone.now(),
    )


def _room_saved(sender: type[Model], instance: Room, created: bool, **kwargs: Any) -> None:
    before = instance.loaded_values().get("site_id")
    if not created and before != instance.site_id:
        forget_sites([before, instance.site_id])
    instance.remember_loaded()


def connect() -> None:
    for model in _MOMENT:
        post_save.connect(_row_saved, sender=model, dispatch_uid=f"rollup-save-{model}")
        post_delete.connect(_row_deleted, sender=model, dispatch_uid=f"rollup-delete-{model}")
    post_save.connect(_room_saved, sender=Room, dispatch_uid="rollup-room")
