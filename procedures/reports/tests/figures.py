"""The dashboard's figures as one comparable value, and the roll-up's check that a
scope reads the same rolled up or live (docs/invariants.md, 24)."""

from dataclasses import replace

from procedures.reports.dashboard import operations_report
from procedures.reports.scope import ReportScope


def figures(scope: ReportScope) -> dict:
    """Everything the dashboard shows, comparable."""
    report = operations_report(scope)
    return {
        "rooms": [(u.room, u.open_minutes, u.booked_minutes) for u in report.rooms],
        "no_shows": [(w.week, w.no_shows, w.arrived, w.not_recorded) for w in report.no_shows],
        "cancellations": (
            report.cancellations.planned,
            [(r.code, r.count) for r in report.cancellations.reasons],
        ),
        "lead": (
            [(b.label, b.count) for b in report.lead_time.buckets],
            report.lead_time.median,
            report.lead_time.mean,
        ),
        "turnaround": report.turnaround,
    }


def agrees(scope: ReportScope) -> dict:
    """The scope's figures, after checking they are the live count's."""
    counted = figures(scope)
    assert counted == figures(replace(scope, live=True))
    return counted
