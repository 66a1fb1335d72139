"""No code path schedules a Celery task more than 5 minutes ahead (DESIGN.md: Redis
redelivers long ETAs, and the database is the schedule). Two guards: a scan of the
source for `countdown=`/`eta=`, and the suite-wide patch of `Task.apply_async` in
the root conftest.py."""

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from conftest import MAX_CELERY_DELAY_SECONDS
from procedures.messaging.tasks import dispatch_due_reminders

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "var", "node_modules", "staticfiles", ".git"}


def project_sources():
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIP or "tests" in parts or path.name == "conftest.py":
            continue
        yield path


def long_delays(source: str) -> list[str]:
    """`countdown=`/`eta=` keywords (and schedule options) that are not a small constant."""
    found = []
    for node in ast.walk(ast.parse(source)):
        keywords = []
        if isinstance(node, ast.Call):
            keywords = [(k.arg, k.value) for k in node.keywords if k.arg in ("countdown", "eta")]
        elif isinstance(node, ast.Dict):
            keywords = [
                (k.value, v)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and k.value in ("countdown", "eta")
            ]
        for name, value in keywords:
            small = (
                name == "countdown"
                and isinstance(value, ast.Constant)
                and isinstance(value.value, int | float)
                and value.value <= MAX_CELERY_DELAY_SECONDS
            )
            if not small:
                found.append(f"line {node.lineno}: {name}={ast.unparse(value)}")
    return found


def test_no_source_schedules_a_task_with_a_long_or_computed_delay():
    offenders = {
        str(path.relative_to(ROOT)): hits
        for path in project_sources()
        if (hits := long_delays(path.read_text()))
    }
    assert offenders == {}, "use a due row and the beat, not a Celery ETA"


def test_the_scan_catches_the_ways_to_schedule_far_ahead():
    assert long_delays("t.apply_async(countdown=3600)") == ["line 1: countdown=3600"]
    assert long_delays("t.apply_async(eta=when)") == ["line 1: eta=when"]
    assert long_delays("t.apply_async(countdown=delay)") == ["line 1: countdown=delay"]
    assert long_delays("send_task('x', **{'countdown': 900})") == ["line 1: countdown=900"]
    assert long_delays("t.apply_async(countdown=30)") == []


def test_the_suite_refuses_a_long_countdown_at_run_time():
    with pytest.raises(AssertionError, match="no Celery ETA/countdown over 300s"):
        dispatch_due_reminders.apply_async(countdown=301)
    with pytest.raises(AssertionError, match="scheduled"):
        dispatch_due_reminders.apply_async(eta=timezone.now() + dt.timedelta(hours=1))
