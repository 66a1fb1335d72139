"""benchmark_labs runs end to end against a real listener process: every message
answered and committed once, its figures in the JSON, nothing left behind. (Its
speed is reported, never asserted.)"""

import contextlib
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Patient
from procedures.labs.models import Lab, LabInboundMessage
from procedures.results.models import TestOrder, TestResult
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.services


def test_it_reports_each_run_and_leaves_nothing_behind(
    postgres, transactional_db, tmp_path, monkeypatch
):
    # The listener is a process of its own: point it at this test's database.
    db = postgres.settings_dict
    monkeypatch.setenv(
        "DATABASE_URL",
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    )
    AppointmentFactory()  # a catalog: procedure, provider, room
    tables = (Patient, TestOrder, TestResult, Lab, LabInboundMessage)
    before = [model.objects.count() for model in tables]
    out = tmp_path / "labs.json"

    # Below target raises after the JSON is written: twelve messages say nothing of speed.
    with contextlib.suppress(CommandError):
        call_command(
            "benchmark_labs",
            count=12,
            connections=[1, 3],
            workers=2,
            processes=1,
            json_path=str(out),
        )

    result = json.loads(out.read_text())
    assert [run["connections"] for run in result["runs"]] == [1, 3]
    for run in result["runs"]:
        assert run["all_committed_once"]
        assert run["acks_aa"] == run["committed_results"] == 12
        assert run["queries_per_message"] == 15
        assert 0 < run["ack_ms_p50"] <= run["ack_ms_p95"]
        assert 0 < run["listener_rss_mb_peak"] < 150
        assert run["listener_cpu_ms_per_message"] > 0
    assert len(result["load_average_before"]) == 3
    assert [model.objects.count() for model in tables] == before
