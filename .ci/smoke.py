"""Production smoke test: run what the image runs, the way compose runs it.

1. deploy/build.sh (the Dockerfile's build steps: collectstatic with the
   production storage) into a fresh STATIC_ROOT;
2. a fresh PostgreSQL database, `migrate` with the production settings, and the
   demo clinic (seed_demo refuses without DEBUG, since it writes known passwords:
   it runs once with DEBUG=1 on the same database, with a random password, before
   anything serves it; every process after that runs with DEBUG=0);
3. gunicorn with deploy/gunicorn.conf.py, a Celery worker and a Celery beat on
   Redis, with compose's environment: DEBUG=0, a real SECRET_KEY, CACHE_URL on
   Redis, HTTPS redirect and Secure cookies on, two-factor codes required for
   physicians and clinic admins, mail to an aiosmtpd server (EMAIL_URL);
4. this script plays the browser behind the TLS proxy: it connects on loopback
   plain HTTP, as the proxy would, and sends X-Forwarded-Proto: https and
   X-Forwarded-For from the trusted proxy address (CLINIC_TRUSTED_PROXIES=127.0.0.1);
5. logs in as each demo role (enrolling an authenticator where required), opens
   the role's main pages (200) and every static file they link (200), books an
   appointment, and waits for the confirmation at the SMTP server; checks that a
   patient link's token is not in the access log;
6. stops everything it started (SIGTERM to each process group, SIGKILL after a
   grace period), within SMOKE_TIMEOUT seconds in all.

Run: DATABASE_URL=postgres://.../clinic CELERY_BROKER_URL=redis://.../2 \
     CACHE_URL=redis://.../3 .venv/bin/python .ci/smoke.py
The database named by DATABASE_URL is left alone: the smoke uses <name>_smoke,
dropped and created afresh. The two Redis databases are flushed first.
"""

import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import signal
import struct
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import psycopg
import redis
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from clinic.testing.pages import Page, demo_booking, next_weekday, parse
from clinic.testing.processes import start_logged, start_worker, stop_group, wait_until
from clinic.testing.smtp import free_port, recording_server

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SMOKE_TIMEOUT = int(os.environ.get("SMOKE_TIMEOUT", "420"))
START_TIMEOUT = 90
MAIL_TIMEOUT = 60
CLIENT = "203.0.113.10"  # the browser's address, as the proxy reports it

MAIN_PAGES = {
    "frontdesk": [
        "/today/",
        "/patients/",
        "/appointments/",
        "/appointments/book/",
        "/appointments/find/",
        "/calendar/",
        "/calendar/print/",
        "/tasks/",
        "/waitlist/",
        "/reminders/",
        "/accounts/security/",
    ],
    "nurse": ["/results/", "/today/", "/patients/", "/appointments/", "/calendar/"],
    "physician": ["/results/", "/results/turnaround/", "/appointments/", "/calendar/"],
    "admin": [
        "/admin/",
        "/audit/",
        "/audit/?kind=reads",
        "/results/turnaround/",
        "/admin/auth/user/",
        "/admin/auditlog/logentry/",
        "/admin/axes/accessattempt/",
    ],
}
TWO_FACTOR_ROLES = "physician,clinic_admin"


def say(text: str) -> None:
    print(f"[smoke {time.strftime('%H:%M:%S')}] {text}", flush=True)


class SmokeFailure(AssertionError):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


# --- Processes ------------------------------------------------------------------------


class Processes:
    def __init__(self, logs: Path):
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        process = start_logged(argv, env=env, log=self.logs / f"{name}.log")
        self.started.append((name, process))
        return process

    def alive(self) -> None:
        for name, process in self.started:
            if process.poll() is not None:
                raise SmokeFailure(f"{name} exited ({process.returncode}):\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop_all(self, grace: float = 20) -> None:
        for _name, process in self.started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for _name, process in self.started:
            stop_group(process, timeout=grace)  # SIGKILL if it lingers


def run(argv: list[str], env: dict, what: str, timeout: float = 180) -> str:
    done = subprocess.run(  # noqa: S603 - our own commands
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise SmokeFailure(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- The browser behind the proxy -----------------------------------------------------


def totp(secret_b32: str, at: float | None = None) -> str:
    """RFC 6238 (30 s, 6 digits, SHA-1): what an authenticator app shows."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        https_origin = "https://" + urlsplit(base).netloc
        self.http.headers.update(
            {
                # What the TLS proxy adds: the scheme the browser used, its address.
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": CLIENT,
                # What the browser sends with a form: Django's CSRF check on HTTPS
                # compares it with the site's origin.
                "Origin": https_origin,
                "Referer": https_origin + "/",
            }
        )
        self.seen_assets: set[str] = set()

    def url(self, path: str) -> str:
        if path.startswith("https://"):  # a redirect in the proxy's terms
            parts = urlsplit(path)
            path = urlunsplit(("", "", parts.path, parts.query, ""))
        return urljoin(self.base, path)

    def cookies(self) -> dict:
        """The browser's side of the proxy is HTTPS, so it sends its Secure cookies;
        requests would not send them over the proxy's plain-HTTP leg by itself."""
        jar = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        return {"Cookie": jar} if jar else {}

    def fetch(self, path: str) -> requests.Response:
        return self.http.get(
            self.url(path), timeout=20, allow_redirects=False, headers=self.cookies()
        )

    def get(self, path: str, expect: int = 200) -> requests.Response:
        response = self.fetch(path)
        response = self._follow(response)
        check(
            response.status_code == expect,
            f"GET {path}: {response.status_code}, expected {expect}\n{response.text[:2000]}",
        )
        return response

    def post(self, path: str, data: dict) -> requests.Response:
        response = self.http.post(
            self.url(path), data=data, timeout=20, allow_redirects=False, headers=self.cookies()
        )
        return self._follow(response)

    def _follow(self, response: requests.Response) -> requests.Response:
        for _ in range(10):
            if response.status_code not in (301, 302, 303):
                return response
            response = self.fetch(response.headers["Location"])
        raise SmokeFailure("too many redirects")

    def log_in(self, username: str, password: str) -> requests.Response:
        form = parse(self.get("/accounts/login/").text)
        page = self.post(
            "/accounts/login/",
            {
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": form.inputs["csrfmiddlewaretoken"],
            },
        )
        check(page.status_code == 200, f"login {username}: {page.status_code}")
        if "/accounts/two-factor/setup/" in page.url:
            say(f"{username}: two-factor code required; enrolling an authenticator")
            setup = parse(page.text)
            [secret] = [c for c in setup.codes if re.fullmatch(r"[A-Z2-7]{16,}", c)]
            page = self.post(
                page.url,
                {
                    "token": totp(secret),
                    "next": setup.inputs.get("next", "/"),
                    "csrfmiddlewaretoken": setup.inputs["csrfmiddlewaretoken"],
                },
            )
            check(
                "/accounts/two-factor/" not in page.url,
                f"two-factor enrolment for {username} failed: {page.url}\n{page.text[:1500]}",
            )
        check("/accounts/login/" not in page.url, f"login {username} failed: {page.url}")
        return page

    def page_and_assets(self, path: str) -> Page:
        response = self.get(path)
        check("text/html" in response.headers.get("Content-Type", ""), f"{path}: not HTML")
        page = parse(response.text)
        check(page.assets, f"{path} links no static files")
        for asset in sorted(page.assets - self.seen_assets):
            got = self.fetch(asset)
            check(got.status_code == 200, f"{path} links {asset}: {got.status_code}")
            check(got.content, f"{asset} is empty")
            self.seen_assets.add(asset)
        return page


# --- The run --------------------------------------------------------------------------


def fresh_database(admin_url: str) -> str:
    parts = urlsplit(admin_url)
    name = parts.path.lstrip("/") + "_smoke"
    with psycopg.connect(
        urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def smoke(work: Path, procs: Processes) -> None:
    database_url = fresh_database(os.environ["DATABASE_URL"])
    broker_url = os.environ["CELERY_BROKER_URL"]
    cache_url = os.environ["CACHE_URL"]
    check(broker_url != cache_url, "CELERY_BROKER_URL and CACHE_URL must differ")
    for url in (broker_url, cache_url):
        redis.Redis.from_url(url).flushdb()

    with recording_server() as mailbox:
        _smoke(work, procs, database_url, broker_url, cache_url, mailbox, mailbox.port)


def _smoke(work, procs, database_url, broker_url, cache_url, mailbox, smtp_port) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    static_root = work / "staticfiles"
    var = work / "var"
    password = "smoke-" + secrets.token_urlsafe(16)
    base_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "PYTEST", "CLINIC_", "SECURE_", "STATIC"))
        and k not in ("DEBUG", "EMAIL_URL", "SITE_URL", "ALLOWED_HOSTS")
    }
    base_env["PATH"] = f"{BIN}:{base_env.get('PATH', '')}"

    say("build: deploy/build.sh (the Dockerfile's build steps)")
    build_env = {**base_env, "STATIC_ROOT": str(static_root), "PYTHON": PYTHON}
    print(run(["sh", "deploy/build.sh"], build_env, "deploy/build.sh"), end="")
    check((static_root / "staticfiles.json").exists(), "no staticfiles.json manifest")

    # The compose environment (docker-compose.yml, x-app), on loopback.
    env = {
        **base_env,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": f"https://127.0.0.1:{port}",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_COOKIES": "1",
        "CLINIC_TRUSTED_PROXIES": "127.0.0.1",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "CACHE_URL": cache_url,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "CLINIC_TIME_ZONE": "Europe/London",
        "CLINIC_OTP_REQUIRED_ROLES": TWO_FACTOR_ROLES,
        "CLINIC_SESSION_IDLE_SECONDS": "900",
        "RESULTS_CLINIC_LEAD_EMAILS": "lead@clinic.example",
        "STATIC_ROOT": str(static_root),
        "CLINIC_VAR_DIR": str(var),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
    }

    say("migrate (production settings), check --deploy")
    run([PYTHON, "manage.py", "migrate", "--noinput"], env, "migrate", timeout=300)
    run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env,
        "check --deploy",
    )
    say("seed_demo: once, with DEBUG=1 on the same database, before anything serves it")
    run(
        [PYTHON, "manage.py", "seed_demo", "--password", password],
        {**env, "DEBUG": "1"},
        "seed_demo",
        timeout=300,
    )

    say(f"start gunicorn on {base}, a worker and a beat")
    gunicorn = [str(BIN / "gunicorn"), "--config", "deploy/gunicorn.conf.py", "clinic.wsgi"]
    procs.start("gunicorn", gunicorn, env)
    celery = str(BIN / "celery")
    # The compose worker's settings (docker-compose.yml: --concurrency 2).
    procs.started.append(
        (
            "worker",
            start_worker(
                "worker", env=env, log=procs.logs / "worker.log", concurrency=2, standalone=False
            ),
        )
    )
    schedule = str(var / "celerybeat-schedule")
    procs.start(
        "beat", [celery, "-A", "clinic", "beat", "--loglevel", "INFO", "--schedule", schedule], env
    )

    def healthy():
        procs.alive()
        try:
            response = requests.get(f"{base}/healthz", timeout=5)
        except requests.ConnectionError:
            return None
        return response if response.status_code == 200 else None

    try:
        wait_until(healthy, timeout=START_TIMEOUT, what="/healthz to answer 200")
    except AssertionError:
        with contextlib.suppress(requests.RequestException):
            say("last /healthz: " + requests.get(f"{base}/healthz", timeout=5).text)
        raise
    say("healthy: " + requests.get(f"{base}/healthz", timeout=5).text)

    # Plain HTTP without the proxy's header is sent to HTTPS (compose's default).
    plain = requests.get(f"{base}/accounts/login/", timeout=10, allow_redirects=False)
    check(plain.status_code == 301, f"plain HTTP not redirected: {plain.status_code}")
    check(plain.headers["Location"].startswith("https://"), plain.headers["Location"])

    for username, pages in MAIN_PAGES.items():
        say(f"log in as {username}; {len(pages)} pages and their static files")
        browser = Browser(base)
        browser.log_in(username, password)
        for path in pages:
            browser.page_and_assets(path)
        if username == "frontdesk":
            frontdesk = browser
        cookie = next(c for c in browser.http.cookies if c.name == "sessionid")
        check(cookie.secure, "the session cookie is not Secure")

    # Pages reached from the lists: a patient, an appointment, its prep page.
    patients = parse(frontdesk.get("/patients/").text)
    detail = sorted(link for link in patients.links if re.fullmatch(r"/patients/\d+/", link))
    check(detail, "no patient links on /patients/")
    frontdesk.page_and_assets(detail[0])
    appointments = parse(frontdesk.get("/appointments/").text)
    visits = sorted(
        link for link in appointments.links if re.fullmatch(r"/appointments/\d+/", link)
    )
    check(visits, "no appointment links on /appointments/")
    frontdesk.page_and_assets(visits[0])
    frontdesk.page_and_assets(visits[0] + "prep/")
    say(f"{len(frontdesk.seen_assets)} static files answered 200 for the front desk")

    say("book an appointment as the front desk")
    before = len(mailbox.received())
    [mrn] = [row[1] for row in patients.rows if row and row[0] == "Garcia, Maria"]
    form = parse(frontdesk.get("/appointments/book/").text)
    day = next_weekday(datetime.now(UTC).date() + timedelta(days=9))
    page = frontdesk.post(
        "/appointments/book/", demo_booking(form, mrn=mrn, day=day, start_time="15:00")
    )
    check(
        page.status_code == 200 and re.search(r"/appointments/\d+/$", page.url),
        f"booking failed: {page.url}\n{page.text[-2500:]}",
    )

    def confirmation():
        procs.alive()
        for message in mailbox.received()[before:]:
            if message["To"] == "maria.garcia@example.com" and "booked" in message["Subject"]:
                calendars = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
                ics = calendars[0].get_payload(decode=True) if calendars else b""
                if day.strftime("%Y%m%d").encode() in ics:
                    return message
        return None

    message = wait_until(confirmation, timeout=MAIL_TIMEOUT, what="the booking confirmation")
    say(f"confirmation received: {message['Subject']!r}, Message-ID {message['Message-ID']}")
    links = re.findall(r"https?://[^\s\"<>]+", message.get_body(("plain",)).get_content())
    check(
        any(link.startswith(f"https://127.0.0.1:{port}/") for link in links),
        f"the email's links do not point at SITE_URL: {links}",
    )

    say("a patient link: no Referer policy leak, no token in the access log")
    patient_link = next(link for link in links if "/p/" in link)
    token = patient_link.rstrip("/").rsplit("/", 1)[-1]
    linked = Browser(base).get(patient_link)
    check(linked.headers.get("Referrer-Policy") == "strict-origin", dict(linked.headers))

    procs.stop_all()
    access_log = (procs.logs / "gunicorn.log").read_text(errors="replace")
    check("[redacted]" in access_log, "no redacted patient link in the access log")
    check(token not in access_log, "a patient-link token is in the access log")
    for name in ("gunicorn", "worker", "beat"):
        text = (procs.logs / f"{name}.log").read_text(errors="replace")
        check("Traceback" not in text, f"{name} logged a traceback:\n{procs.tail(name, 80)}")
        check(token not in text, f"{name} logged a patient-link token")


def main() -> int:
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        if not os.environ.get(name):
            print(f"set {name}", file=sys.stderr)
            return 2

    def out_of_time(signum, frame):
        raise SmokeFailure(f"the smoke test ran over {SMOKE_TIMEOUT}s")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(SMOKE_TIMEOUT)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clinic-smoke-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        logs.mkdir()
        procs = Processes(logs)
        try:
            smoke(work, procs)
        except BaseException as exc:
            for name, _process in procs.started:
                print(f"--- {name} log (tail)\n{procs.tail(name)}", file=sys.stderr)
            print(f"SMOKE FAILED: {exc}", file=sys.stderr)
            return 1
        finally:
            signal.alarm(0)
            procs.stop_all()
    say(f"passed in {time.monotonic() - started:.0f}s; every process stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
