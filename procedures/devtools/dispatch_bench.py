"""The dispatch benchmark (`manage.py benchmark_dispatch`): a morning batch of patient
emails drained by real Celery worker processes into a real SMTP server.

The batch is a realistic mix, not one patient's identical emails: for every 8 emails,
one appointment of its own patient (so 40,000 emails are 5,000 appointments), each
with a booking confirmation carrying its .ics invite, the day-before reminder, the
request to confirm who takes the patient home (the visits are sedated) and five
general prep instructions; one patient in ten reads Spanish and one in twenty has
opted out of email (their rows become front-desk calls, as the dispatcher does).

A run: the rows are made due, one dispatch task is published (beat's tick at the
window's opening; beat's every-minute ticks follow while rows are left), and
`celery -A clinic worker --concurrency N` drains them; the run ends when no row is
pending or being sent. The SMTP server, in a process of its own, counts what it
accepts and every Message-ID it sees twice.
"""

import os
import re
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditlog.context import disable_auditlog
from django.conf import settings
from django.core.mail import get_connection
from django.db import connection, transaction
from django.utils import timezone

from clinic.testing.processes import start_worker, stop_group, wait_until
from clinic.testing.smtp import SMTPSink
from patients.models import Patient
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room
from procedures.messaging.mail import reminder_message
from procedures.messaging.models import CallTask, Reminder
from procedures.scheduling.models import Appointment

Kind = Reminder.Kind
EMAILS_PER_VISIT = 8
PREP_INSTRUCTIONS = (
    "Bring a list of every medicine, vitamin and herbal remedy you take",
    "Wear loose, comfortable clothes",
    "Bring photo ID and your appointment letter",
    "Plan to be with us for about three hours",
    "Eat a light breakfast unless we told you otherwise",
)
MRN_PREFIX = "DSPBENCH"  # + 6 hex + 6 digits: within the 20 of an MRN
GOAL_SECONDS_PER_40000 = 600
GOAL_SCALING = 1.7
# The worker's log line for each finished dispatch: "... Task procedures.tasks.
# dispatch_due_reminders[<id>] succeeded in 9.1s: {'claimed': 200, ..."
DISPATCHED = re.compile(
    r"Task procedures\.tasks\.dispatch_due_reminders\[[^]]*\] succeeded in ([\d.]+)s: "
    r"\{'claimed': (\d+)"
)
BEAT_EVERY = 60.0  # seconds: the dispatcher's beat schedule


@dataclass
class Batch:
    """The benchmark's rows (deleted again by `clear`)."""

    appointments: list[int]
    emails: int
    mix: dict[str, int]
    spanish_patients: int
    opted_out_patients: int


def catalog() -> tuple[ProcedureType, Provider, Room]:
    """A procedure, a physician and a room to book the batch's visits with."""
    procedure_type = ProcedureType.objects.exclude(kind=ProcedureKind.RESULTS_DISCUSSION).first()
    provider, room = Provider.objects.first(), Room.objects.first()
    if not (procedure_type and provider and room):
        raise LookupError("No catalog yet: run `manage.py seed_demo` first.")
    return procedure_type, provider, room


def make_batch(emails: int) -> Batch:
    """Patients, sedated appointments (years ahead) and their reminder rows,
    not yet due."""
    procedure_type, provider, room = catalog()
    visits = max(1, -(-emails // EMAILS_PER_VISIT))
    token = secrets.token_hex(3).upper()
    # Years ahead, one every two minutes: clear of every real visit on the provider and room.
    start = timezone.now() + timedelta(days=3 * 365)
    later = timezone.now() + timedelta(days=365)  # not due until a run makes them due
    with transaction.atomic(), disable_auditlog():
        patients = Patient.objects.bulk_create(
            Patient(
                mrn=f"{MRN_PREFIX}{token}{i:06d}",
                given_name=("María José", "Ann", "Oluwaseun", "Zoë", "Tom")[i % 5],
                family_name=f"Bench{i}",
                date_of_birth=(start - timedelta(days=365 * 30 + i)).date(),
                email=f"patient{i}@bench.example",
                preferred_language="es" if i % 10 == 0 else "en",
                email_reminders=i % 20 != 1,
                # Each prep email names its step, so that no two of a visit read alike
                # (the dispatcher sends word-for-word twins as one email).
                details_in_email=True,
            )
            for i in range(visits)
        )
        appointments = Appointment.objects.bulk_create(
            Appointment(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                room=room,
                site=room.site,
                # One every two minutes, no buffers: none overlaps another on the one
                # provider and room (bulk_create skips save(), which derives blocked_*
                # and the site).
                start_at=start + timedelta(minutes=2 * i),
                end_at=start + timedelta(minutes=2 * i + 1),
                blocked_from=start + timedelta(minutes=2 * i),
                blocked_until=start + timedelta(minutes=2 * i + 1),
                buffer_before_minutes=0,
                buffer_after_minutes=0,
                status=Appointment.Status.SCHEDULED,
                sedation_level=SedationLevel.IV_MODERATE,
            )
            for i, patient in enumerate(patients)
        )
        rows = []
        for appointment in appointments:
            kinds = [Kind.BOOKING_CONFIRMATION, Kind.DAY_BEFORE, Kind.ESCORT_REQUEST]
            rows += [Reminder(appointment=appointment, kind=kind, due_at=later) for kind in kinds]
            rows += [
                Reminder(appointment=appointment, kind=Kind.PREP_STEP, step_text=text, due_at=later)
                for text in PREP_INSTRUCTIONS
            ]
        Reminder.objects.bulk_create(rows[:emails], batch_size=5000)
    return Batch(
        appointments=[a.pk for a in appointments],
        emails=min(emails, len(rows)),
        mix=dict(Counter(row.kind for row in rows[:emails])),
        spanish_patients=sum(p.preferred_language == "es" for p in patients),
        opted_out_patients=sum(not p.email_reminders for p in patients),
    )


def clear(batch: Batch | None = None) -> None:
    """Delete the benchmark's rows (this run's, or every run's)."""
    appointments = Appointment.objects.filter(patient__mrn__startswith=MRN_PREFIX)
    if batch is not None:
        appointments = Appointment.objects.filter(pk__in=batch.appointments)
    with transaction.atomic(), disable_auditlog():
        CallTask.objects.filter(appointment__in=appointments).delete()
        Reminder.objects.filter(appointment__in=appointments).delete()
        patients = Patient.objects.filter(appointments__in=appointments)
        patient_ids = list(patients.values_list("pk", flat=True))
        appointments.delete()
        Patient.objects.filter(pk__in=patient_ids).delete()


def _rows(batch: Batch):
    return Reminder.objects.filter(appointment_id__in=batch.appointments)


def reset(batch: Batch) -> None:
    """Every row back to waiting (not yet due), and the calls a run made gone."""
    CallTask.objects.filter(appointment_id__in=batch.appointments).delete()
    _rows(batch).update(
        status=Reminder.Status.PENDING,
        attempts=0,
        lease_until=None,
        sent_at=None,
        last_error="",
        skip_reason="",
        due_at=timezone.now() + timedelta(days=365),
    )


def database_url() -> str:
    """This connection's database as a DATABASE_URL, for the worker processes."""
    s = connection.settings_dict
    user, password = quote(s.get("USER") or "", safe=""), quote(s.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}{s.get('HOST') or 'localhost'}{port}/{quote(s['NAME'], safe='')}"


def drain(
    batch: Batch,
    *,
    concurrency: int,
    sink: SMTPSink,
    workdir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """One run: the batch made due, drained by one worker of `concurrency` processes."""
    from celery import current_app

    from procedures.messaging.tasks import dispatch_due_reminders

    reset(batch)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "EMAIL_URL": sink.url,
        # Production settings: no query log, no template debugging.
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "localhost",
        "CLINIC_VAR_DIR": str(workdir / "var"),
    }
    current_app.control.purge()  # nothing left over from an earlier run
    worker = start_worker(
        f"bench{concurrency}",
        env=env,
        log=workdir / f"worker-{concurrency}.log",
        concurrency=concurrency,
        standalone=False,  # as compose runs it
    )
    try:
        # The jobs a worker runs once as it starts (clinic/celery.py) finish first.
        inspect = current_app.control.inspect(destination=[worker.nodename], timeout=2)  # type: ignore[attr-defined]

        def idle() -> bool:
            active, reserved = inspect.active() or {}, inspect.reserved() or {}
            return bool(active) and not any(active.values()) and not any(reserved.values())

        wait_until(idle, timeout=300, interval=1, what="the worker's start-up jobs")
        load_before = os.getloadavg()
        started = time.monotonic()
        wall_start = timezone.now()
        _rows(batch).update(due_at=wall_start - timedelta(seconds=1))
        # Confirmations lead: their visits' other emails wait for them anyway.
        _rows(batch).filter(kind=Kind.BOOKING_CONFIRMATION).update(
            due_at=wall_start - timedelta(seconds=2)
        )
        dispatch_due_reminders.delay()  # beat's tick as the send window opens
        next_tick = started + BEAT_EVERY
        open_statuses = [Reminder.Status.PENDING, Reminder.Status.SENDING]

        def drained() -> bool:
            nonlocal next_tick
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see {worker.log}")  # type: ignore[attr-defined]
            if time.monotonic() >= next_tick:  # beat's every-minute tick
                dispatch_due_reminders.delay()
                next_tick += BEAT_EVERY
            return not _rows(batch).filter(status__in=open_statuses).exists()

        wait_until(drained, timeout=3 * 3600, interval=0.5, what="the batch to drain")
        seconds = time.monotonic() - started
        load_after = os.getloadavg()
    finally:
        stop_group(worker, timeout=60)
    statuses = Counter(_rows(batch).values_list("status", flat=True))
    # How many processes were busy dispatching, on average: the busy time of the runs
    # that claimed something over the drain time (about 1 with one process, 2 with two).
    dispatches = [
        (float(runtime), int(claimed))
        for runtime, claimed in DISPATCHED.findall(worker.log.read_text(errors="replace"))  # type: ignore[attr-defined]
    ]
    busy = sum(runtime for runtime, claimed in dispatches if claimed)
    last_sent = max(_rows(batch).exclude(sent_at=None).values_list("sent_at", flat=True))
    accepted = sink.accepted.value
    result = {
        "worker_processes": concurrency,
        "drain_seconds": round(seconds, 1),
        "last_sent_after_seconds": round((last_sent - wall_start).total_seconds(), 1),
        "emails_per_second": round(batch.emails / seconds, 1),
        "statuses": dict(statuses),
        "dispatch_runs": sum(1 for _runtime, claimed in dispatches if claimed),
        "processes_busy_on_average": round(busy / seconds, 2),
        "smtp_accepted": accepted,
        "duplicates": sink.duplicates.value,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    log(
        f"  {concurrency} worker process(es): {batch.emails:,} rows in {seconds:.0f} s "
        f"({result['emails_per_second']} a second), {accepted:,} accepted, "
        f"{result['duplicates']} duplicate(s); load {load_before[0]:.1f} -> {load_after[0]:.1f}"
    )
    return result


def profile(batch: Batch, *, sink: SMTPSink, sample: int = 300) -> dict[str, float]:
    """Where one email's time goes, in this process, over `sample` rows of the mix
    (ms, medians): loading the row (a batch's one query, per row), rendering its three
    templates (and the invite), writing its MIME bytes, the SMTP exchange, and marking
    it sent (an UPDATE and its commit). The messages go to the sink too: call after the
    runs are counted."""
    from procedures.messaging.dispatch import SEND_FIELDS, mark_sent

    ids = list(
        _rows(batch)
        .filter(appointment__patient__email_reminders=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:sample]
    )
    timings: dict[str, list[float]] = {"render": [], "mime": [], "smtp": [], "mark": []}
    if not ids:
        return {}
    # Claimed, as the dispatcher claims them (so that each mark changes its row).
    lease = timezone.now() + timedelta(minutes=30)
    Reminder.objects.filter(pk__in=ids).update(status=Reminder.Status.SENDING, lease_until=lease)
    started = time.perf_counter()
    rows = list(  # as the dispatcher loads a batch: one query
        Reminder.objects.filter(pk__in=ids)
        .select_related("appointment__patient", "appointment__procedure_type")
        .only(*SEND_FIELDS)
    )
    load = (time.perf_counter() - started) * 1000 / max(1, len(rows))
    smtp = "django.core.mail.backends.smtp.EmailBackend"
    with get_connection(smtp, host=sink.host, port=sink.port, username="", password="") as mail:
        for row in rows:
            t0 = time.perf_counter()
            message = reminder_message(row, connection=mail)
            t1 = time.perf_counter()
            raw = message.message().as_bytes(linesep="\r\n")
            t2 = time.perf_counter()
            mail.connection.sendmail(message.from_email, message.recipients(), raw)
            t3 = time.perf_counter()
            mark_sent(row)
            t4 = time.perf_counter()
            for name, (a, b) in zip(timings, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
                timings[name].append((b - a) * 1000)
    medians = {
        name: round(statistics.median(values), 2) for name, values in timings.items() if values
    }
    return {"load": round(load, 2), **medians}


def goals(emails: int, runs: dict[int, dict[str, Any]], compose: int) -> dict[str, Any]:
    """The dispatch goals: the batch drains with the compose settings within 600 s per
    40,000 emails; two worker processes give at least 1.7 times one; no duplicate."""
    limit = GOAL_SECONDS_PER_40000 * emails / 40_000
    out: dict[str, Any] = {
        "drain_seconds_max": round(limit, 1),
        "drain_met": runs[compose]["drain_seconds"] <= limit if compose in runs else None,
        "duplicates": sum(run["duplicates"] for run in runs.values()),
        "scaling_min": GOAL_SCALING,
    }
    out["no_duplicates"] = out["duplicates"] == 0
    if 1 in runs and 2 in runs:
        out["scaling"] = round(runs[2]["emails_per_second"] / runs[1]["emails_per_second"], 2)
        out["scaling_met"] = out["scaling"] >= GOAL_SCALING
    met = [out["drain_met"], out["no_duplicates"], out.get("scaling_met")]
    out["all_met"] = all(m for m in met if m is not None)
    return out


def run(
    *, emails: int, worker_processes: list[int], compose: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Make the batch, drain it once per worker setting, profile one email, clean up."""
    catalog()
    if connection.vendor != "postgresql":
        raise LookupError("Needs PostgreSQL (DATABASE_URL=postgres://...): workers share it.")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        raise LookupError("Needs Redis (CELERY_BROKER_URL=redis://...) for the workers.")
    clear()  # an interrupted earlier run's rows
    batch = make_batch(emails)
    log(
        f"{batch.emails:,} emails for {len(batch.appointments):,} appointments: "
        + ", ".join(f"{kind} {count:,}" for kind, count in sorted(batch.mix.items()))
    )
    try:
        workdir = Path(settings.VAR_DIR) / "benchmark_dispatch"  # the workers' logs stay
        workdir.mkdir(parents=True, exist_ok=True)
        log(f"worker logs: {workdir}")
        runs = {}
        for n in worker_processes:
            with SMTPSink() as sink:  # a server of its own counts each run's duplicates
                runs[n] = drain(batch, concurrency=n, sink=sink, workdir=workdir, log=log)
        with SMTPSink() as sink:
            per_email_ms = profile(batch, sink=sink)
    finally:
        clear(batch)
    return {
        "database": connection.vendor,
        "emails": batch.emails,
        "appointments": len(batch.appointments),
        "mix": batch.mix,
        "spanish_patients": batch.spanish_patients,
        "opted_out_patients": batch.opted_out_patients,
        "batch_size": settings.REMINDER_BATCH_SIZE,
        "compose_worker_processes": compose,
        "runs": list(runs.values()),
        "per_email_ms": per_email_ms,
        "goals": goals(batch.emails, runs, compose),
    }
