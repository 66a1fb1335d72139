"""The front desk's today board: arrivals by time, and what needs fixing for each.

A network's day is thousands of arrivals, so the board shows a page of them at a time
(opening on the page with the arrivals due now), filtered by physician, room or status;
the counts above it are always the whole day's."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from clinic import policy
from clinic.audit import record_list_read
from procedures.catalog.clock import clinic_today
from procedures.catalog.models import Site
from procedures.catalog.sites import at_site, current_site_id
from procedures.today import board, loops, paging
from procedures.today.counts import today_counts_cached
from procedures.today.forms import TodayBoardFilterForm


@policy.allowed("today_board")
@require_http_methods(["GET"])
def today_board_view(request):
    day = clinic_today()
    site_id = current_site_id(request)
    # At "All sites" a room is named with its site, on the rows and in the filter (two
    # sites may each have a "Room 1"): the sites' names in one small query.
    sites = list(Site.objects.values_list("pk", "name", "time_zone")) if site_id is None else []
    site_names = {pk: name for pk, name, _zone in sites}
    # ... and each site's zone: a row is on its visit's clock, named when not the page's.
    site_zones = {pk: zone for pk, _name, zone in sites}
    form = TodayBoardFilterForm(request.GET or None, site_id=site_id, site_names=site_names)
    booked = at_site(board.day_appointments(day=day), site_id)
    # The day is counted, paged and filtered in the database (the network's day is
    # thousands of visits): the page's rows are read with their flags, and the whole
    # day's flags only to choose "something to fix".
    flagged = (
        [a.pk for a in board.today_arrivals(day=day, site_id=site_id) if a.flag_codes]
        if form.wants_flags()
        else ()
    )
    shown = paging.PageEnds(form.apply(booked, flagged=flagged))
    paginator = Paginator(shown, paging.PER_PAGE)
    page = paginator.get_page(request.GET.get("page") or paging.current_page(shown))
    # The page's rows with their flags, read on from its first visit.
    rows = board.today_arrivals(
        day=day,
        appointments=shown.from_visit(page.start_index() - 1),
        limit=paging.PER_PAGE,
    )
    record_list_read(request, [a.patient_id for a in rows])
    # The day's counts are the navigation's (procedures/today/counts.py): the same
    # figures as beside "Today", worked out once for both.
    counts = today_counts_cached(day=day, site_id=site_id)
    return render(
        request,
        "procedures/today.html",
        {
            "day": day,
            "form": form,
            "filtered": bool(form.chosen()),
            "page": page,
            "rows": board.board_rows(rows, site_names=site_names, site_zones=site_zones),
            "pages": paging.page_links(shown, page),
            # Unfiltered, the day's length as just read (the cached counts may be up
            # to COUNTS_SECONDS behind a write that bypassed the ORM).
            "total": counts["total"] if form.chosen() else len(shown),
            "expected": counts["expected"],
            "flagged": counts["flagged"],
            "matching": len(shown),
            "is_front_desk": policy.may(request.user, "nav_front_desk"),
            # Every visit ends: earlier days' visits still open stay flagged here.
            "not_ended": list(
                loops.visits_not_ended(day=day, site_id=site_id)[: loops.LIST_AT_MOST]
            ),
        },
    )


@policy.allowed("today_counts")
@require_http_methods(["GET"])
def today_counts_view(request):
    """The counts shown next to "Today" in the navigation (loaded by htmx, so other
    pages pay no queries for them; cached briefly, see procedures/today/counts.py)."""
    counts = today_counts_cached(day=clinic_today(), site_id=current_site_id(request))
    return render(request, "procedures/_today_counts.html", counts)
