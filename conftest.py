"""Shared fixtures: users by role, a real SMTP server, and service requirements.

`free_port` is imported here for the tests that take it from this module.

Tests that need PostgreSQL, Redis or Chromium skip on the embedded default but
fail when CLINIC_REQUIRE_SERVICES=1 (as .ci/run sets), so CI never skips them.
"""

import os
import shutil

import pytest

from clinic import roles
from clinic.testing.smtp import free_port, recording_server  # noqa: F401 (free_port: see above)

REQUIRE_SERVICES = os.environ.get("CLINIC_REQUIRE_SERVICES") == "1"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def missing_service(reason: str) -> None:
    """Skip locally, fail in CI: a test that needs a real service never passes silently."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CLINIC_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


# --- Services ----------------------------------------------------------------------


@pytest.fixture
def postgres(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        missing_service("needs PostgreSQL: set DATABASE_URL=postgres://...")
    return connection


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        missing_service("needs Redis: set CELERY_BROKER_URL=redis://...")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        missing_service(f"Redis at {url} is not answering: {exc}")
    return url


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        missing_service("needs Debian's Chromium (apt-get install -y chromium)")
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


# --- A real SMTP server (clinic/testing/smtp.py) ----------------------------------


@pytest.fixture
def smtp_server():
    """An aiosmtpd server on a free port that keeps every message it accepts, parsed."""
    with recording_server() as recorder:
        yield recorder


@pytest.fixture
def smtp_mail(settings, smtp_server):
    """Route Django's email through the real SMTP server above."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # EMAIL_URL=smtp://
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return smtp_server


# --- People ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def clock(request):
    """The shared clock. A test, class or module marked `pytest.mark.clock(moment)` runs
    with time frozen at `moment` (time_machine, no tick); the fixture is that
    time_machine, so a test moves time on with `clock.move_to(...)`. Unmarked: None."""
    marker = request.node.get_closest_marker("clock")
    if marker is None:
        return None
    machine = request.getfixturevalue("time_machine")
    machine.move_to(marker.args[0], tick=False)
    return machine


@pytest.fixture(autouse=True)
def _no_public_holidays(settings):
    """Tests date their visits and results on any weekday of any year: public holidays
    (the `holidays` package) count only in tests that set CLINIC_HOLIDAYS_COUNTRY."""
    settings.CLINIC_HOLIDAYS_COUNTRY = ""


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The same for the site the migrations made from the settings (a site's working
    days skip its own public holidays, invariant 19): tests that want them give a site
    a country."""
    from procedures.catalog.sites import Site

    with django_db_blocker.unblock():
        Site.objects.update(holidays_country="", holidays_subdivision="")


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: what one test cached (the navigation's
    counts) must not answer for another test's rolled-back data."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests create many users: a cheap hasher saves about half a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username: str, role: str | None, **extra):
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user(username=username, password="correct-horse-battery", **extra)
    if role:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def frontdesk_user(db):
    return make_user("fd", roles.FRONT_DESK, first_name="Fran")


@pytest.fixture
def nurse_user(db):
    return make_user("rn", roles.NURSE, first_name="Nia")


@pytest.fixture
def physician_user(db):
    return make_user("md", roles.PHYSICIAN, first_name="Sam")


@pytest.fixture
def admin_user(db):
    return make_user("boss", roles.CLINIC_ADMIN, is_staff=True, is_superuser=True)


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def frontdesk_client(client, frontdesk_user):
    return _client_for(client, frontdesk_user)


@pytest.fixture
def nurse_client(client, nurse_user):
    return _client_for(client, nurse_user)


@pytest.fixture
def physician_client(client, physician_user):
    return _client_for(client, physician_user)


# --- No long Celery ETAs (DESIGN.md: Redis redelivers them) -------------------------

MAX_CELERY_DELAY_SECONDS = 300


@pytest.fixture
def doctor(client):
    """A client logged in as Dr Lee, a physician with a provider of their own (whose
    patients are theirs: the care relationship of clinic/emergency.py)."""
    from procedures.tests.factories import ProviderFactory

    user = make_user("drlee", roles.PHYSICIAN)
    ProviderFactory(user=user, display_name="Dr Lee")
    client.force_login(user)
    client.user = user
    return client


def treats_everyone(user, patient_id) -> bool:
    return True


@pytest.fixture
def care_for_all(settings):
    """Every physician treats every patient: for tests of what a physician does
    on a record, not of who may open it (clinic/tests/test_emergency_access.py and
    procedures/tests/test_care_gate.py test that)."""
    settings.CLINIC_CARE_RELATIONSHIP = "conftest.treats_everyone"


def celery_delay_seconds(options: dict) -> float:
    """How far ahead `apply_async` options schedule a task (0 for at once)."""
    import datetime as dt

    delay = float(options.get("countdown") or 0)
    eta = options.get("eta")
    if eta is not None:
        if isinstance(eta, str):
            eta = dt.datetime.fromisoformat(eta)
        delay = max(delay, (eta - dt.datetime.now(tz=eta.tzinfo or dt.UTC)).total_seconds())
    return delay


@pytest.fixture(autouse=True, scope="session")
def no_long_celery_eta():
    """Fail any test whose code schedules a Celery task more than 5 minutes ahead."""
    from celery.app.task import Task

    real_apply_async = Task.apply_async

    def guarded_apply_async(self, args=None, kwargs=None, *rest, **options):
        delay = celery_delay_seconds(options)
        if delay > MAX_CELERY_DELAY_SECONDS:
            raise AssertionError(
                f"{self.name} scheduled {delay:.0f}s ahead: no Celery ETA/countdown over "
                f"{MAX_CELERY_DELAY_SECONDS}s (write a due row for the beat to pick up instead)"
            )
        return real_apply_async(self, args, kwargs, *rest, **options)

    Task.apply_async = guarded_apply_async
    yield
    Task.apply_async = real_apply_async
