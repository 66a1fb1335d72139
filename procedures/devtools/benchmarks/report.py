"""The benchmark's summary: goals per page, and the table printed after a run."""

from dataclasses import asdict, dataclass, field
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
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def floor_ratio(self) -> float:
        return self.p50_ms / self.floor_ms if self.floor_ms else 0.0


def summarise(
    measures: list[Measure], seeds: list[dict], dispatch: dict | None, *, scales, requests
) -> dict:
    base, top = min(scales), max(scales)
    by = {(m.scenario, m.scale): m for m in measures}
    pages: list[dict[str, Any]] = []
    for name in dict.fromkeys(m.scenario for m in measures):
        low, high = by.get((name, base)), by.get((name, top))
        if not low or not high:
            continue
        scale_ratio = high.p50_ms / low.p50_ms if low.p50_ms else 0.0
        pages.append(
            {
                "scenario": name,
                "queries": {str(base): low.queries, str(top): high.queries},
                "p50_ms": {str(base): round(low.p50_ms, 2), str(top): round(high.p50_ms, 2)},
                "p95_ms": {str(base): round(low.p95_ms, 2), str(top): round(high.p95_ms, 2)},
                "floor_ms": {
                    str(base): round(low.floor_ms, 2),
                    str(top): round(high.floor_ms, 2),
                },
                "errors": low.errors + high.errors,
                "scale_ratio": round(scale_ratio, 2),
                "floor_ratio": round(high.floor_ratio, 2),
                "goals": {
                    "same_queries": low.queries == high.queries,
                    "scale_ratio": scale_ratio <= GOAL_SCALE_RATIO,
                    "floor_ratio": high.floor_ratio <= GOAL_FLOOR_RATIO,
                    "no_errors": low.errors + high.errors == 0,
                },
            }
        )
    result = {
        "database": connection.vendor,
        "scales": scales,
        "requests": requests,
        "seeds": seeds,
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
    return result


def table(result: dict) -> str:
    """The result as a Markdown table."""
    base, top = min(result["scales"]), max(result["scales"])
    ok = {True: "pass", False: "FAIL"}
    lines = [
        f"| page | queries {base}x / {top}x | p50 {base}x (ms) | p50 {top}x (ms) "
        f"| p95 {top}x (ms) | floor {top}x (ms) | {top}x÷{base}x (≤ {GOAL_SCALE_RATIO}) "
        f"| p50÷floor (≤ {GOAL_FLOOR_RATIO:g}) | goals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in result["pages"]:
        q = p["queries"]
        failed = [k for k, v in p["goals"].items() if not v]
        lines.append(
            f"| {p['scenario']} | {q[str(base)]} / {q[str(top)]} "
            f"| {p['p50_ms'][str(base)]:.1f} | {p['p50_ms'][str(top)]:.1f} "
            f"| {p['p95_ms'][str(top)]:.1f} | {p['floor_ms'][str(top)]:.1f} "
            f"| {p['scale_ratio']:.2f} | {p['floor_ratio']:.2f} "
            f"| {ok[not failed]}{' (' + ', '.join(failed) + ')' if failed else ''} |"
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
