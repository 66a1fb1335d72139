"""Two points measured in turns, page by page, so that both see the same machine.

`benchmark --interleave 1x1=URL 10x10=URL` starts one process per point
(`manage.py benchmark_point`), each on the database holding that point's data, and
drives them with a line of JSON at a time: each page is warmed up on both, then sampled
in rounds, the two taking turns (A then B, then B then A, so a machine that slows down
or speeds up during a page weighs on both alike), then replayed for its floor. Measured
one after the other, minutes apart, the two halves of a run can run on a machine that
has changed speed between them (the fourteenth round's runs 1, 5 and 6: the same bare
page took 0.69 to 1.67 times as long in the second half), and the 10x ÷ 1x of every
page measures that change as well as the data's.

Only one process measures at a time: the other waits for its next line.
"""

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from urllib.parse import urlsplit

from django.conf import settings

from procedures.devtools.benchmarks.report import Measure, label, summarise
from procedures.devtools.benchmarks.runner import (
    BenchmarkError,
    PagesAt,
    Point,
    calibration_ms,
    holds_point,
    load_average,
    log_measure,
    measuring,
    point_plan,
    run_dispatch,
    seed_point,
)

# A line the measuring process means for its driver starts with this; anything else
# on its output (a library's print) is not the protocol's.
PREFIX = "BENCHMARK "


def parse_point(text: str) -> tuple[Point, str]:
    """'10x10=postgres://host/db' -> (Point(10, 10), the URL)."""
    name, sep, url = text.partition("=")
    scale_text, x, volume_text = name.strip().partition("x")
    if not (sep and x and url.strip() and scale_text.isdigit() and volume_text.isdigit()):
        raise ValueError(
            f"{text!r}: give each point as PATIENTSxVOLUME=DATABASE_URL, "
            "such as 10x10=postgres://127.0.0.1/clinic_perf"
        )
    point = Point(int(scale_text), int(volume_text))
    if point.scale < 1 or point.volume < 1:
        raise ValueError(f"{text!r}: the factors are at least 1")
    return point, url.strip()


def _cache_url(point: Point) -> str:
    """This process's cache, with a key prefix of the point's own: two databases' counts
    and sessions must not meet in one Redis."""
    base = os.environ.get("CACHE_URL", "")
    if not base:
        return ""  # each process's own memory
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}key_prefix=benchmark-{label(point.scale, point.volume)}"


class PointProcess:
    """The process measuring one point: `manage.py benchmark_point` on its database."""

    def __init__(self, point: Point, url: str, options: dict):
        self.point, self.name = point, label(point.scale, point.volume)
        self.database = urlsplit(url).path.lstrip("/") or url  # for the report: no password
        env = {**os.environ, "DATABASE_URL": url}
        # Its reports read its own database, not a replica of another's.
        env.pop("REPLICA_DATABASE_URL", None)
        cache = _cache_url(point)
        if cache:
            env["CACHE_URL"] = cache
        # Its standard error, for the message if it stops (closed in `close`).
        self.errors = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 (our own manage.py, our arguments)
            [
                sys.executable,
                str(settings.BASE_DIR / "manage.py"),
                "benchmark_point",
                f"--scale={point.scale}",
                f"--volume={point.volume}",
                f"--options={json.dumps(options)}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
            env=env,
        )
        if self.process.stdin is None or self.process.stdout is None:  # never: PIPE
            raise RuntimeError("no pipes")
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        try:
            self.hello = self._answer()
        except BenchmarkError:
            self.close()
            raise

    def _answer(self) -> dict:
        for line in self.stdout:
            if line.startswith(PREFIX):
                answer = json.loads(line[len(PREFIX) :])
                if "error" in answer:
                    raise BenchmarkError(f"{self.name} ({self.database}): {answer['error']}")
                return answer
        self.process.wait()
        self.errors.seek(0)
        # Its last words: a traceback's last line is the error.
        lines = [line for line in self.errors.read().splitlines() if line.strip()]
        raise BenchmarkError(
            f"{self.name} ({self.database}): the measuring process stopped "
            f"(exit {self.process.returncode}): {lines[-1] if lines else 'no message'}"
        )

    def ask(self, op: str, **args) -> dict:
        self.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.stdin.flush()
        return self._answer()

    def close(self) -> None:
        if not self.stdin.closed:
            self.stdin.close()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.errors.close()


def chunks(total: int, rounds: int) -> list[int]:
    """`total` requests in `rounds` turns as even as can be (7 in 3: 3, 2, 2)."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if i < total % rounds else 0) for i in range(rounds)]


def run_interleaved(
    specs: list[tuple[Point, str]],
    *,
    base_patients: int,
    requests: int,
    rounds: int = 6,
    providers: int = 50,
    rooms: int = 30,
    only: set[str] | None = None,
    dispatch_count: int | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Every page at every point, the points taking turns; the JSON-able result with
    the goals checked, as `runner.run`'s. Each point's database must already hold its
    seeded data (`seed_scale`): nothing is seeded here."""
    specs = sorted(specs, key=lambda spec: (spec[0].scale, spec[0].volume))
    if len({spec[0] for spec in specs}) != len(specs) or len(specs) < 2:
        raise BenchmarkError("--interleave takes two or more different points")
    options = {
        "base_patients": base_patients,
        "providers": providers,
        "rooms": rooms,
        "only": sorted(only) if only else None,
    }
    load_before = load_average()
    calibration_before = calibration_ms()
    processes: list[PointProcess] = []
    measures: list[Measure] = []
    try:
        for point, url in specs:
            log(f"Starting the process measuring {label(point.scale, point.volume)}...")
            processes.append(PointProcess(point, url, options))
        names = processes[0].hello["names"]
        for process in processes[1:]:
            if process.hello["names"] != names:
                raise BenchmarkError(f"{process.name} measures other pages than {names}")
        turns = chunks(requests, rounds)
        for name in names:
            for process in processes:
                process.ask("prepare", name=name)
            for turn, n in enumerate(turns):
                order = processes if turn % 2 == 0 else processes[::-1]
                for process in order:
                    process.ask("sample", name=name, n=n)
            for process in processes:
                measure = Measure(**process.ask("finish", name=name)["measure"])
                log(f"{process.name}:")
                log_measure(measure, log)
                measures.append(measure)
    finally:
        for process in processes:
            process.close()
    dispatch = run_dispatch(dispatch_count, log=log) if dispatch_count else None
    result = summarise(
        measures,
        [process.hello["seed"] for process in processes],
        dispatch,
        points=[(point.scale, point.volume) for point, _url in specs],
        requests=requests,
        load_average={"start": load_before, "end": load_average()},
        calibration_ms={"start": calibration_before, "end": calibration_ms()},
    )
    result["interleaved"] = {
        "rounds": len(turns),
        "databases": {process.name: process.database for process in processes},
    }
    return result


def serve(point: Point, options: dict, *, lines, say: Callable[[str], None], log) -> None:
    """The measuring process's side (`manage.py benchmark_point`): answer each line of
    `lines` (prepare, sample, finish a page) until they end."""

    def answer(payload: dict) -> None:
        say(PREFIX + json.dumps(payload, default=str))

    plan = point_plan(point, options["base_patients"], options["providers"], options["rooms"])
    if not holds_point(point, options["base_patients"], options["providers"], options["rooms"]):
        answer(
            {
                "error": (
                    f"this database does not hold the data of {label(point.scale, point.volume)}"
                    f" ({plan.patients:,} patients, {plan.rooms} rooms): seed it first with "
                    f"manage.py seed_scale --patients {plan.patients} --volume {point.volume}"
                )
            }
        )
        return
    only = set(options["only"]) if options.get("only") else None
    with measuring():
        seed = seed_point(plan, point, reuse=True, log=log)
        pages = PagesAt(plan=plan, factor=point.scale, only=only)
        try:
            answer({"seed": seed, "names": list(pages.scenarios)})
            for line in lines:
                ask = json.loads(line)
                try:
                    if ask["op"] == "prepare":
                        answer({"queries": pages.prepare(ask["name"])})
                    elif ask["op"] == "sample":
                        pages.sample(ask["name"], int(ask["n"]))
                        answer({})
                    elif ask["op"] == "finish":
                        answer({"measure": asdict(pages.finish(ask["name"]))})
                    else:
                        answer({"error": f"no such step: {ask['op']!r}"})
                except BenchmarkError as exc:
                    answer({"error": str(exc)})
                    return
        finally:
            pages.close()
