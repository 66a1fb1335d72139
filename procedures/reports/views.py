"""The operations dashboard and its CSV tables, read from the replica.

Each view does all its reading inside `clinic.db_routers.reporting()`, so every
query of the report (and of rendering it) runs on the `replica` alias; only the
login's session and user look-ups, made before the view, reach the primary.

The scope is the header's current site (its rooms), or the whole network on "All
sites" (`rooms=None`). The site is read from the session before `reporting()`, so its
one possible look-up (the home site, the first time) stays on the primary.
"""

import csv

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic import policy
from clinic.db_routers import reporting
from procedures.catalog.clock import clinic_today
from procedures.catalog.resources import Room
from procedures.catalog.sites import at_site, current_site_id
from procedures.reports.dashboard import TABLES, operations_report, table_rows
from procedures.reports.forms import DashboardForm
from procedures.reports.scope import ReportScope


def _filters(request: HttpRequest, site_id: int | None) -> tuple[DashboardForm, ReportScope | None]:
    today = clinic_today()
    form = DashboardForm(request.GET, today=today)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    rooms = None if site_id is None else at_site(Room.objects.all(), site_id)
    scope = ReportScope(
        start=data["start"],
        end=data["end"],
        rooms=rooms,
        procedure_type=data["procedure_type"],
        site_id=site_id,
    )
    if not request.GET:
        start, end = DashboardForm.default_period(today)
        form = DashboardForm(initial={"start": start, "end": end}, today=today)
    return form, scope


def _cell(value: object) -> object:
    # A name typed in the admin must not run as a spreadsheet formula.
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else value


@policy.allowed("operations_dashboard")
@require_GET
def operations(request: HttpRequest) -> HttpResponse:
    site_id = current_site_id(request)
    with reporting():
        form, scope = _filters(request, site_id)
        return render(
            request,
            "procedures/reports/operations.html",
            {
                "form": form,
                "report": operations_report(scope) if scope else None,
                "query": request.GET.urlencode(),
                "tables": TABLES,
            },
            status=200 if scope else 400,
        )


@policy.allowed("operations_dashboard")
@require_GET
def operations_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in TABLES:
        raise Http404
    site_id = current_site_id(request)
    with reporting():
        form, scope = _filters(request, site_id)
        if scope is None:
            return HttpResponse(
                " ".join(str(e) for errs in form.errors.values() for e in errs),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="{table}-{scope.start}-{scope.end}.csv"'
        )
        writer = csv.writer(response)
        for row in table_rows(scope, table):
            writer.writerow([_cell(value) for value in row])
        return response
