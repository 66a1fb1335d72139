"""`manage.py benchmark` end to end at a tiny scale (three of its pages; all of them are
in test_query_counts_scale): each answers, the query
counts it reports are the same at both scales, the JSON and the table are written.
Timings are not asserted (they are the benchmark's business, not a test's)."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command

from patients import models
from procedures.devtools import scale

pytestmark = pytest.mark.django_db

WEDNESDAY = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_benchmark_reports_every_page_at_both_scales(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command(
        "benchmark",
        base_patients=20,
        scale="1,2",
        requests=3,
        providers=4,
        rooms=2,
        dispatch=0,
        only="today board,pending results worklist,booking POST",
        json_path=str(out),
    )
    result = json.loads(out.read_text())
    pages = {p["scenario"]: p for p in result["pages"]}
    assert set(pages) == {"today board", "pending results worklist", "booking POST"}
    for name, page in pages.items():
        assert page["errors"] == 0, name
        assert page["goals"]["same_queries"], (name, page["queries"])
        assert page["floor_ms"]["2"] > 0
    assert [s["patients"] for s in result["seeds"]] == [20, 40]
    printed = capsys.readouterr().out
    assert "| today board |" in printed
    assert "p50÷floor" in printed
    # It leaves its data behind for a look, and seed_scale --clear removes it.
    call_command("seed_scale", patients=1, clear=True, verbosity=0)
    assert not models.Patient.objects.filter(mrn__startswith=scale.MRN_PREFIX).exists()


def test_the_scales_must_be_two_factors():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="two factors"):
        call_command("benchmark", scale="10", dispatch=0)
