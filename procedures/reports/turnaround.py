"""Turnaround analytics: a table, a server-rendered SVG chart and a CSV export."""

import csv
from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic import policy
from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import current_site_id
from procedures.results.analytics import TURNAROUND_COLUMNS, turnaround_by_test, turnaround_chart
from procedures.results.forms import AnalyticsForm


def _period(request):
    today = clinic_today()
    form = AnalyticsForm(request.GET or None, initial={})
    start, end = today - timedelta(days=90), today
    if request.GET and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    elif not request.GET:
        form = AnalyticsForm(initial={"start": start, "end": end})
    return form, start, end


def _cell(text: str) -> str:
    # A name typed in the admin must not run as a spreadsheet formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@policy.allowed("turnaround")
@require_GET
def turnaround(request):
    form, start, end = _period(request)
    # The header's site (every site on "All sites"), as the operations dashboard.
    site_id = current_site_id(request)
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
def turnaround_csv(request):
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
    for row in turnaround_by_test(start=start, end=end, site_id=current_site_id(request)):
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
