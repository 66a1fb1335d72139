"""`manage.py benchmark` end to end at a tiny scale (a few of its pages; all of them are
in test_query_counts_scale): each answers, the query counts it reports are the same at
every point, the JSON and the table are written, each page's goal sits beside it, and
the first wrong answer stops the run. Timings are not asserted (they are the
benchmark's business, not a test's)."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
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


def test_interleaved_points_take_turns_page_by_page(monkeypatch):
    """Each page: prepared at both points, then sampled in turns, A B then B A (so a
    machine changing speed during the page weighs on both alike), then finished."""
    from procedures.devtools.benchmarks import interleave

    steps: list[tuple[str, str, str, int]] = []

    class Recorded:
        def __init__(self, point, url, options):
            self.name = f"{point.scale}x{point.volume}"
            self.point, self.database = point, url.rsplit("/", 1)[-1]
            self.hello = {"names": ["today board", "navigation counts"], "seed": {}}

        def ask(self, op, *, name, n=0):
            steps.append((self.name, op, name, n))
            if op != "finish":
                return {}
            return {
                "measure": {
                    "scenario": name,
                    "scale": self.point.scale,
                    "volume": self.point.volume,
                    "patients": 20 * self.point.scale,
                    "queries": 5,
                    "p50_ms": 10.0,
                    "p95_ms": 12.0,
                    "bare_p50_ms": 2.0,
                    "sql_p50_ms": 3.0,
                    "floor_ms": 5.0,
                }
            }

        def close(self):
            steps.append((self.name, "close", "", 0))

    monkeypatch.setattr(interleave, "PointProcess", Recorded)
    result = interleave.run_interleaved(
        [interleave.parse_point("10x10=postgres://h/big"), interleave.parse_point("1x1=pg://h/a")],
        base_patients=20,
        requests=7,
        rounds=3,
        log=lambda text: None,
    )
    board = [s for s in steps if s[2] == "today board"]
    assert board == [
        ("1x1", "prepare", "today board", 0),
        ("10x10", "prepare", "today board", 0),
        ("1x1", "sample", "today board", 3),
        ("10x10", "sample", "today board", 3),
        ("10x10", "sample", "today board", 2),
        ("1x1", "sample", "today board", 2),
        ("1x1", "sample", "today board", 2),
        ("10x10", "sample", "today board", 2),
        ("1x1", "finish", "today board", 0),
        ("10x10", "finish", "today board", 0),
    ]
    # Every page at every point, then both processes closed.
    assert steps[-2:] == [("1x1", "close", "", 0), ("10x10", "close", "", 0)]
    assert result["points"] == ["1x1", "10x10"]
    assert result["interleaved"] == {"rounds": 3, "databases": {"1x1": "a", "10x10": "big"}}
    assert {p["scenario"]: p["scale_ratio"] for p in result["pages"]} == {
        "today board": 1.0,
        "navigation counts": 1.0,
    }


@pytest.mark.parametrize(
    "text", ["10=postgres://h/db", "1x1", "axb=postgres://h/db", "0x1=postgres://h/db"]
)
def test_an_interleaved_point_must_name_its_factors_and_database(text):
    with pytest.raises(CommandError, match=r"--interleave .*(PATIENTSxVOLUME|at least 1)"):
        call_command("benchmark", interleave=[text, "10x10=postgres://h/b"], dispatch=0)


def _pg(settings_dict: dict, *args: str) -> None:
    """A PostgreSQL client program (createdb, pg_dump...) against the test's server."""
    common = [
        "-h",
        settings_dict.get("HOST") or "127.0.0.1",
        "-p",
        str(settings_dict.get("PORT") or 5432),
    ]
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    done = subprocess.run(
        [args[0], *common, "-U", settings_dict["USER"], *args[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def _url(settings_dict: dict, name: str) -> str:
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{settings_dict['USER']}{password}@{host}:{port}/{name}"


@pytest.mark.services
@pytest.mark.django_db(databases=["default", "replica"], transaction=True)
def test_two_databases_measured_in_turns_compare_as_one_run(postgres, tmp_path):
    """The real thing: two processes, each on a database seeded with its point's data,
    measure the same pages in turns; the run's JSON compares them as one run would, and
    a database that does not hold its point's data stops the run with what to seed."""
    settings_dict = postgres.settings_dict
    first = settings_dict["NAME"]
    second = f"{first}_point2"
    scale.scale_seed(
        scale.ScalePlan(patients=20, providers=4, rooms=2),
        progress=lambda table, total: lambda n: None,
    )
    dump = tmp_path / "first.dump"
    _pg(settings_dict, "pg_dump", "--format=custom", "--no-owner", f"--file={dump}", first)
    _pg(settings_dict, "dropdb", "--if-exists", second)
    _pg(settings_dict, "createdb", second)
    try:
        _pg(settings_dict, "pg_restore", "--no-owner", f"--dbname={second}", str(dump))
        # The second database holds twice the patients and twice the day's work.
        seeded = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "seed_scale",
                "--patients=40",
                "--volume=2",
                "--providers=4",
                "--rooms=2",
                "--no-progress",
            ],
            env={**os.environ, "DATABASE_URL": _url(settings_dict, second)},
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert seeded.returncode == 0, seeded.stderr
        common = {
            "base_patients": 20,
            "providers": 4,
            "rooms": 2,
            "requests": 4,
            "rounds": 2,
            "dispatch": 0,
            "only": "navigation counts; patient search: MRN",
        }
        out = tmp_path / "both.json"
        points = [f"2x2={_url(settings_dict, second)}", f"1x1={_url(settings_dict, first)}"]
        call_command("benchmark", interleave=points, json_path=str(out), **common)

        result = json.loads(out.read_text())
        assert result["points"] == ["1x1", "2x2"]
        assert result["interleaved"] == {"rounds": 2, "databases": {"1x1": first, "2x2": second}}
        assert {p["scenario"] for p in result["pages"]} == {
            "navigation counts",
            "patient search: MRN",
        }
        for page in result["pages"]:
            assert page["goals"]["same_queries"], page
            assert page["scale_ratio"] is not None
            assert page["floor_ms"]["1x1"] > 0 and page["floor_ms"]["2x2"] > 0
        assert {s["scale"]: s["patients"] for s in result["seeds"]} == {1: 20, 2: 40}

        # The second point on a database without its data, or on none: the run stops,
        # saying what to seed, or with the measuring process's last words.
        for database, said in (
            (
                first,
                r"2x2 \(.*\): this database does not hold the data of 2x2 \(40 patients.*"
                r"seed_scale --patients 40 --volume 2",
            ),
            (
                "no_such_db",
                r"2x2 \(no_such_db\): the measuring process stopped \(exit 1\): .*"
                r'database "no_such_db" does not exist',
            ),
        ):
            points = [f"1x1={_url(settings_dict, first)}", f"2x2={_url(settings_dict, database)}"]
            with pytest.raises(CommandError, match=said):
                call_command("benchmark", interleave=points, **common)
    finally:
        postgres.close()  # the children's sessions are gone; ours does not hold `second`
        _pg(settings_dict, "dropdb", "--if-exists", second)
