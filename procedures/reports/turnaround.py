"""Turnaround analytics: a table, a server-rendered SVG chart and a CSV export.

The figures are the results' (`procedures.results.analytics`), read through the
reports' daily roll-up (rollup.py): a period's days that are over from their rows,
today (and any day not rolled up) live. Like the operations dashboard, each view reads
inside `clinic.db_routers.reporting()`, so on the read replica where one is set.
"""

import csv
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic import policy
from clinic.db_routers import reporting
from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import at_site, current_site_id
from procedures.reports.rollup import rolled_period, scope_turnaround_pairs
from procedures.results.analytics import (
    TURNAROUND_COLUMNS,
    TurnaroundRow,
    final_results,
    turnaround_chart,
    turnaround_rows,
)
from procedures.results.forms import AnalyticsForm


def turnaround_by_test(
    *, start: date, end: date, site_id: int | None = None
) -> list[TurnaroundRow]:
    """Per test type and lab: final results logged from `start` to `end` (clinic days,
    inclusive), of the orders of site `site_id` (None: every site)."""
    rolled = rolled_period(start=start, end=end, site_id=site_id, columns=("turnaround",))
    pairs = scope_turnaround_pairs(
        at_site(final_results(start=start, end=end), site_id), rolled=rolled
    )
    return turnaround_rows(pairs, end=end)


def _period(request: HttpRequest) -> tuple[AnalyticsForm, date, date]:
    """The period asked for, and the form showing it. Only `start` and `end` are the
    period's: any other parameter (a site, a page) leaves the default period, not a 400
    (QA pass 1, #10, where ?site=1 answered "From: This field is required")."""
    form = AnalyticsForm(request.GET)
    if not form.is_valid():
        today = clinic_today()
        return form, today - timedelta(days=AnalyticsForm.DEFAULT_DAYS), today
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    # The dates the figures are for, shown in the form (a default filled in included).
    return AnalyticsForm(initial={"start": start, "end": end}), start, end


def _cell(text: str) -> str:
    # A name typed in the admin must not run as a spreadsheet formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@policy.allowed("turnaround")
@require_GET
def turnaround(request: HttpRequest) -> HttpResponse:
    form, start, end = _period(request)
    # The header's site (every site on "All sites"), as the operations dashboard; read
    # from the session before the report's reads go to the replica.
    site_id = current_site_id(request)
    with reporting():
        rows = turnaround_by_test(start=start, end=end, site_id=site_id) if not form.errors else []
        return render(
            request,
            "procedures/analytics.html",
            {
                "form": form,
                "rows": rows,
                "chart": turnaround_chart(rows),
                "start": start,
                "end": end,
                "query": request.GET.urlencode(),
            },
            status=400 if form.errors else 200,
        )


@policy.allowed("turnaround_csv")
@require_GET
def turnaround_csv(request: HttpRequest) -> HttpResponse:
    form, start, end = _period(request)
    if form.errors:
        return HttpResponse(
            " ".join(str(e) for errs in form.errors.values() for e in errs),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="turnaround-{start}-{end}.csv"'
    writer = csv.writer(response)
    writer.writerow(TURNAROUND_COLUMNS)
    site_id = current_site_id(request)
    with reporting():
        found = turnaround_by_test(start=start, end=end, site_id=site_id)
    for row in found:
        writer.writerow(
            [
                _cell(row.test_type),
                _cell(row.lab),
                row.target_days,
                row.count,
                f"{row.median:g}",
                f"{row.p90:g}",
                row.within_target_percent,
            ]
        )
    return response
