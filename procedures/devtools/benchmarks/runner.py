"""Measure the front desk's pages at a base scale and at 10 times it (patients, and
the daily volume), side by side with their floor and their goal, in one run.

For each point (patients x daily volume): `seed_scale` the data, then for each scenario
warm the page up, time `requests` requests through Django's test client (server time:
no network, no browser), count its queries with CaptureQueriesContext, and measure the
floor in the same run: a bare page through the same client and middleware, plus the
page's own SQL (less the session and user queries the bare page already paid) replayed
raw through a psycopg connection of its own (in a transaction rolled back). The first
answer that is not the page meant (a status, an error page, a redirect to HTTPS)
stops the run with BenchmarkError.
"""

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.http import HttpResponse
from django.template import Context, Engine
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from clinic import roles
from patients.models import Patient
from procedures.catalog.resources import Room
from procedures.catalog.sites import ALL_SITES, SESSION_KEY
from procedures.devtools import scale
from procedures.devtools.benchmarks.report import Measure, summarise
from procedures.devtools.benchmarks.scenarios import (
    BenchmarkError,
    Request,
    _Context,
    scenarios,
)
from procedures.devtools.scale_sites import scale_sites


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _raw_connection():
    """A psycopg connection of its own (PostgreSQL), or None elsewhere, or inside a
    transaction (a test's: a second connection would wait for its uncommitted rows)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("server_side_binding", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params)


def _replay(raw, statements: list[str], repeat: int) -> float:
    """p50 seconds to run the page's SQL raw, in a transaction rolled back each time."""
    if raw is None:
        # SQLite or a test: replay on Django's own connection, also rolled back.
        from django.db import transaction

        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    if connection.vendor == "postgresql":
                        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                    for sql in statements:
                        if sql.strip().upper() not in ("BEGIN", "COMMIT", "ROLLBACK"):
                            cursor.execute(sql)
                    raise _Rollback
            except _Rollback:
                pass
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)
    writes = any(sql.lstrip().upper().startswith(WRITES) for sql in statements)
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        with raw.cursor() as cursor:
            # A write's later statements name the id its INSERT got when the page ran:
            # foreign keys are checked at commit, and there is no commit.
            cursor.execute(b"SET CONSTRAINTS ALL DEFERRED")
            for sql in statements:
                if sql.strip().upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                    continue  # the replay is one transaction, rolled back
                cursor.execute(sql.encode())
                if cursor.description:
                    cursor.fetchall()
        raw.rollback()
        if writes:
            # The page's write ends in a COMMIT that flushes the WAL to disk; the
            # rolled-back replay paid none of that. A transaction holding a
            # transaction id commits with the same flush and keeps no replayed row.
            with raw.cursor() as cursor:
                cursor.execute(b"SELECT txid_current()")
            raw.commit()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


WRITES = ("INSERT", "UPDATE", "DELETE")


class _Rollback(Exception):
    pass


def _fire(client: Client, req: Request) -> tuple[float, Any]:
    """One request, over HTTPS as in production (so the redirect to HTTPS, the secure
    cookies and HSTS are the production ones)."""
    started = time.perf_counter()
    send = client.get if req.method == "get" else client.post
    headers = {"HX-Request": "true"} if req.htmx else {}
    response = send(req.url, req.data or {}, secure=True, headers=headers)
    elapsed = time.perf_counter() - started
    return elapsed, response


def _check(name: str, req: Request, response: HttpResponse) -> None:
    """Raise BenchmarkError unless the answer is the page meant: its status, the page
    (not a login page, an error page or a redirect elsewhere)."""
    status = response.status_code
    location = response.get("Location", "")
    where = f"{name}: {req.method.upper()} {req.url}"
    if location.startswith("https://") or location.startswith("http://"):
        raise BenchmarkError(
            f"{where} redirected to {location} (an absolute redirect: HTTPS or host "
            "settings are wrong for this run)"
        )
    if status != req.expect:
        raise BenchmarkError(
            f"{where} answered {status}, expected {req.expect}"
            + (f" (redirect to {location})" if location else "")
        )
    if req.expect in (301, 302):
        if req.expect_text and not location.startswith(req.expect_text):
            raise BenchmarkError(f"{where} redirected to {location}, not {req.expect_text}…")
    elif req.expect_text and req.expect_text.encode() not in response.content:
        raise BenchmarkError(
            f"{where} answered {status} but not with the page expected "
            f"(no {req.expect_text!r} in it)"
        )


def _without(statements: list[str], paid: list[str]) -> list[str]:
    """`statements` less those the bare page also ran (session, user, groups: the
    request's plumbing, already in the floor), each once."""
    left = list(paid)
    kept = []
    for sql in statements:
        if sql in left:
            left.remove(sql)
        else:
            kept.append(sql)
    return kept


def _captured(client: Client, req: Request) -> tuple[list[str], Any]:
    """The page's SQL on every database alias (the operations dashboard reads through
    the reports alias, the same database here) and its answer."""
    with ExitStack() as stack:
        captured = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in settings.DATABASES
        ]
        _elapsed, response = _fire(client, req)
    return [q["sql"] for c in captured for q in c.captured_queries], response


def load_average() -> list[float]:
    """The machine's 1, 5 and 15 minute load averages (it is shared: read the figures
    beside them)."""
    return [round(x, 2) for x in os.getloadavg()]


# The calibration: a table of 500 rows, each with a link, a date and a filter, as
# a page's Python-bound part is (the template engine, no database).
_CALIBRATION = (
    '<table>{% for row in rows %}<tr><td><a href="/r/{{ row.pk }}/">{{ row.name|title }}'
    "</a></td><td>{{ row.day|date:'D j M Y' }}</td><td>{% if row.pk|divisibleby:3 %}"
    "three{% else %}{{ row.pk }}{% endif %}</td></tr>{% endfor %}</table>"
)


def calibration_ms(repeats: int = 9) -> float:
    """The machine's speed at what most of a page's time is here (Python, Django's
    template engine), independent of the data: the median milliseconds of rendering a
    fixed table of 500 rows. Two runs' page times compare only as far as their
    calibrations do (machines running this benchmark have differed by three times)."""
    from datetime import date

    template = Engine().from_string(_CALIBRATION)
    rows = [
        {"pk": i, "name": f"row number {i}", "day": date(2026, 1, 1 + i % 28)} for i in range(500)
    ]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        template.render(Context({"rows": rows}))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def site_clients(plan: scale.ScalePlan) -> tuple[_Context, dict[tuple[str, bool], Client]]:
    """The scenarios' context and a logged-in client per (role, all sites): each
    session at the logins' home site (the first), as a login leaves it, so every page
    shows one site's day; a second physician's at "All sites" (the network view).
    The sites are made again first, for data seeded before there were sites."""
    users = scale.scale_users()
    sites = scale_sites(
        groups=plan.groups,
        room_prefix=scale.ROOM_PREFIX,
        provider_prefix=scale.PROVIDER_PREFIX,
        users=list(users.values()),
    )
    clients: dict[tuple[str, bool], Client] = {}
    for role, all_sites in (
        (roles.FRONT_DESK, False),
        (roles.NURSE, False),
        (roles.PHYSICIAN, False),
        (roles.PHYSICIAN, True),
    ):
        client = Client()
        client.force_login(users[role])
        session = client.session
        session[SESSION_KEY] = ALL_SITES if all_sites else sites[0].pk
        session.save()
        clients[role, all_sites] = client
    return _Context(plan, sites[0]), clients


class PagesAt:
    """The pages at one point (the data of `plan` in this process's database), measured
    in steps so that two points can take turns (`interleave`): `prepare` a page (warm it
    up, count its queries, keep its SQL), `sample` it any number of times (the page, then
    the bare page as often), `finish` it (replay its SQL for the floor: a Measure over
    every sample taken). Each step stops at the first wrong answer (BenchmarkError)."""

    def __init__(self, *, plan: scale.ScalePlan, factor: int, only: set[str] | None = None):
        self.plan, self.factor = plan, factor
        ctx, self.clients = site_clients(plan)
        self.scenarios = {s.name: s for s in scenarios(ctx) if not only or s.name in only}
        self.raw = _raw_connection()
        self.bare_req = Request("get", reverse("benchmark_bare"), expect_text="ok")
        # The bare page's own queries (session, user, groups), per role: the fewest of
        # three, as for the pages.
        self.bare_sql: dict[tuple[str, bool], list[str]] = {}
        for key, client in self.clients.items():
            runs = []
            for _ in range(3):
                sql, response = _captured(client, self.bare_req)
                _check("bare page", self.bare_req, response)
                runs.append(sql)
            self.bare_sql[key] = min(runs, key=len)
        self._counter: dict[str, int] = {}
        self._statements: dict[str, list[str]] = {}
        self._samples: dict[str, tuple[list[float], list[float]]] = {}

    def _client(self, name: str) -> Client:
        scenario = self.scenarios[name]
        return self.clients[scenario.role, scenario.all_sites]

    def _next(self, name: str) -> Request:
        counter = self._counter.get(name, 0)
        self._counter[name] = counter + 1
        return self.scenarios[name].make(counter)

    def _once(self, name: str) -> float:
        scenario = self.scenarios[name]
        req = self._next(name)
        elapsed, response = _fire(self._client(name), req)
        if scenario.after:
            scenario.after()
        _check(name, req, response)
        return elapsed

    def prepare(self, name: str) -> int:
        """Warm the page up (templates compiled, caches and plans filled) and keep its
        SQL; returns its query count."""
        scenario = self.scenarios[name]
        for _ in range(3):
            self._once(name)
        # Query count and the SQL to replay: the fewest of three requests, since the
        # session's "last seen" is written at most once a minute (3 queries more on
        # whichever request does it), which is not the page's work.
        statements: list[str] | None = None
        for _ in range(3):
            req = self._next(name)
            sql, response = _captured(self._client(name), req)
            if scenario.after:
                scenario.after()
            _check(name, req, response)
            if statements is None or len(sql) < len(statements):
                statements = sql
        if statements is None:  # never: three requests ran
            raise RuntimeError(name)
        self._statements[name] = statements
        self._samples[name] = ([], [])
        return len(statements)

    def sample(self, name: str, n: int) -> None:
        """Time the page `n` times, then the bare page `n` times, with the same client."""
        pages, bares = self._samples[name]
        pages += [self._once(name) for _ in range(n)]
        bares += [_fire(self._client(name), self.bare_req)[0] for _ in range(n)]

    def finish(self, name: str) -> Measure:
        """The page's Measure over every sample taken, beside its floor: the bare page
        plus the page's own SQL (less what the bare page ran) replayed raw."""
        scenario = self.scenarios[name]
        pages, bares = self._samples[name]
        statements = self._statements[name]
        p50, p95 = _ms(pages)
        bare_p50, _x = _ms(bares)
        own = _without(statements, self.bare_sql[scenario.role, scenario.all_sites])
        sql_p50 = _replay(self.raw, own, max(3, len(pages) // 3)) * 1000
        return Measure(
            scenario=name,
            scale=self.factor,
            volume=self.plan.volume,
            patients=self.plan.patients,
            queries=len(statements),
            p50_ms=p50,
            p95_ms=p95,
            bare_p50_ms=bare_p50,
            sql_p50_ms=sql_p50,
            floor_ms=bare_p50 + sql_p50,
            replayed=len(own),
            goal_ms=scenario.goal_ms,
        )

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()


def log_measure(measure: Measure, log: Callable[[str], None]) -> None:
    log(
        f"  {measure.scenario:<30} {measure.queries:>3} q  p50 {measure.p50_ms:7.1f} ms  "
        f"p95 {measure.p95_ms:7.1f} ms  floor {measure.floor_ms:6.1f} ms"
        + (f"  goal {measure.goal_ms:g} ms" if measure.goal_ms else "")
    )


def measure_scale(
    *,
    plan: scale.ScalePlan,
    factor: int,
    requests: int,
    only: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[Measure]:
    """Every scenario on the data of `plan`, one after the other; stops at the first
    wrong answer (BenchmarkError)."""
    pages = PagesAt(plan=plan, factor=factor, only=only)
    results = []
    try:
        for name in pages.scenarios:
            pages.prepare(name)
            pages.sample(name, requests)
            measure = pages.finish(name)
            log_measure(measure, log)
            results.append(measure)
    finally:
        pages.close()
    return results


@dataclass(frozen=True)
class Point:
    """One dataset measured: `scale` times the base patients, `volume` times the daily
    work (providers, rooms, visits a day)."""

    scale: int
    volume: int


def points(scales: list[int], volumes: list[int], *, diagonal: bool) -> list[Point]:
    """Each scale with each volume, or (diagonal) the i-th scale with the i-th volume."""
    if diagonal:
        if len(scales) != len(volumes):
            raise ValueError("--diagonal pairs the scales with as many volumes")
        return [Point(s, v) for s, v in zip(scales, volumes, strict=True)]
    return [Point(s, v) for s in scales for v in volumes]


@contextmanager
def measuring() -> Iterator[None]:
    """The settings the pages are measured under: the benchmark's URLs (its bare page
    beside the product's), production's DEBUG off, no second factor to enter; and
    bookings wake the dispatcher with a message to nowhere, not to a real worker."""
    from clinic.celery import app as celery_app

    broker_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://"
    try:
        with override_settings(
            ROOT_URLCONF="procedures.devtools.benchmarks.urls",
            DEBUG=False,
            ALLOWED_HOSTS=["testserver"],
            CLINIC_OTP_REQUIRED_ROLES=[],
        ):
            yield
    finally:
        celery_app.conf.broker_url = broker_url


def point_plan(point: "Point", base_patients: int, providers: int, rooms: int) -> scale.ScalePlan:
    return scale.ScalePlan(
        patients=base_patients * point.scale,
        providers=providers,
        rooms=rooms,
        volume=point.volume,
    )


def run(
    *,
    base_patients: int,
    scales: list[int],
    requests: int,
    volumes: tuple[int, ...] | list[int] = (1,),
    diagonal: bool = False,
    reuse: bool = False,
    providers: int = 50,
    rooms: int = 30,
    only: set[str] | None = None,
    dispatch_count: int | None = 10_000,
    log: Callable[[str], None] = print,
) -> dict:
    """The whole benchmark; returns the JSON-able result with the goals checked.
    Raises BenchmarkError at the first page that does not answer as it should."""
    measures: list[Measure] = []
    seeds: list[dict] = []
    todo = points(sorted(scales), sorted(volumes), diagonal=diagonal)
    load_before = load_average()
    calibration_before = calibration_ms()
    with measuring():
        for point in _order(todo, base_patients, providers, rooms, reuse):
            plan = point_plan(point, base_patients, providers, rooms)
            seeds.append(seed_point(plan, point, reuse=reuse, log=log))
            measures += measure_scale(
                plan=plan, factor=point.scale, requests=requests, only=only, log=log
            )
    dispatch = None
    if dispatch_count:
        dispatch = run_dispatch(dispatch_count, log=log)
    return summarise(
        measures,
        seeds,
        dispatch,
        points=[(p.scale, p.volume) for p in todo],
        requests=requests,
        load_average={"start": load_before, "end": load_average()},
        calibration_ms={"start": calibration_before, "end": calibration_ms()},
    )


def _seeded(providers: int, rooms: int) -> tuple[int, int]:
    """(patients, rooms) of the scale data already in the database."""
    return (
        Patient.objects.filter(mrn__startswith=scale.MRN_PREFIX).count(),
        Room.objects.filter(name__startswith=scale.ROOM_PREFIX).count(),
    )


def holds_point(point: Point, base_patients: int, providers: int, rooms: int) -> bool:
    """Whether this database holds the scale data of `point` (its patients and rooms)."""
    plan = point_plan(point, base_patients, providers, rooms)
    return _seeded(providers, rooms) == (plan.patients, plan.rooms)


def _order(todo: list[Point], base_patients, providers, rooms, reuse: bool) -> list[Point]:
    """With `reuse`, the point whose data is already seeded goes first (kept, not
    seeded again: a 200,000-patient seed takes minutes)."""
    if not reuse:
        return todo
    first = [p for p in todo if holds_point(p, base_patients, providers, rooms)]
    return first[:1] + [p for p in todo if p not in first[:1]]


def _vacuum_if_no_autovacuum() -> bool:
    """VACUUM the database kept from an earlier run when its server runs without
    autovacuum (this machine's PostgreSQL: `autovacuum = off`), as autovacuum would in
    a live database. Each run leaves dead rows behind (its sessions, the booking it
    makes and cancels, its audit rows; and until `scale_sites` stopped rewriting them,
    4,500 dead physician-site rows after ten runs, under every calendar's "works at"
    filter). No ANALYZE: the statistics, and so the plans, stay those of the seed."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        if cursor.fetchone()[0] == "on":
            return False
        cursor.execute("VACUUM")
    return True


def seed_point(plan: scale.ScalePlan, point: Point, *, reuse: bool, log) -> dict:
    label = f"{plan.patients:,} patients ({point.scale}x), volume {point.volume}x"
    if reuse and _seeded(plan.providers, plan.rooms) == (plan.patients, plan.rooms):
        log(f"Measuring the data already seeded: {label}...")
        return {
            "scale": point.scale,
            "volume": point.volume,
            "patients": plan.patients,
            "reused": True,
            "vacuumed": _vacuum_if_no_autovacuum(),
            "load_average": load_average(),
        }
    log(f"Seeding {label}...")
    started = time.monotonic()
    scale.scale_clear()
    report = scale.scale_seed(plan, progress=lambda table, total: lambda n: None)
    seconds = time.monotonic() - started
    log(f"  seeded {sum(report.counts.values()):,} rows in {seconds:.0f} s")
    return {
        "scale": point.scale,
        "volume": point.volume,
        "patients": plan.patients,
        "visits_a_day": round(plan.rooms * scale.SLOTS_PER_DAY * scale.FILL),
        "seconds": round(seconds, 1),
        "rows": report.counts,
        "working_days": report.working_days,
        "load_average": load_average(),
    }


def run_dispatch(count: int, *, log: Callable[[str], None] = print) -> dict:
    """`benchmark_dispatch` (a morning batch drained by one worker process, then two),
    in a process of its own."""
    import resource
    import subprocess
    import sys
    import tempfile

    log(f"Dispatching {count:,} due reminders with one worker process, then two...")
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
            [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "benchmark_dispatch",
                f"--emails={count}",
                f"--json={out.name}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        with open(out.name) as handle:
            result = json.load(handle)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result
