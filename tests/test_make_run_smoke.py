"""`make run` end to end on the embedded defaults, then Ctrl-C.

Runs the Makefile's own `run` target (its `install` prerequisite skipped with
`make -o install`) with a fresh CLINIC_VAR_DIR and a free PORT, and without
DATABASE_URL, CELERY_BROKER_URL and EMAIL_URL (CI sets them): so SQLite, the
filesystem broker and the local outbox. A front-desk user logs in over HTTP,
books a demo patient, and the confirmation (with its .ics) reaches var/outbox
through the worker and shows at /outbox/. Ctrl-C (SIGINT to the foreground
process group) must then stop every process cleanly: honcho must not need to
SIGKILL anything, and nothing may be left over.
"""

import contextlib
import email
import email.policy
import os
import re
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from clinic.testing.pages import demo_booking, next_weekday, parse
from clinic.testing.processes import start_logged
from clinic.testing.smtp import free_port
from procedures.labs import mllp
from tests.conftest import log_tail, processes_with_env, stop_group, wait_until

pytestmark = pytest.mark.slow

START_TIMEOUT = 120  # migrate from scratch, seed, then web and worker up
MAIL_TIMEOUT = 30
STOP_TIMEOUT = 20
# The outer environment must not leak into the run: the services (this test is
# about the embedded defaults), DEBUG (make run sets its own default) and an
# enclosing make's flags (pytest may run under `make test`).
REMOVED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "EMAIL_URL",
    "SITE_URL",
    "DEBUG",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
)


def calendar_messages(outbox: Path) -> list[tuple[Path, email.message.EmailMessage]]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if any(part.get_content_type() == "text/calendar" for part in message.walk()):
            found.append((path, message))
    return found


@pytest.fixture
def make_run(tmp_path):
    """`make run` in a new process group (the group Ctrl-C in a terminal signals)."""
    var = tmp_path / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
    env.update(CLINIC_VAR_DIR=str(var), PORT=str(port), MLLP_PORT=str(free_port()))
    log = tmp_path / "make-run.log"
    process = start_logged(
        ["make", "--no-print-directory", "-o", "install", "run"], env=env, log=log
    )
    process.base_url = f"http://127.0.0.1:{port}"
    process.mllp_port = int(env["MLLP_PORT"])
    process.var, process.log = var, log
    try:
        yield process
    finally:
        # Whatever the test did, leave nothing running that this run started.
        stop_group(process, timeout=STOP_TIMEOUT)
        for pid in processes_with_env("CLINIC_VAR_DIR", str(var)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_make_run_books_mails_and_stops_on_ctrl_c(make_run):
    base, var, log = make_run.base_url, make_run.var, make_run.log
    http = requests.Session()

    def healthz():
        if make_run.poll() is not None:
            raise AssertionError(f"make run exited ({make_run.returncode}):\n{log_tail(log)}")
        try:
            response = http.get(f"{base}/healthz", timeout=5)
        except requests.ConnectionError:
            return None
        return (response.status_code, response.json())  # (a Response is falsy on 503)

    # Up: the web answers, on SQLite and the filesystem broker. The dispatcher
    # may not have run yet (beat's first tick is a minute away), hence maybe 503.
    status, report = wait_until(healthz, timeout=START_TIMEOUT, interval=0.5, what="/healthz")
    assert status in (200, 503), report
    assert report["database"] == {"status": "ok", "vendor": "sqlite"}
    assert report["broker"] == {"status": "ok", "transport": "filesystem"}
    assert (var / "clinic.sqlite3").exists()

    # The lab results listener answers on its port (an unknown lab: refused, AR).
    def mllp_answer():
        try:
            [ack] = mllp.exchange(
                "127.0.0.1", make_run.mllp_port, [b"MSH|^~\\&|NOBODY|X|||||ORU^R01|1|P|2.5.1\r"]
            )
        except OSError:
            return None
        return ack

    ack = wait_until(mllp_answer, timeout=START_TIMEOUT, interval=0.5, what="the MLLP listener")
    assert b"MSA|AR|1|" in ack

    # Log in as the demo front desk, through the real login form (CSRF and all).
    page = http.get(f"{base}/accounts/login/", timeout=10)
    token = parse(page.text).inputs["csrfmiddlewaretoken"]
    page = http.post(
        f"{base}/accounts/login/",
        data={"username": "frontdesk", "password": "clinic-demo", "csrfmiddlewaretoken": token},
        timeout=10,
    )
    assert page.status_code == 200
    assert page.url == f"{base}/today/", "front desk starts on the Today board"

    # A demo patient's MRN, from the patient list.
    rows = parse(http.get(f"{base}/patients/", timeout=10).text).rows
    [mrn] = [row[1] for row in rows if row and row[0] == "Garcia, Maria"]

    # Book through the form, with ids read from its own <select>s.
    form = parse(http.get(f"{base}/appointments/book/", timeout=10).text)
    day = next_weekday(datetime.now(UTC).date() + timedelta(days=8))
    page = http.post(
        f"{base}/appointments/book/",
        data=demo_booking(form, mrn=mrn, day=day, start_time="14:00"),
        timeout=10,
    )
    assert [r.status_code for r in page.history] == [302], page.text[-2000:]
    assert page.status_code == 200
    assert page.url.startswith(f"{base}/appointments/"), page.url
    assert page.url.rstrip("/").rsplit("/", 1)[-1].isdigit(), page.url

    # The on-commit wake-up reaches the worker through the filesystem broker,
    # and the confirmation with its invite lands in the local outbox.
    outbox = var / "outbox"
    [(path, message)] = wait_until(
        lambda: calendar_messages(outbox),
        timeout=MAIL_TIMEOUT,
        what=f"a confirmation in {outbox}; log:\n{log_tail(log)}",
    )
    assert message["To"] == "maria.garcia@example.com"
    # SITE_URL follows PORT: the email's links lead back to this very server.
    text = message.get_body(("plain",)).get_content()
    links = re.findall(r"https?://[^\s/]+/", text)
    assert links and set(links) == {f"{base}/"}, links
    assert message["Subject"] == "Your appointment is booked"
    [invite] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert invite.get_param("method") == "REQUEST"
    assert b"METHOD:REQUEST" in invite.get_payload(decode=True)
    # The filesystem broker keeps its exchange tables under var/ too, not in
    # the checkout (kombu's default is ./control).
    assert (var / "celery" / "control" / "celery.exchange").exists()

    listing = http.get(f"{base}/outbox/", timeout=10)
    assert listing.status_code == 200
    assert path.name in listing.text
    assert "Your appointment is booked" in listing.text

    # The dispatcher has run now, so the whole stack reports healthy.
    response = http.get(f"{base}/healthz", timeout=10)
    assert response.status_code == 200, response.text

    # Everything this run started: make, honcho, runserver, the worker (+ beat).
    started = processes_with_env("CLINIC_VAR_DIR", str(var))
    commands = " | ".join(started.values())
    assert "runserver" in commands, commands
    assert "celery -A clinic worker" in commands, commands
    assert "mllp_listener" in commands, commands

    # Ctrl-C: SIGINT to the foreground process group (make, honcho).
    os.killpg(make_run.pid, signal.SIGINT)
    try:
        make_run.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"make run still running {STOP_TIMEOUT}s after Ctrl-C:\n{log_tail(log)}")
    with pytest.raises(ProcessLookupError):
        os.killpg(make_run.pid, 0)
    # honcho runs each process in a session of its own: look for them by environment.
    wait_until(
        lambda: not processes_with_env("CLINIC_VAR_DIR", str(var)),
        timeout=5,
        what=f"every process to exit; left: {processes_with_env('CLINIC_VAR_DIR', str(var))}",
    )
    output = log.read_text(errors="replace")
    assert "SIGINT received" in output
    assert "SIGKILL" not in output, f"honcho had to kill something:\n{log_tail(log)}"
    assert "worker.1 stopped (rc=0)" in output, log_tail(log)
    assert "mllp.1 stopped (rc=0)" in output, log_tail(log)
    assert "Traceback" not in output, log_tail(log, 200)
