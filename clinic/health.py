"""Checks behind /healthz. Each returns (ok, detail)."""

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import Heartbeat


def check_database() -> tuple[bool, dict]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, {"status": "ok", "vendor": connection.vendor}
    except Exception as exc:  # any failure to reach the database is "down"
        return False, {"status": "error", "error": exc.__class__.__name__}


def check_broker() -> tuple[bool, dict]:
    from clinic.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, {"status": "ok", "transport": conn.transport_cls}
    except Exception as exc:  # any failure to reach the broker is "down"
        return False, {"status": "error", "error": exc.__class__.__name__}


def check_dispatcher() -> tuple[bool, dict]:
    beat = Heartbeat.objects.filter(name="dispatcher").first()
    if beat is None:
        return False, {"status": "never_run"}
    age = (timezone.now() - beat.last_run_at).total_seconds()
    ok = age <= settings.HEALTHZ_DISPATCHER_MAX_AGE_SECONDS
    return ok, {
        "status": "ok" if ok else "stale",
        "last_run_at": beat.last_run_at.isoformat(),
        "age_seconds": round(age, 1),
    }


def run_checks() -> tuple[bool, dict]:
    checks = {
        "database": check_database,
        "broker": check_broker,
        "dispatcher": check_dispatcher,
    }
    # Domain apps add their own checks by dotted path (clinic knows no domain).
    for name, path in getattr(settings, "HEALTHZ_EXTRA_CHECKS", {}).items():
        checks[name] = import_string(path)
    report, healthy = {}, True
    for name, check in checks.items():
        ok, detail = check()
        report[name] = detail
        healthy = healthy and ok
    return healthy, report
