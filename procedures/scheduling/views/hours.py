"""Hours and leave for clinic admins (issue 16): a page per physician and per room.

Save and Add leave are two-step when they would leave booked visits outside hours or
on leave: the first post lists those visits and saves nothing; the admin confirms
them (their ids come back in the form) or cancels. After saving, the visits to move
are listed with links (kept in the session for the one page that follows).
"""

import functools
from datetime import date, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_list_read
from clinic.bounds import OUT_OF_RANGE, DateOutOfRange, in_range, query_id
from clinic.forms import apply_service_errors
from procedures.catalog.clock import clinic_today, clinic_tz
from procedures.catalog.hours import Unavailability
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.sites import Site
from procedures.scheduling import closures
from procedures.scheduling import hours_admin as hours
from procedures.scheduling.hours_forms import (
    ClosureForm,
    HoursForm,
    LeaveForm,
    PublicHolidaysForm,
)
from procedures.scheduling.models import Appointment

MOVE_KEY = "hours_visits_to_move"
KIND_IN_URL = {"physician": "provider", "room": "room"}


def _resource(kind: str, pk: int) -> hours.Resource:
    if kind not in KIND_IN_URL:
        raise Http404
    try:
        return hours.resource_get(kind=KIND_IN_URL[kind], pk=pk)
    except (hours.Provider.DoesNotExist, hours.Room.DoesNotExist) as exc:
        raise Http404 from exc


def _week_start(value: str | None) -> date:
    try:
        day = date.fromisoformat(value or "")
    except ValueError:
        day = clinic_today()
    if not in_range(day):  # the week's days would overflow past year 9999
        raise DateOutOfRange(str(OUT_OF_RANGE))
    return day - timedelta(days=day.weekday())


def _confirmed(request) -> list[int]:
    return [pk for v in request.POST.getlist("confirm") if (pk := query_id(v))]


def _visits_shown(request, warning: list[hours.AffectedVisit] | None) -> list[Appointment]:
    """The visits a saved change left to move (kept in the session for the one page that
    follows the save), with the read of every patient the page lists (those and the
    warning's) recorded."""
    moved_ids = request.session.pop(MOVE_KEY, None) if request.method == "GET" else None
    moved = list(
        Appointment.objects.filter(pk__in=moved_ids or [])
        .select_related("patient", "procedure_type", "room__site")
        .order_by("start_at")
    )
    shown = [v.appointment.patient_id for v in warning or []] + [m.patient_id for m in moved]
    if shown:
        record_list_read(request, shown)
    return moved


def _years() -> list[int]:
    this_year = clinic_today().year
    return [this_year, this_year + 1]


def _list_page(
    request,
    *,
    closure_form: ClosureForm | None = None,
    public_form: PublicHolidaysForm | None = None,
    warning: list[hours.AffectedVisit] | None = None,
    warning_for: str = "",
    status: int = 200,
):
    """Every physician's and room's hours, and the clinic holidays with their forms."""
    providers, rooms = hours.hours_overview()
    sites = list(Site.objects.filter(is_active=True).order_by("name"))
    moved = _visits_shown(request, warning)
    context = {
        "providers": providers,
        "rooms": rooms,
        "closures": closures.closures_ahead(),
        "closure_form": closure_form or ClosureForm(sites=sites),
        "public_form": public_form or PublicHolidaysForm(sites=sites, years=_years()),
        "warning": warning,
        "warning_for": warning_for,
        "moved": moved,
    }
    return render(request, "procedures/hours/hours_list.html", context, status=status)


@policy.allowed("hours_manage")
@require_http_methods(["GET"])
def hours_list(request):
    return _list_page(request)


def _closed(request, made: list, affected: list[hours.AffectedVisit]):
    if not made:
        messages.info(request, _("Those days were already closed: nothing changed."))
    else:
        saved = (
            _("Closure saved.") if len(made) == 1 else _("%(n)s closures saved.") % {"n": len(made)}
        )
        if affected:
            request.session[MOVE_KEY] = [a.appointment.pk for a in affected]
            on = (
                _("%(n)s booked visit(s) fall on it: move them.")
                if len(made) == 1
                else _("%(n)s booked visit(s) fall on them: move them.")
            )
            messages.warning(request, f"{saved} {on % {'n': len(affected)}}")
        else:
            messages.success(request, saved)
    return redirect(reverse("procedures:hours") + "#holidays")


@policy.allowed("hours_manage")
@require_POST
def closure_add_view(request):
    sites = list(Site.objects.filter(is_active=True).order_by("name"))
    form = ClosureForm(request.POST, sites=sites)
    if not form.is_valid():
        return _list_page(request, closure_form=form, status=400)
    data = form.cleaned_data
    try:
        made, affected = closures.closures_add(
            days=[(data["date"], data["name"])],
            site=data["site"],
            confirmed=_confirmed(request),
            by=request.user,
        )
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _list_page(request, closure_form=form, status=400)
    except hours.HoursNeedConfirmation as need:
        return _list_page(request, closure_form=form, warning=need.affected, warning_for="closure")
    return _closed(request, made, affected)


@policy.allowed("hours_manage")
@require_POST
def public_holidays_add_view(request):
    sites = list(Site.objects.filter(is_active=True).order_by("name"))
    form = PublicHolidaysForm(request.POST, sites=sites, years=_years())
    if not form.is_valid():
        return _list_page(request, public_form=form, status=400)
    site, year = form.cleaned_data["site"], form.cleaned_data["year"]
    today = clinic_today()
    days = [(d, name) for d, name in closures.public_holidays_of(site, year) if d >= today]
    try:
        made, affected = closures.closures_add(
            days=days, site=site, confirmed=_confirmed(request), by=request.user
        )
    except hours.HoursNeedConfirmation as need:
        return _list_page(request, public_form=form, warning=need.affected, warning_for="public")
    return _closed(request, made, affected)


@policy.allowed("hours_manage")
@require_POST
def closure_remove_view(request, closure_pk: int):
    try:
        closure = closures.closure_remove(closure_id=closure_pk, by=request.user)
    except ClinicHoliday.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(
        request,
        _("Closure of %(day)s removed: the day is open again.")
        % {"day": formats.date_format(closure.date, "l j F Y")},
    )
    return redirect(reverse("procedures:hours") + "#holidays")


def _on_resource_clock(view):
    """Run the view on the clock of the resource's home site (invariant 19): the week,
    the leave typed and shown, whatever the admin's current site is."""

    @functools.wraps(view)
    def wrapped(request, kind: str, pk: int, *args, **kwargs):
        resource = _resource(kind, pk)
        with timezone.override(hours.resource_home(resource).tz):
            return view(request, resource, kind, *args, **kwargs)

    return wrapped


def _zone_note(resource: hours.Resource) -> str:
    """What the leave form says about whose clock its times are on."""
    sites = hours.resource_sites(resource)
    home = hours.resource_home(resource, sites)
    clock = _("Times are %(site)s time (%(zone)s).") % {
        "site": home.name,
        "zone": home.time_zone,
    }
    if len(sites) < 2:
        return clock
    return (
        clock
        + " "
        + _("A day without a time is the whole day at every site %(name)s works at (%(sites)s).")
        % {"name": resource.name, "sites": ", ".join(s.name for s in sites)}
    )


def _page(
    request,
    resource: hours.Resource,
    *,
    kind: str,
    form: HoursForm | None = None,
    leave_form: LeaveForm | None = None,
    proposed: hours.Weekly | bool | None = False,
    extra_leave: Unavailability | None = None,
    warning: list[hours.AffectedVisit] | None = None,
    warning_for: str = "",
    status: int = 200,
):
    """The hours page: the state, the week (as it is, or as proposed), the forms; on the
    resource's clock (`_on_resource_clock`)."""
    stored = hours.weekly_of(resource)
    week = _week_start(request.POST.get("week") or request.GET.get("week"))
    tz = clinic_tz()
    if warning:  # the week of the first visit the change would strand
        week = _week_start(warning[0].appointment.start_at.astimezone(tz).date().isoformat())
    elif extra_leave is not None:
        week = _week_start(extra_leave.starts_at.astimezone(tz).date().isoformat())
    weekly = stored if isinstance(proposed, bool) else proposed
    if form is None:
        mode = "own" if stored is not None else "default"
        # Switching to own hours starts from a copy of the clinic default.
        form = HoursForm(initial=HoursForm.initial_for(stored or hours.default_copy(), mode=mode))
    moved = _visits_shown(request, warning)
    zones = hours.resource_zones(resource)
    context = {
        "resource": resource,
        "kind": kind,
        "own": stored is not None,
        "summary": hours.weekly_text(stored),
        "form": form,
        "leave_form": leave_form or LeaveForm(),
        "leave": [(row, hours.leave_text(row, zones)) for row in hours.leave_of(resource)],
        "zone_note": _zone_note(resource),
        "closures": closures.closures_ahead(),
        "week": week,
        "previous_week": week - timedelta(days=7),
        "next_week": week + timedelta(days=7),
        "preview": hours.week_preview(
            resource,
            weekly=weekly,
            first_day=week,
            extra_leave=extra_leave,
        ),
        "proposed": proposed is not False or extra_leave is not None,
        "warning": warning,
        "warning_for": warning_for,
        "moved": moved,
    }
    return render(request, "procedures/hours/hours_detail.html", context, status=status)


def _saved(request, resource: hours.Resource, kind: str, text: str, affected) -> object:
    if affected:
        request.session[MOVE_KEY] = [a.appointment.pk for a in affected]
        text += " " + _("%(n)s booked visit(s) are now outside hours: move them.") % {
            "n": len(affected)
        }
        messages.warning(request, text)
    else:
        messages.success(request, text)
    return redirect(reverse("procedures:hours_detail", args=[kind, resource.pk]))


@policy.allowed("hours_manage")
@require_http_methods(["GET", "POST"])
@_on_resource_clock
def hours_detail(request, resource: hours.Resource, kind: str):
    if request.method == "GET":
        return _page(request, resource, kind=kind)
    form = HoursForm(request.POST)
    if not form.is_valid():
        return _page(request, resource, kind=kind, form=form, status=400)
    weekly = form.cleaned_data["weekly"]
    try:
        if weekly is not None:
            hours.hours_validate(weekly)
        if request.POST.get("action") == "preview":
            affected = hours.affected_visits(resource, weekly=weekly)
            return _page(
                request,
                resource,
                kind=kind,
                form=form,
                proposed=weekly,
                warning=affected,
                warning_for="hours",
            )
        affected = hours.hours_set(
            resource=resource, weekly=weekly, confirmed=_confirmed(request), by=request.user
        )
    except ValidationError as exc:
        apply_service_errors(form, exc, field_map={f"day_{d}": None for d in range(7)})
        return _page(request, resource, kind=kind, form=form, status=400)
    except hours.HoursNeedConfirmation as need:
        return _page(
            request,
            resource,
            kind=kind,
            form=form,
            proposed=weekly,
            warning=need.affected,
            warning_for="hours",
        )
    text = _("Own hours saved.") if weekly is not None else _("Back to the clinic default.")
    return _saved(request, resource, kind, text, affected)


@policy.allowed("hours_manage")
@require_POST
@_on_resource_clock
def leave_add_view(request, resource: hours.Resource, kind: str):
    form = LeaveForm(request.POST, zones=hours.resource_zones(resource))
    if not form.is_valid():
        return _page(request, resource, kind=kind, leave_form=form, status=400)
    data = form.cleaned_data
    fields = {
        "starts_at": data["starts_at"],
        "ends_at": data["ends_at"],
        "reason": data["reason"],
        "note": data["note"],
    }
    try:
        _leave, affected = hours.leave_add(
            resource=resource, confirmed=_confirmed(request), by=request.user, **fields
        )
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return _page(request, resource, kind=kind, leave_form=form, status=400)
    except hours.HoursNeedConfirmation as need:
        return _page(
            request,
            resource,
            kind=kind,
            leave_form=form,
            extra_leave=hours.leave_build(resource=resource, **fields),
            warning=need.affected,
            warning_for="leave",
        )
    return _saved(request, resource, kind, _("Leave recorded."), affected)


@policy.allowed("hours_manage")
@require_POST
def leave_remove_view(request, kind: str, pk: int, leave_pk: int):
    resource = _resource(kind, pk)
    try:
        hours.leave_remove(resource=resource, leave_id=leave_pk, by=request.user)
    except Unavailability.DoesNotExist as exc:
        raise Http404 from exc
    messages.success(request, _("Leave removed."))
    return redirect(reverse("procedures:hours_detail", args=[kind, resource.pk]))
