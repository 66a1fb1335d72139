"""Measure the front desk's pages at a base scale and at 10 times it, side by side with
their floor, in one run.

For each scale: `seed_scale` the data, then for each scenario warm the page up, time
`requests` requests through Django's test client (server time: no network, no
browser), count its queries with CaptureQueriesContext, and measure the floor in the
same run: a bare page through the same client and middleware, plus the page's own SQL
replayed raw through a psycopg connection of its own (in a transaction rolled back).
"""

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta

from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse

from clinic import roles
from patients.models import Patient
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room
from procedures.devtools import scale
from procedures.devtools.benchmarks.report import Measure, summarise
from procedures.scheduling.models import Appointment

GOAL_SCALE_RATIO = 1.3
GOAL_FLOOR_RATIO = 3.0


@dataclass
class Request:
    method: str
    url: str
    data: dict | None = None
    expect: int = 200


@dataclass
class Scenario:
    name: str
    role: str
    # Called before each request with its number: the request to make.
    make: Callable[[int], Request]
    # Called after each request (e.g. to undo a booking so the next one is alike).
    after: Callable[[], None] | None = None


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


class _Context:
    """What the scenarios need to know about the seeded data."""

    def __init__(self, plan: scale.ScalePlan):
        self.plan = plan
        self.today = clinic_today()
        self.procedure = ProcedureType.objects.get(code=f"{scale.CODE_PREFIX}bma")
        self.providers = list(
            Provider.objects.filter(display_name__startswith=scale.PROVIDER_PREFIX).order_by(
                "display_name"
            )
        )
        self.rooms = list(Room.objects.filter(name__startswith=scale.ROOM_PREFIX).order_by("name"))
        self.patients = list(
            Patient.objects.filter(mrn__startswith=scale.MRN_PREFIX)
            .order_by("mrn")
            .values_list("pk", "mrn", "family_name")[:500]
        )
        last_day = plan.days()[-1]
        # Bookings go to a week after the seeded range, so each lands on a free grid.
        day = last_day + timedelta(days=7)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        self.booking_day = day
        self.booked: list[int] = []


def scenarios(ctx: _Context) -> list[Scenario]:
    today = ctx.today.isoformat()
    # The coming week: seeded in full at every scale (the seed reaches 10 working
    # days ahead), whereas this week's past days exist at 1x only as far back as
    # its short history goes - on a weekend, just Wednesday to Friday.
    next_week = (ctx.today + timedelta(days=7)).isoformat()
    patient_id, mrn, _family = ctx.patients[len(ctx.patients) // 2]

    def book(i: int) -> Request:
        n_rooms = len(ctx.rooms)
        slot, lane = i % scale.SLOTS_PER_DAY, (i // scale.SLOTS_PER_DAY) % n_rooms
        start = clinic_datetime(ctx.booking_day, scale.FIRST_SLOT) + timedelta(
            minutes=scale.SLOT_MINUTES * slot
        )
        provider, room = ctx.providers[lane], ctx.rooms[lane]
        patient = ctx.patients[i % len(ctx.patients)][0]
        value = f"{start.astimezone(UTC).isoformat()}|{provider.pk}|{room.pk}"
        return Request(
            "post",
            reverse("procedures:slot_finder"),
            {
                "patient": patient,
                "procedure_type": ctx.procedure.pk,
                "sedation_level": "local",
                "time_of_day": "any",
                "slot": value,
            },
            expect=302,
        )

    def unbook() -> None:
        # Delete what the bookings made, so every booking meets the same free grid.
        done = Appointment.objects.filter(
            start_at__gte=clinic_datetime(ctx.booking_day, scale.FIRST_SLOT),
            room__in=ctx.rooms,
        )
        scale._purge(Appointment, done)

    def get(url: str) -> Callable[[int], Request]:
        return lambda i: Request("get", url)

    def search(q: str) -> Callable[[int], Request]:
        return lambda i: Request("post", reverse("patients:list"), {"q": q})

    calendar = reverse("procedures:calendar")
    return [
        Scenario("today board", roles.FRONT_DESK, get(reverse("procedures:today"))),
        Scenario(
            "clinic day calendar",
            roles.FRONT_DESK,
            get(f"{calendar}?view=day&by=clinic&date={today}"),
        ),
        Scenario(
            # The whole clinic's day as a time grid, a column per room (issue 16).
            "clinic day calendar by room",
            roles.FRONT_DESK,
            get(f"{calendar}?show=rooms&date={today}"),
        ),
        Scenario(
            "provider week calendar",
            roles.FRONT_DESK,
            get(f"{calendar}?view=week&by=provider&id={ctx.providers[0].pk}&date={next_week}"),
        ),
        Scenario(
            "slot finder (next slots)",
            roles.FRONT_DESK,
            lambda i: Request(
                "post",
                reverse("procedures:slot_finder"),
                {
                    "patient": patient_id,
                    "procedure_type": ctx.procedure.pk,
                    "sedation_level": "local",
                    "time_of_day": "any",
                },
            ),
        ),
        Scenario("patient search: partial name", roles.FRONT_DESK, search("Thomp")),
        Scenario("patient search: typo", roles.FRONT_DESK, search("Thompsen")),
        Scenario("patient search: MRN", roles.FRONT_DESK, search(mrn)),
        Scenario("pending results worklist", roles.NURSE, get(reverse("procedures:worklist"))),
        Scenario("booking POST", roles.FRONT_DESK, book, after=unbook),
    ]


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


def _fire(client: Client, req: Request) -> tuple[float, int]:
    started = time.perf_counter()
    send = client.get if req.method == "get" else client.post
    response = send(req.url, req.data or {})
    elapsed = time.perf_counter() - started
    return elapsed, response.status_code


def measure_scale(
    *,
    plan: scale.ScalePlan,
    factor: int,
    requests: int,
    only: set[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[Measure]:
    ctx = _Context(plan)
    users = scale.scale_users()
    clients: dict[str, Client] = {}
    for role in (roles.FRONT_DESK, roles.NURSE):
        client = Client()
        client.force_login(users[role])
        clients[role] = client
    raw = _raw_connection()
    bare_url = reverse("benchmark_bare")
    results = []
    try:
        for scenario in scenarios(ctx):
            if only and scenario.name not in only:
                continue
            client = clients[scenario.role]
            errors, counter = 0, 0

            def once(scenario=scenario, client=client) -> tuple[float, int]:
                nonlocal counter
                req = scenario.make(counter)
                counter += 1
                elapsed, status = _fire(client, req)
                if scenario.after:
                    scenario.after()
                return elapsed, status if status == req.expect else -status

            for _ in range(3):  # warm: templates compiled, caches and plans filled
                once()
            # Query count and the SQL to replay: the fewest of three requests, since the
            # session's "last seen" is written at most once a minute (3 queries more on
            # whichever request does it), which is not the page's work.
            statements: list[str] | None = None
            for _ in range(3):
                req = scenario.make(counter)
                counter += 1
                with CaptureQueriesContext(connection) as captured:
                    _elapsed, status = _fire(client, req)
                if status != req.expect:
                    errors += 1
                if scenario.after:
                    scenario.after()
                if statements is None or len(captured.captured_queries) < len(statements):
                    statements = [q["sql"] for q in captured.captured_queries]
            if statements is None:  # never: three requests ran
                raise RuntimeError(scenario.name)
            samples = []
            for _ in range(requests):
                elapsed, status = once()
                samples.append(elapsed)
                errors += status < 0
            p50, p95 = _ms(samples)
            bare = []
            for _ in range(requests):
                elapsed, _status = _fire(client, Request("get", bare_url))
                bare.append(elapsed)
            bare_p50, _x = _ms(bare)
            sql_p50 = _replay(raw, statements, max(3, requests // 3)) * 1000
            measure = Measure(
                scenario=scenario.name,
                scale=factor,
                patients=plan.patients,
                queries=len(statements),
                p50_ms=p50,
                p95_ms=p95,
                bare_p50_ms=bare_p50,
                sql_p50_ms=sql_p50,
                floor_ms=bare_p50 + sql_p50,
                errors=errors,
            )
            log(
                f"  {scenario.name:<30} {measure.queries:>3} q  p50 {p50:7.1f} ms  "
                f"p95 {p95:7.1f} ms  floor {measure.floor_ms:6.1f} ms"
                + (f"  ERRORS {errors}" if errors else "")
            )
            results.append(measure)
    finally:
        if raw is not None:
            raw.close()
    return results


def run(
    *,
    base_patients: int,
    scales: list[int],
    requests: int,
    providers: int = 50,
    rooms: int = 30,
    only: set[str] | None = None,
    dispatch_count: int | None = 10_000,
    log: Callable[[str], None] = print,
) -> dict:
    """The whole benchmark; returns the JSON-able result with the goals checked."""
    measures: list[Measure] = []
    seeds: list[dict] = []
    overrides = {
        "ROOT_URLCONF": "procedures.devtools.benchmarks.urls",
        "DEBUG": False,
        "ALLOWED_HOSTS": ["testserver"],
        "CLINIC_OTP_REQUIRED_ROLES": [],
    }
    from clinic.celery import app as celery_app

    # Bookings wake the dispatcher: a message to nowhere, not to a real worker.
    broker_url = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://"
    try:
        with override_settings(**overrides):
            _run_scales(
                base_patients, scales, requests, providers, rooms, only, log, seeds, measures
            )
    finally:
        celery_app.conf.broker_url = broker_url
    dispatch = None
    if dispatch_count:
        dispatch = run_dispatch(dispatch_count, log=log)
    return summarise(measures, seeds, dispatch, scales=scales, requests=requests)


def _run_scales(base_patients, scales, requests, providers, rooms, only, log, seeds, measures):
    for factor in scales:
        patients = base_patients * factor
        plan = scale.ScalePlan(patients=patients, providers=providers, rooms=rooms)
        log(f"Seeding {patients:,} patients ({factor}x)...")
        started = time.monotonic()
        scale.scale_clear()
        report = scale.scale_seed(plan, progress=lambda table, total: lambda n: None)
        seconds = time.monotonic() - started
        seeds.append(
            {
                "scale": factor,
                "patients": patients,
                "seconds": round(seconds, 1),
                "rows": report.counts,
                "working_days": report.working_days,
            }
        )
        log(f"  seeded {sum(report.counts.values()):,} rows in {seconds:.0f} s")
        measures += measure_scale(plan=plan, factor=factor, requests=requests, only=only, log=log)


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
