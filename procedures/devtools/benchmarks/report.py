"""The benchmark's summary: goals per page, and the table printed after a run.

Points are named "<patients factor>x<volume factor>": "1x1" is the base patients at
one clinic network's ordinary day, "10x10" ten times the patients and ten times the
visits a day. Ratios compare the last point with the first."""

from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

from django.db import connection

GOAL_SCALE_RATIO = 1.3
GOAL_FLOOR_RATIO = 3.0


@dataclass
class Measure:
    scenario: str
    scale: int
    patients: int
    queries: int
    p50_ms: float
    p95_ms: float
    bare_p50_ms: float
    sql_p50_ms: float
    floor_ms: float
    volume: int = 1
    # Statements replayed for the floor: the page's own, less the bare page's.
    replayed: int = 0
    goal_ms: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def floor_ratio(self) -> float:
        return self.p50_ms / self.floor_ms if self.floor_ms else 0.0

    @property
    def point(self) -> str:
        return label(self.scale, self.volume)


def label(scale: int, volume: int) -> str:
    return f"{scale}x{volume}"


def _page(name: str, at: dict[str, Measure], labels: list[str]) -> dict[str, Any]:
    base, top = at[labels[0]], at[labels[-1]]
    scale_ratio = top.p50_ms / base.p50_ms if base.p50_ms and len(labels) > 1 else None
    goal_ms = top.goal_ms
    goals: dict[str, bool] = {
        "same_queries": len({at[x].queries for x in labels}) == 1,
        "floor_ratio": top.floor_ratio <= GOAL_FLOOR_RATIO,
    }
    if scale_ratio is not None:
        goals["scale_ratio"] = scale_ratio <= GOAL_SCALE_RATIO
    if goal_ms is not None:
        goals["p50_goal"] = all(at[x].p50_ms <= goal_ms for x in labels)

    def each(attr: str) -> dict[str, float]:
        return {x: round(getattr(at[x], attr), 2) for x in labels}

    return {
        "scenario": name,
        "queries": {x: at[x].queries for x in labels},
        "replayed": {x: at[x].replayed for x in labels},
        "p50_ms": each("p50_ms"),
        "p95_ms": each("p95_ms"),
        "floor_ms": each("floor_ms"),
        "goal_p50_ms": goal_ms,
        "scale_ratio": round(scale_ratio, 2) if scale_ratio is not None else None,
        "floor_ratio": round(top.floor_ratio, 2),
        "goals": goals,
    }


def summarise(
    measures: list[Measure],
    seeds: list[dict],
    dispatch: dict | None,
    *,
    points: list[tuple[int, int]],
    requests: int,
    load_average: dict | None = None,
    calibration_ms: dict | None = None,
) -> dict:
    labels = [label(s, v) for s, v in points]
    by: dict[str, dict[str, Measure]] = {}
    for m in measures:
        by.setdefault(m.scenario, {})[m.point] = m
    pages = [_page(name, at, labels) for name, at in by.items() if set(labels) <= set(at)]
    result = {
        "database": connection.vendor,
        "points": labels,
        "requests": requests,
        "load_average": load_average,
        # The machine's speed at the start and the end (runner.calibration_ms).
        "calibration_ms": calibration_ms,
        "seeds": seeds,
        # The bare page at each point (median over the pages): it does the same work at
        # every scale, so a difference between points is the machine's, not the data's.
        "bare_page_ms": bare_page_ms(measures, labels),
        "pages": pages,
        "measures": [asdict(m) for m in measures],
        "dispatch": dispatch,
        "goals": {
            "scale_ratio_max": GOAL_SCALE_RATIO,
            "floor_ratio_max": GOAL_FLOOR_RATIO,
        },
    }
    if dispatch:
        dispatch["goal_met"] = dispatch["goals"]["all_met"]  # benchmark_dispatch's own goals
    result["all_goals_met"] = all(all(p["goals"].values()) for p in pages) and (
        dispatch is None or dispatch["goal_met"]
    )
    result["goals_not_met"] = goals_not_met(pages)
    return result


def bare_page_ms(measures: list[Measure], labels: list[str]) -> dict[str, float]:
    """The median bare page (no query of its own: the middleware, session, login and
    role check) measured beside each page, at each point."""
    at: dict[str, list[float]] = {}
    for m in measures:
        at.setdefault(m.point, []).append(m.bare_p50_ms)
    return {x: round(median(at[x]), 2) for x in labels if at.get(x)}


def goals_not_met(pages: list[dict]) -> dict[str, list[str]]:
    """Each goal some page missed, with those pages: which goals a verdict of "not
    met" is about, without reading the whole table."""
    missed: dict[str, list[str]] = {}
    for page in pages:
        for goal, met in page["goals"].items():
            if not met:
                missed.setdefault(goal, []).append(page["scenario"])
    return missed


def verdict(result: dict) -> str:
    """The run's last line: all met, or which goals were missed and on how many pages."""
    if result["all_goals_met"]:
        return "All goals met."
    missed = result.get("goals_not_met") or {}
    parts = [
        f"{goal} on {len(names)} page(s) ({', '.join(names)})" for goal, names in missed.items()
    ]
    if result.get("dispatch") and not result["dispatch"]["goal_met"]:
        parts.append("the reminder dispatch")
    return "Some goals are not met: " + "; ".join(parts) + "."


def combine(earlier: dict, later: dict, *, source: str) -> dict:
    """Two runs as one result: the earlier run's points first (each run measured the
    data seeded in its own database, with `--reuse`), the goals checked across both.
    The result names the earlier run and keeps both runs' load averages."""
    labels = earlier["points"] + [x for x in later["points"] if x not in earlier["points"]]
    points = []
    for name in labels:
        scale, volume = name.split("x")
        points.append((int(scale), int(volume)))
    measures = [Measure(**m) for m in earlier["measures"] + later["measures"]]
    result = summarise(
        measures,
        earlier["seeds"] + later["seeds"],
        later.get("dispatch"),
        points=sorted(points),
        requests=later["requests"],
        load_average=later.get("load_average"),
        calibration_ms=later.get("calibration_ms"),
    )
    result["compared_with"] = {
        "json": source,
        "points": earlier["points"],
        "load_average": earlier.get("load_average"),
        "calibration_ms": earlier.get("calibration_ms"),
    }
    return result


def table(result: dict) -> str:
    """The result as a Markdown table."""
    labels = result["points"]
    base, top = labels[0], labels[-1]
    ok = {True: "pass", False: "FAIL"}
    lines = [
        f"| page | queries {' / '.join(labels)} | p50 {base} (ms) | p50 {top} (ms) "
        f"| p95 {top} (ms) | floor {top} (ms) | goal p50 (ms) | {top}÷{base} "
        f"(≤ {GOAL_SCALE_RATIO}) | p50÷floor (≤ {GOAL_FLOOR_RATIO:g}) | goals |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["pages"]:
        failed = [k for k, v in p["goals"].items() if not v]
        ratio = "-" if p["scale_ratio"] is None else f"{p['scale_ratio']:.2f}"
        goal = "-" if p["goal_p50_ms"] is None else f"{p['goal_p50_ms']:g}"
        lines.append(
            f"| {p['scenario']} | {' / '.join(str(p['queries'][x]) for x in labels)} "
            f"| {p['p50_ms'][base]:.1f} | {p['p50_ms'][top]:.1f} "
            f"| {p['p95_ms'][top]:.1f} | {p['floor_ms'][top]:.1f} | {goal} "
            f"| {ratio} | {p['floor_ratio']:.2f} "
            f"| {ok[not failed]}{' (' + ', '.join(failed) + ')' if failed else ''} |"
        )
    load = result.get("load_average")
    if load:
        lines.append("")
        lines.append(
            f"Load average (1, 5, 15 min) at the start {load['start']}, at the end {load['end']}."
        )
    calibration = result.get("calibration_ms")
    if calibration:
        earlier = (result.get("compared_with") or {}).get("calibration_ms")
        lines.append(
            "Calibration (a fixed 500-row template, no database; the machine's speed): "
            f"{calibration['start']:g} ms at the start, {calibration['end']:g} at the end"
            + (
                f"; the compared run's {earlier['start']:g} and {earlier['end']:g}."
                if earlier
                else "."
            )
        )
    bare = result.get("bare_page_ms") or {}
    if len(bare) > 1:
        first, last = bare[labels[0]], bare[labels[-1]]
        lines.append(
            "Bare page (the same work at every point; the machine's speed between them): "
            + ", ".join(f"{x} {ms:g} ms" for x, ms in bare.items())
            + (f"; {last / first:.2f} times from {labels[0]} to {labels[-1]}." if first else ".")
        )
    d = result.get("dispatch")
    if d:
        lines.append("")
        lines.append(
            f"Reminder dispatch, {d['emails']:,} emails: "
            + "; ".join(
                f"{run['worker_processes']} worker process(es) {run['drain_seconds']:.0f} s"
                for run in d["runs"]
            )
            + f"; two ÷ one {d['goals'].get('scaling', '-')}, duplicates "
            f"{d['goals']['duplicates']}: {ok[d['goal_met']]}."
        )
    return "\n".join(lines)
