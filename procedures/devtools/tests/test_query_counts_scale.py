"""The front desk's pages run the same number of queries at 10 times the data.

The data is `seed_scale` at 20 and at 200 patients (ten times the history, the same
daily load), the requests are the benchmark's own scenarios. Counts, not timings.

The slot finder reads its bookings a few working days at a time, as many as could hold
the slots still wanted (issue #18: the month at once was 69,475 rows at a network's
volume), so its count follows how many days it walks before it has its slots, which how
full the coming days are decides, not the size of the data: it is held under a ceiling
of its own instead.
"""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from procedures.devtools import scale
from procedures.devtools.benchmarks import runner

# The operations dashboard reads through the reports alias (docs/operations.md).
pytestmark = pytest.mark.django_db(databases=["default", "replica"])

WEDNESDAY = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
# A page loading a row per appointment would be in the hundreds at 200 patients.
CEILING = 60
# The slot finder's queries besides its reads of bookings (one for a few days):
# session, user, roles, the form's patient and procedure, providers, rooms and their
# procedures, availability (3), the audit's read.
SLOT_FINDER_FIXED = 14


def counts_at(patients: int) -> dict[str, int]:
    scale.scale_clear()
    plan = scale.ScalePlan(patients=patients, providers=4, rooms=2)
    scale.scale_seed(plan, progress=lambda table, total: lambda n: None)
    # The benchmark's logins, at their home site (the first of the seeded sites).
    ctx, clients = runner.site_clients(plan)
    counts = {}
    for n, scenario in enumerate(runner.scenarios(ctx)):
        client = clients[scenario.role, scenario.all_sites]
        warm = scenario.make(2 * n)
        _elapsed, response = runner._fire(client, warm)  # first use fills per-process caches
        runner._check(scenario.name, warm, response)
        if scenario.after:
            scenario.after()
        req = scenario.make(2 * n + 1)
        with CaptureQueriesContext(connection) as captured:
            _elapsed, response = runner._fire(client, req)
        runner._check(scenario.name, req, response)
        if scenario.after:
            scenario.after()
        # The audit's one INSERT of a list read is there only when the page shows
        # someone (an empty week writes none): not a cost that grows with the data.
        counts[scenario.name] = sum(
            1 for q in captured.captured_queries if '"clinic_readaccess"' not in q["sql"]
        )
    return counts


@time_machine.travel(WEDNESDAY, tick=False)
def test_every_page_runs_the_same_queries_at_ten_times_the_data():
    small = counts_at(20)
    large = counts_at(200)
    finder = "slot finder (next slots)"
    # A fixed handful, plus one query a working day walked (at most the 28 days' 20).
    assert small.pop(finder) <= SLOT_FINDER_FIXED + 20
    assert large.pop(finder) <= SLOT_FINDER_FIXED + 20
    assert large == small
    assert set(small) == {
        "today board",
        "today board, all sites",
        "navigation counts",
        "clinic day calendar",
        "20-physician calendar day",
        "a site's calendar day, 20 a page",
        "clinic day calendar by room",
        "provider week calendar",
        "booking form from the calendar",
        "patient search: partial name",
        "patient search: two letters",
        "patient search: typo",
        "patient search: MRN",
        "patient search: full page",
        "pending results worklist",
        "physician's results worklist",
        "booking POST",
        "day-of checklists",
        "patient emails",
        "open loops",
        "turnaround analytics",
        "operations dashboard",
    }
    assert max(small.values()) <= CEILING, small
