"""`manage.py benchmark` end to end at a tiny scale (a few of its pages; all of them are
in test_query_counts_scale): each answers, the query counts it reports are the same at
every point, the JSON and the table are written, each page's goal sits beside it, and
the first wrong answer stops the run. Timings are not asserted (they are the
benchmark's business, not a test's)."""

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from clinic import roles
from patients import models
from procedures.devtools import scale
from procedures.devtools.benchmarks import runner
from procedures.devtools.benchmarks.runner import BenchmarkError, Request
from procedures.devtools.benchmarks.scenarios import Scenario

pytestmark = pytest.mark.django_db(databases=["default", "replica"])

WEDNESDAY = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_benchmark_reports_every_page_at_each_point(tmp_path, capsys):
    out = tmp_path / "bench.json"
    call_command(
        "benchmark",
        base_patients=20,
        scale="1,2",
        volume="1,2",
        diagonal=True,
        requests=3,
        providers=4,
        rooms=2,
        dispatch=0,
        only="today board,navigation counts,pending results worklist,booking POST",
        json_path=str(out),
    )
    result = json.loads(out.read_text())
    assert result["points"] == ["1x1", "2x2"]
    pages = {p["scenario"]: p for p in result["pages"]}
    assert set(pages) == {
        "today board",
        "navigation counts",
        "pending results worklist",
        "booking POST",
    }
    for name, page in pages.items():
        assert page["goals"]["same_queries"], (name, page["queries"])
        assert page["floor_ms"]["2x2"] > 0
        # The replayed SQL leaves out the session and user queries the bare page paid.
        assert page["replayed"]["2x2"] < page["queries"]["2x2"], name
    assert pages["today board"]["goal_p50_ms"] == 40
    assert pages["navigation counts"]["goal_p50_ms"] == 5
    assert "p50_goal" in pages["today board"]["goals"]
    assert pages["booking POST"]["goal_p50_ms"] is None
    # Ten times the daily work is ten times the providers and rooms.
    seeds = {s["scale"]: s for s in result["seeds"]}
    assert (seeds[1]["patients"], seeds[2]["patients"]) == (20, 40)
    assert seeds[2]["visits_a_day"] == 2 * seeds[1]["visits_a_day"]
    assert len(result["load_average"]["start"]) == 3
    # The machine's speed, so that runs on two machines can be told apart.
    assert result["calibration_ms"]["start"] > 0 and result["calibration_ms"]["end"] > 0
    printed = capsys.readouterr().out
    assert "| today board |" in printed
    assert "Load average" in printed
    assert "Calibration (a fixed 500-row template" in printed
    # The bare page at each point, the machine's speed between them.
    assert set(result["bare_page_ms"]) == {"1x1", "2x2"}
    assert all(ms > 0 for ms in result["bare_page_ms"].values())
    assert "Bare page (the same work at every point" in printed
    # The verdict names each goal missed and its pages.
    missed = {
        (goal, p["scenario"])
        for p in result["pages"]
        for goal, met in p["goals"].items()
        if not met
    }
    assert {(g, n) for g, names in result["goals_not_met"].items() for n in names} == missed
    for goal, _name in missed:
        assert f"{goal} on " in printed
    # It leaves its data behind for a look, and seed_scale --clear removes it.
    call_command("seed_scale", patients=1, clear=True, verbosity=0)
    assert not models.Patient.objects.filter(mrn__startswith=scale.MRN_PREFIX).exists()


@time_machine.travel(WEDNESDAY, tick=False)
def test_two_runs_at_one_point_each_compare_as_one(tmp_path):
    """1x1 and 2x2 each measured on the data seeded for it (in production, two
    databases and --reuse): the second run, given the first's JSON, checks the goals
    across both and says which run it compared with."""
    small, both = tmp_path / "1x1.json", tmp_path / "both.json"
    common = {
        "base_patients": 20,
        "requests": 3,
        "providers": 4,
        "rooms": 2,
        "dispatch": 0,
        "reuse": True,
        # Semicolons: a name with a comma in it can be chosen.
        "only": "navigation counts; today board, all sites",
    }
    call_command("benchmark", scale="1", volume="1", json_path=str(small), **common)
    call_command(
        "benchmark", scale="2", volume="2", json_path=str(both), compare=str(small), **common
    )
    result = json.loads(both.read_text())
    assert result["points"] == ["1x1", "2x2"]
    assert result["compared_with"] == {
        "json": str(small),
        "points": ["1x1"],
        "load_average": json.loads(small.read_text())["load_average"],
        "calibration_ms": json.loads(small.read_text())["calibration_ms"],
    }
    assert {p["scenario"] for p in result["pages"]} == {
        "navigation counts",
        "today board, all sites",
    }
    for page in result["pages"]:
        assert set(page["p50_ms"]) == {"1x1", "2x2"}
        assert page["scale_ratio"] is not None and "scale_ratio" in page["goals"]
        assert page["goals"]["same_queries"], page


@time_machine.travel(WEDNESDAY, tick=False)
def test_a_redirect_to_https_stops_the_run_with_a_clear_message(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/accounts/login/")  # plain HTTP
    with pytest.raises(BenchmarkError, match="redirected to https://"):
        runner._check("login", Request("get", "/accounts/login/"), response)


def test_a_wrong_status_or_page_stops_the_run(client):
    response = client.get("/today/")  # not logged in: the login page's redirect
    with pytest.raises(BenchmarkError, match="answered 302, expected 200"):
        runner._check("today board", Request("get", "/today/"), response)
    response = client.get("/accounts/login/")
    with pytest.raises(BenchmarkError, match="not with the page expected"):
        runner._check("x", Request("get", "/accounts/login/", expect_text="Pending"), response)


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_command_exits_non_zero_at_the_first_error(monkeypatch):
    broken = Scenario("today board", roles.FRONT_DESK, lambda i: Request("get", "/no-such-page/"))
    monkeypatch.setattr(runner, "scenarios", lambda ctx: [broken])
    with pytest.raises(CommandError, match=r"Benchmark stopped: today board: GET /no-such-page/"):
        call_command(
            "benchmark",
            base_patients=10,
            scale="1,2",
            requests=3,
            providers=2,
            rooms=1,
            dispatch=0,
            only="today board",
        )


def test_the_points_must_be_two():
    with pytest.raises(CommandError, match="two points"):
        call_command("benchmark", scale="10", dispatch=0)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_reused_database_is_vacuumed_where_the_server_runs_no_autovacuum(postgres):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW autovacuum")
        autovacuum = cursor.fetchone()[0] == "on"
    # A VACUUM outside a transaction (it cannot run inside one), only where no
    # autovacuum keeps the database as a live one would be.
    assert runner._vacuum_if_no_autovacuum() is (not autovacuum)


def test_the_verdict_names_each_goal_missed_and_its_pages():
    from procedures.devtools.benchmarks.report import goals_not_met, verdict

    pages = [
        {"scenario": "today board", "goals": {"same_queries": True, "floor_ratio": False}},
        {"scenario": "slot finder", "goals": {"scale_ratio": False, "floor_ratio": False}},
        {"scenario": "patient search", "goals": {"same_queries": True, "p50_goal": True}},
    ]
    missed = goals_not_met(pages)

    assert missed == {"floor_ratio": ["today board", "slot finder"], "scale_ratio": ["slot finder"]}
    assert verdict({"all_goals_met": False, "goals_not_met": missed, "dispatch": None}) == (
        "Some goals are not met: floor_ratio on 2 page(s) (today board, slot finder); "
        "scale_ratio on 1 page(s) (slot finder)."
    )
    assert verdict({"all_goals_met": True}) == "All goals met."
