"""Calendars: a day or week for one physician or room, the whole clinic's day, and the
printable day sheet. The query string holds only the view, a resource id, a date and,
for the whole clinic, a physician to show alone and the page of physicians.

A network's clinic has dozens of physicians: its day is shown ten physicians (columns)
at a time, so a page stays quick to render and to read; twenty on a wide screen, if the
user chooses (`per_page`)."""

from datetime import timedelta
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from clinic import policy
from clinic.audit import record_list_read
from clinic.bounds import query_date, query_id
from patients.selectors import alerts_by_patient
from procedures.catalog.clock import clinic_today
from procedures.catalog.resources import Provider, Room, works_at
from procedures.catalog.sites import at_site, current_site_id
from procedures.scheduling.calendars import (
    BY,
    VIEWS,
    calendar_appointments,
    calendar_days,
    clinic_day_calendar,
    clinic_day_providers,
    clinic_day_rooms,
    resource_calendar,
    week_start,
)

PROVIDERS_PER_PAGE = 10
# Columns a page of the whole clinic's day the user may choose (the grid's CSS has a
# width for up to 20 columns).
PER_PAGE_CHOICES = (10, 20)


def _params(request) -> dict:
    site_id = current_site_id(request)
    view = request.GET.get("view", "day")
    by = request.GET.get("by", "clinic")
    # The form's one "Show" box: "clinic", "rooms", "provider:<id>" or "room:<id>", so
    # choosing a physician is one choice, not a kind and then a name in a second box.
    show = request.GET.get("show", "")
    if show:
        by, _sep, chosen = show.partition(":")
        request.GET = request.GET.copy()
        request.GET["id"] = chosen
    view = view if view in VIEWS else "day"
    by = by if by in BY else "clinic"
    day = query_date(request, "date", default=clinic_today)  # 400 outside 1900-2100
    if by in ("clinic", "rooms"):
        view = "day"  # the whole clinic is shown a day at a time
    resource = None
    if by in ("provider", "room"):
        model = Provider if by == "provider" else Room
        resource_id = query_id(request.GET.get("id", ""))
        if resource_id:
            resource = model.objects.filter(pk=resource_id).first()
            if resource is None:
                raise Http404
        elif by == "provider" and hasattr(request.user, "provider"):
            resource = request.user.provider  # a physician starts on their own calendar
        else:
            # The first of the current site's physicians (or rooms).
            active = model.objects.filter(is_active=True)
            here = (
                active.filter(works_at(site_id)) if model is Provider else at_site(active, site_id)
            )
            resource = here.first()
        if resource is None:
            by, view = "clinic", "day"
    step = timedelta(days=7 if view == "week" else 1)
    only = query_id(request.GET.get("provider", ""))
    per_page = query_id(request.GET.get("per_page", "")) or PROVIDERS_PER_PAGE
    return {
        "view": view,
        "by": by,
        "day": day,
        "resource": resource,
        "step": step,
        # The whole clinic's day: one physician shown alone, and the page of physicians.
        "only": only if by in ("clinic", "rooms") else None,
        "page": request.GET.get("page", ""),
        "per_page": per_page if per_page in PER_PAGE_CHOICES else PROVIDERS_PER_PAGE,
        "site_id": site_id,
    }


def _link(path: str, p: dict, **changes) -> str:
    """This calendar's address with some parameters changed (a day, a page)."""
    query = {"view": p["view"], "by": p["by"]}
    if p["resource"] is not None:
        query["id"] = p["resource"].pk
    if p["only"] is not None:
        query["provider"] = p["only"]
    query["date"] = p["day"].isoformat()
    if p.get("page_number", 1) > 1:
        query["page"] = p["page_number"]
    if p["per_page"] != PROVIDERS_PER_PAGE:
        query["per_page"] = p["per_page"]
    query.update(changes)
    return f"{path}?{urlencode(query)}"


def _clinic_day(p: dict, *, may_book: bool) -> dict:
    """A page of physicians' (or rooms') columns for the whole clinic's day, and the
    pager."""
    providers = clinic_day_providers(p["day"], site_id=p["site_id"])
    rooms = clinic_day_rooms(p["day"], site_id=p["site_id"])
    everyone = rooms if p["by"] == "rooms" else providers
    chosen = [x for x in everyone if x.pk == p["only"]] or everyone
    if len(chosen) == len(everyone):
        p["only"] = None  # an unknown physician: show everyone rather than nothing
    per_page = p["per_page"]
    paginator = Paginator(chosen, per_page)
    page = paginator.get_page(p["page"])
    p["page_number"] = page.number
    pages = []
    if paginator.num_pages > 1:
        for number in paginator.page_range:
            first = (number - 1) * per_page + 1
            last = min(number * per_page, paginator.count)
            pages.append((f"{first}\u2013{last}", number, number == page.number))
    data = clinic_day_calendar(
        day=p["day"],
        shown=list(page.object_list),
        everyone_providers=providers,
        rooms=rooms,
        by=p["by"],
        may_book=may_book,
        site_id=p["site_id"],
    )
    return {
        "columns": data.columns,
        "grid": data.grid,
        "clinic_providers": everyone,
        "all_providers": [x for x in providers if x.is_active],
        "all_rooms": [x for x in rooms if x.is_active],
        "provider_page": page,
        "provider_pages": pages,
    }


def _provider_steps(path: str, p: dict, page) -> dict:
    if page is None:
        return {}
    return {
        "previous_providers": _link(path, p, page=page.number - 1) if page.has_previous() else "",
        "next_providers": _link(path, p, page=page.number + 1) if page.has_next() else "",
    }


@policy.allowed("calendar")
@require_http_methods(["GET"])
def calendar_view(request):
    p = _params(request)
    days = calendar_days(p["view"], p["day"])
    may_book = policy.may(request.user, "appointment_book")
    if p["by"] in ("clinic", "rooms"):
        shown = _clinic_day(p, may_book=may_book)
    else:
        data = resource_calendar(
            view=p["view"],
            by=p["by"],
            day=p["day"],
            resource=p["resource"],
            may_book=may_book,
            site_id=p["site_id"],
        )
        shown = {
            "columns": data.columns,
            "grid": data.grid,
            "all_providers": [x for x in data.providers if x.is_active],
            "all_rooms": [x for x in data.rooms if x.is_active],
        }
    previous = (days[0] - p["step"]) if p["view"] == "week" else p["day"] - p["step"]
    following = (days[0] + p["step"]) if p["view"] == "week" else p["day"] + p["step"]
    path, today = request.path, clinic_today()
    context = {
        **p,
        **shown,
        "days": days,
        "links": {
            "previous": _link(path, p, date=previous.isoformat()),
            "today": _link(path, p, date=today.isoformat()),
            "next": _link(path, p, date=following.isoformat()),
        },
        "page_links": [
            (label, _link(path, p, page=number), current)
            for label, number, current in shown.get("provider_pages", [])
        ],
        **_provider_steps(path, p, shown.get("provider_page")),
        # Ten or twenty columns a page, when the clinic has more than ten to show.
        "per_page_links": [
            (n, _link(path, {**p, "page_number": 1, "per_page": n}), n == p["per_page"])
            for n in PER_PAGE_CHOICES
        ]
        if len(shown.get("clinic_providers", ())) > PROVIDERS_PER_PAGE
        else [],
        # The "Show" form keeps a chosen page size.
        "keep_per_page": p["per_page"] if p["per_page"] != PROVIDERS_PER_PAGE else None,
        "today": today,
        "week_of": week_start(p["day"]),
        "show_room": p["by"] not in ("room", "rooms"),
        "show_provider": p["by"] in ("room", "rooms"),
        "show": p["by"] if p["resource"] is None else f"{p['by']}:{p['resource'].pk}",
        "selected_provider": p["resource"].pk if p["by"] == "provider" else None,
        "selected_room": p["resource"].pk if p["by"] == "room" else None,
        "can_move": policy.may(request.user, "appointment_reschedule"),
    }
    record_list_read(request, [card.patient_id for col in shown["columns"] for card in col.cards])
    template = "procedures/calendar.html"
    if request.htmx and request.htmx.target == "calendar":
        template = "procedures/_calendar.html"
    return render(request, template, context)


@policy.allowed("day_sheet")
@require_http_methods(["GET"])
def day_sheet(request):
    """One day's list, for printing: who comes when, sedation, escort, room."""
    p = _params(request)
    appointments = calendar_appointments(
        days=[p["day"]],
        provider=p["resource"] if p["by"] == "provider" else None,
        room=p["resource"] if p["by"] == "room" else None,
        # A physician's or room's sheet is theirs; the clinic's day is the site's.
        site_id=p["site_id"] if p["resource"] is None else None,
    )
    shown = [a for a in appointments if a.status not in ("cancelled",)]
    record_list_read(request, [a.patient_id for a in shown])
    # Each patient's alerts (allergies, bleeding, blood thinners, bloods) on the sheet,
    # read for the whole list at once.
    alerts = alerts_by_patient([a.patient for a in shown], on=p["day"])
    for appointment in shown:
        appointment.alerts = alerts[appointment.patient_id]
    return render(request, "procedures/day_sheet.html", {**p, "appointments": shown})
