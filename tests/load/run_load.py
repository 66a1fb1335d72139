"""Load on the real stack, run by hand (not part of the test suite):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinic_perf \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/8 CACHE_URL=redis://127.0.0.1:6379/9 \\
    .venv/bin/python tests/load/run_load.py [--duration 60] [--connections 8] \\
        [--reminders 10000] [--mix staff|heavy] [--web-workers N]

Needs the seed_scale data in that database (`manage.py seed_scale --patients 20000`), a
running Redis and `wrk` (apt-get install -y wrk). Starts, on loopback: an SMTP sink
(aiosmtpd, in a process of its own), gunicorn as the image runs it
(deploy/gunicorn.conf.py, DEBUG off, the Redis cache) with its worker count (2, as compose
runs it, unless --web-workers says otherwise), a Celery worker (prefork, 2 processes,
as compose runs it); writes N due reminders; drives the pages of tests/load/
pages.lua with wrk for the duration while the worker sends the reminders (--mix staff:
the pages staff browsers request, with the navigation counts each page loads and the
search box's htmx searches; --mix heavy: only the today board and the site's results
worklist, in turn); then reports throughput, p50/p95/p99, errors, reminders sent and
the peak RSS of each worker process. Everything it wrote is deleted again.
"""

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from clinic.testing.processes import start_worker, stop_group  # noqa: E402
from clinic.testing.smtp import SMTPSink, free_port  # noqa: E402


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found.append(int(child))
            found += children(int(child))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the peak resident set size the kernel recorded for the process."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)  # a start-up poll in a driver script, not a test
    raise SystemExit(f"{url} did not answer within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--json", default=None)
    parser.add_argument("--mix", choices=["staff", "heavy"], default="staff")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=int(os.environ.get("GUNICORN_WORKERS", "2")),
        help="gunicorn's worker processes (default: GUNICORN_WORKERS, else 2 as compose runs)",
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("Set DATABASE_URL to the PostgreSQL database seed_scale filled.")
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        raise SystemExit("Set CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>.")
    if not os.environ.get("CACHE_URL", "").startswith("redis://"):
        # Production runs on a shared cache (check --deploy insists): sessions and the
        # navigation counts are read from it.
        raise SystemExit("Set CACHE_URL=redis://127.0.0.1:6379/<another db>.")

    stack = contextlib.ExitStack()
    sink = SMTPSink()
    web_port = free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "EMAIL_URL": sink.url,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": str(args.web_workers),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from clinic import roles
    from procedures.catalog.clock import clinic_today
    from procedures.devtools import scale
    from procedures.messaging.models import CallTask, Reminder
    from procedures.scheduling.models import Appointment

    # A patient who takes email (one seeded patient in twenty opted out: their notices
    # become front-desk calls, and nothing would be sent).
    appointment = (
        Appointment.objects.filter(
            patient__mrn__startswith=scale.MRN_PREFIX, patient__email_reminders=True
        )
        .exclude(patient__email="")
        .order_by("-start_at")
        .first()
    )
    if appointment is None:
        raise SystemExit("No seed_scale data: run `manage.py seed_scale --patients 20000` first.")
    users = scale.scale_users()
    cookies = {}
    for role in (roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN):
        user = users[role]
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies[role] = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"

    stack.enter_context(sink)

    venv_bin = Path(sys.executable).parent
    procs = {}
    holder = None
    accepted_in_window = 0
    try:
        access_log = Path(tempfile.mkdtemp()) / "gunicorn.log"
        procs["gunicorn"] = subprocess.Popen(
            [
                str(venv_bin / "gunicorn"),
                "--config",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "clinic.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=access_log.open("w"),
            stderr=subprocess.STDOUT,
        )
        origin = f"http://127.0.0.1:{web_port}"
        wait_http(f"{origin}/accounts/login/")
        # Warm each page once in each process (first render compiles the templates).
        pages = [
            ("/today/", roles.FRONT_DESK),
            ("/results/", roles.NURSE),
            ("/results/", roles.PHYSICIAN),
            (f"/calendar/?view=day&by=clinic&date={clinic_today()}", roles.FRONT_DESK),
            ("/patients/", roles.FRONT_DESK),
        ]
        for _ in range(args.web_workers):
            for path, role in pages:
                request = urllib.request.Request(  # noqa: S310 (loopback)
                    f"{origin}{path}",
                    headers={"Cookie": cookies[role], "X-Forwarded-Proto": "https"},
                )
                with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                    assert response.status == 200, (path, response.status)
                    page = response.read().decode()
                    set_cookie = response.headers.get_all("Set-Cookie") or []
        # The search box's POSTs carry the CSRF cookie and token, as the page gives them.
        csrf_cookie = next(c.split(";")[0] for c in set_cookie if c.startswith("csrftoken="))
        csrf_token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]

        # A cancelled copy of a seeded visit holds no slot; its notices are the heaviest mail.
        holder = Appointment.objects.create(
            patient=appointment.patient,
            procedure_type=appointment.procedure_type,
            provider=appointment.provider,
            room=appointment.room,
            start_at=appointment.start_at + timedelta(days=400),
            end_at=appointment.end_at + timedelta(days=400),
            status=Appointment.Status.CANCELLED,
        )
        due = timezone.now()
        Reminder.objects.bulk_create(
            (
                Reminder(appointment=holder, kind=Reminder.Kind.CANCELLATION, due_at=due)
                for _ in range(args.reminders)
            ),
            batch_size=2000,
        )
        started = time.monotonic()
        # The compose worker's settings (docker-compose.yml: prefork, --concurrency 2).
        procs["worker"] = start_worker(
            "load", env=env, log=Path(tempfile.mkdtemp()) / "worker.log", concurrency=2
        )
        wrk = subprocess.Popen(
            [
                "wrk",
                f"-t{min(2, args.connections)}",
                f"-c{args.connections}",
                f"-d{args.duration}s",
                "--timeout",
                "30s",
                "-s",
                str(Path(__file__).with_name("pages.lua")),
                f"http://127.0.0.1:{web_port}",
            ],
            env={
                **env,
                "FRONTDESK_COOKIE": cookies[roles.FRONT_DESK],
                "NURSE_COOKIE": cookies[roles.NURSE],
                "PHYSICIAN_COOKIE": cookies[roles.PHYSICIAN],
                "CSRF_COOKIE": csrf_cookie,
                "CSRF_TOKEN": csrf_token,
                "ORIGIN": f"https://127.0.0.1:{web_port}",
                "TODAY": clinic_today().isoformat(),
                "MIX": args.mix,
            },
            stdout=subprocess.PIPE,
            text=True,
        )
        from procedures.messaging.tasks import dispatch_due_reminders

        worker_peaks: dict[int, float] = {}
        sent_done_at = None
        while wrk.poll() is None:
            # The worker dispatches at start; wake it as bookings do while rows remain.
            left = Reminder.objects.filter(appointment=holder, status="pending").count()
            if left:
                dispatch_due_reminders.apply_async()
            elif sent_done_at is None:
                sent_done_at = time.monotonic() - started
            for pid in [procs["worker"].pid, *children(procs["worker"].pid)]:
                worker_peaks[pid] = max(worker_peaks.get(pid, 0.0), peak_rss_mb(pid))
            time.sleep(2)  # sampling interval of the driver
        output = wrk.stdout.read()
        sent = Reminder.objects.filter(appointment=holder, status="sent").count()
        accepted_in_window = sink.accepted.value
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            if name == "worker":  # in a process group of its own, with its pool
                stop_group(proc, timeout=30)
            else:
                proc.wait(timeout=30)
        stack.close()
        if holder is not None:
            CallTask.objects.filter(appointment=holder).delete()
            Reminder.objects.filter(appointment=holder).delete()
            holder.delete()
        SessionStore().model.objects.filter(
            session_key__in=[c.split("=", 1)[1] for c in cookies.values()]
        ).delete()

    line = next((x for x in output.splitlines() if x.startswith("RESULT")), "")
    fields = dict(part.split("=") for part in line.split()[1:])
    result = {
        "duration_s": float(fields.get("seconds", 0)),
        "connections": args.connections,
        "mix": args.mix,
        "web_workers": args.web_workers,
        "requests": int(fields.get("requests", 0)),
        "throughput_rps": int(fields.get("requests", 0)) / max(float(fields.get("seconds", 1)), 1),
        "p50_ms": float(fields.get("p50_ms", 0)),
        "p95_ms": float(fields.get("p95_ms", 0)),
        "p99_ms": float(fields.get("p99_ms", 0)),
        "non_200": int(fields.get("non200", 0)),
        "socket_errors": int(fields.get("socket_errors", 0)),
        "reminders": args.reminders,
        "reminders_sent": sent,
        "smtp_accepted": accepted_in_window,
        "all_sent_after_s": sent_done_at,
        "worker_peak_rss_mb": sorted(worker_peaks.values(), reverse=True),
    }
    print(output)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
