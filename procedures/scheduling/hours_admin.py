"""Hours and leave of a physician or a room, as a clinic admin changes them (issue 16).

A physician or a room works either the **clinic default** (`DEFAULT_OPENING_HOURS`:
no `WorkingHours` rows) or its **own hours** (its rows replace the default for every
weekday). The page says which; switching to own hours starts from a copy of the
default, so adding a Sunday session never silently takes Monday to Friday away.

Every change that could leave a booked visit outside hours or on leave is checked
against the future visits first: the service refuses to save until the admin has
confirmed exactly those visits (`HoursNeedConfirmation` lists them), and returns
them after saving so the page can link each one for the front desk to move.

All availability questions go through `slots.Availability` (the same answers the
booking rules and the slot finder give), with the proposed hours or leave laid over
what is stored. This module is the one place a site (issue 18) would be threaded
through: which holidays apply is asked in `_availability` only.

Leave is typed and shown on the clock of the resource's site (invariant 19): a room's
site's; a physician's home site's (`resource_home`). Leave of whole days covers each
day from its first midnight to its last at every site the resource works at
(`whole_days_span`), so a physician away on 15 December is away all of the 15th in
London and in New York alike.
"""

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from auditlog.context import set_actor
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_datetime, clinic_today, clinic_tz
from procedures.catalog.hours import DEFAULT_OPENING_HOURS, Unavailability, WorkingHours
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import Site, StaffProfile
from procedures.scheduling.booking import queue_behind_resource_writes
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import Availability, availability_load, hhmm

Weekly = dict[int, list[tuple[time, time]]]
KINDS = ("provider", "room")


@dataclass(frozen=True)
class Resource:
    """A physician or a room, as the hours page names it."""

    kind: str  # "provider" or "room"
    obj: Provider | Room

    @property
    def pk(self) -> int:
        return self.obj.pk

    @property
    def name(self) -> str:
        return str(self.obj)

    def _filter(self) -> dict[str, Provider | Room]:
        return {self.kind: self.obj}

    # Read once per page (cached on the instance: the dataclass is frozen, but
    # cached_property writes the instance's __dict__ directly).
    @functools.cached_property
    def sites(self) -> list[Site]:
        if isinstance(self.obj, Room):
            return [self.obj.site]
        listed = list(self.obj.sites.order_by("pk"))
        return listed or list(Site.objects.filter(is_active=True).order_by("pk"))

    @functools.cached_property
    def home(self) -> Site:
        if isinstance(self.obj, Provider) and self.obj.user_id is not None:
            profile = StaffProfile.objects.filter(user_id=self.obj.user_id).first()
            for site in self.sites:
                if profile is not None and site.pk == profile.home_site_id:
                    return site
        return self.sites[0]

    @functools.cached_property
    def zones(self) -> list[ZoneInfo]:
        zones = [self.home.tz]
        for site in self.sites:
            if site.tz not in zones:
                zones.append(site.tz)
        return zones


def resource_get(*, kind: str, pk: int) -> Resource:
    """The physician or room `pk` (DoesNotExist when there is none)."""
    if kind == "provider":
        return Resource(kind, Provider.objects.get(pk=pk))
    return Resource(kind, Room.objects.select_related("site").get(pk=pk))


@dataclass(frozen=True)
class AffectedVisit:
    """A booked visit that a change would leave outside hours or on leave."""

    appointment: Appointment
    reason: str


class HoursNeedConfirmation(Exception):
    """The change would leave these visits outside hours: nothing was saved."""

    def __init__(self, affected: list[AffectedVisit]) -> None:
        super().__init__(f"{len(affected)} visit(s) need confirmation")
        self.affected = affected


# --- Whose clock ---------------------------------------------------------------------


def resource_sites(resource: Resource) -> list[Site]:
    """The sites whose clocks the resource's hours and leave run on: a room's site; the
    sites a physician lists (every active site when they list none)."""
    return resource.sites


def resource_home(resource: Resource, sites: list[Site] | None = None) -> Site:
    """The site whose clock the hours page shows and typed leave times are in: a room's
    site; a physician's home site when they work there (their login's), else the first
    site they work at. Never the admin's current site: an admin in London typing a New
    York room's maintenance means New York's 09:00."""
    return resource.home


def resource_zones(resource: Resource) -> list[ZoneInfo]:
    """The zones of the resource's sites, the home site's first."""
    return resource.zones


def whole_days_span(first: date, last: date, zones: list[ZoneInfo]) -> tuple[datetime, datetime]:
    """The instants from the first midnight of `first` to the last midnight after `last`
    among `zones`: whole local days at every one of those sites."""
    starts = min(clinic_datetime(first, time.min, tz) for tz in zones)
    ends = max(clinic_datetime(last + timedelta(days=1), time.min, tz) for tz in zones)
    return starts, ends


def whole_days_of(leave: Unavailability, zones: list[ZoneInfo]) -> tuple[date, date] | None:
    """(first day, last day) when `leave` is exactly whole days at `zones`, else None."""
    for tz in zones:
        start = leave.starts_at.astimezone(tz)
        if start.time() != time.min:
            continue
        for end_tz in zones:
            end = leave.ends_at.astimezone(end_tz)
            if end.time() != time.min:
                continue
            first, last = start.date(), end.date() - timedelta(days=1)
            if last >= first and whole_days_span(first, last, zones) == (
                leave.starts_at,
                leave.ends_at,
            ):
                return first, last
    return None


# --- Reads ---------------------------------------------------------------------------


def weekly_of(resource: Resource) -> Weekly | None:
    """The resource's own weekly hours, or None when it works the clinic default."""
    rows = WorkingHours.objects.filter(**resource._filter()).order_by("weekday", "starts")
    weekly: Weekly = {}
    for row in rows:
        weekly.setdefault(row.weekday, []).append((row.starts, row.ends))
    return weekly or None


def default_copy() -> Weekly:
    """The clinic default as a fresh dict: where "own hours" starts from."""
    return {day: list(sessions) for day, sessions in DEFAULT_OPENING_HOURS.items()}


def weekly_text(weekly: Weekly | None) -> str:
    """'Mon-Fri 08:00-18:00' style summary, one group per run of equal days."""
    weekly = DEFAULT_OPENING_HOURS if weekly is None else weekly
    names = [formats.date_format(date(2024, 1, 1) + timedelta(days=d), "D") for d in range(7)]
    groups: list[tuple[list[int], str]] = []
    for day in range(7):
        sessions = weekly.get(day, [])
        if not sessions:
            continue
        text = ", ".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in sessions)
        if groups and groups[-1][1] == text and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], text))
    if not groups:
        return _("no sessions")
    parts = []
    for days, text in groups:
        span = names[days[0]] if len(days) == 1 else f"{names[days[0]]}-{names[days[-1]]}"
        parts.append(f"{span} {text}")
    return "; ".join(parts)


def weekly_hours_total(weekly: Weekly | None) -> float:
    """Hours a week (for the list and the admin)."""
    weekly = DEFAULT_OPENING_HOURS if weekly is None else weekly
    minutes = sum(
        (e.hour * 60 + e.minute) - (s.hour * 60 + s.minute)
        for sessions in weekly.values()
        for s, e in sessions
    )
    return minutes / 60


def leave_of(resource: Resource) -> list[Unavailability]:
    """The resource's leave and closures that have not ended."""
    return list(
        Unavailability.objects.filter(
            **resource._filter(), ends_at__gt=clinic_datetime(clinic_today(), time.min)
        ).order_by("starts_at")
    )


@dataclass(frozen=True)
class PreviewDay:
    day: date
    hours: str  # "08:00-18:00, ..." or ""
    state: str  # "working", "off", "leave", "holiday"
    note: str


def week_preview(
    resource: Resource,
    *,
    weekly: Weekly | None,
    first_day: date,
    extra_leave: Unavailability | None = None,
) -> list[PreviewDay]:
    """The seven days from `first_day` as they would be with `weekly` (None: the clinic
    default) and the stored leave (plus `extra_leave`), holidays included."""
    last_day = first_day + timedelta(days=6)
    availability = _availability(resource, weekly, first_day, last_day, extra_leave)
    zones = resource_zones(resource)
    start = clinic_datetime(first_day, time.min)
    end = clinic_datetime(last_day + timedelta(days=1), time.min)
    absences = [
        a for a in availability.absences.get((resource.kind, resource.pk), []) if a.ends_at > start
    ]
    absences = [a for a in absences if a.starts_at < end]
    days = []
    for offset in range(7):
        day = first_day + timedelta(days=offset)
        sessions = availability.sessions(resource.kind, resource.pk, day)
        hours = ", ".join(f"{hhmm(s)}-{hhmm(e)}" for s, e in sessions)
        day_start = clinic_datetime(day, time.min)
        day_end = clinic_datetime(day + timedelta(days=1), time.min)
        away = [a for a in absences if a.starts_at < day_end and a.ends_at > day_start]
        if day in availability.holidays:
            days.append(PreviewDay(day, "", "holiday", availability.holidays[day]))
        elif away:
            note = "; ".join(leave_text(a, zones) for a in away)
            days.append(PreviewDay(day, hours, "leave", note))
        elif sessions:
            days.append(PreviewDay(day, hours, "working", ""))
        else:
            days.append(PreviewDay(day, "", "off", ""))
    return days


def leave_text(leave: Unavailability, zones: list[ZoneInfo] | None = None) -> str:
    """'Leave, Mon 15 Dec (whole day)' when it is whole days at `zones` (the resource's
    sites), else its start and end on the current clock."""
    days = whole_days_of(leave, zones) if zones else None
    if days is not None:
        first, last = days
        if first == last:
            return _("%(reason)s, %(day)s (whole day)") % {
                "reason": leave.get_reason_display(),
                "day": formats.date_format(first, "D j M"),
            }
        return _("%(reason)s, %(first)s to %(last)s (whole days)") % {
            "reason": leave.get_reason_display(),
            "first": formats.date_format(first, "D j M"),
            "last": formats.date_format(last, "D j M"),
        }
    tz = clinic_tz()
    return _("%(reason)s, %(start)s to %(end)s") % {
        "reason": leave.get_reason_display(),
        "start": formats.date_format(leave.starts_at.astimezone(tz), "D j M H:i"),
        "end": formats.date_format(leave.ends_at.astimezone(tz), "D j M H:i"),
    }


def _load(resource: Resource, first_day: date, last_day: date) -> Availability:
    """Stored hours, leave and holidays of the resource (the booking rules' own read)."""
    return availability_load(
        providers=[resource.obj] if isinstance(resource.obj, Provider) else [],
        rooms=[resource.obj] if isinstance(resource.obj, Room) else [],
        first_day=first_day,
        last_day=last_day,
    )


def _availability(
    resource: Resource,
    weekly: Weekly | None,
    first_day: date,
    last_day: date,
    extra_leave: Unavailability | None,
) -> Availability:
    """Stored availability with the proposed hours (and leave) laid over it."""
    return _overlay(_load(resource, first_day, last_day), resource, weekly, extra_leave)


def _overlay(
    availability: Availability,
    resource: Resource,
    weekly: Weekly | None,
    extra_leave: Unavailability | None,
) -> Availability:
    """A copy of `availability` with the resource's hours replaced and leave added."""
    key = (resource.kind, resource.pk)
    then = Availability(
        hours=dict(availability.hours),
        absences={k: list(v) for k, v in availability.absences.items()},
        holidays=availability.holidays,
    )
    if weekly is None:
        then.hours.pop(key, None)  # the clinic default applies
    else:
        then.hours[key] = weekly
    if extra_leave is not None:
        then.absences.setdefault(key, []).append(extra_leave)
    return then


# --- What a change would leave outside hours ----------------------------------------


def _future_visits(resource: Resource) -> list[Appointment]:
    return list(
        Appointment.objects.active()
        .filter(**resource._filter(), start_at__gte=clinic_datetime(clinic_today(), time.min))
        .exclude(status__in=[Appointment.Status.COMPLETED, Appointment.Status.IN_PROCEDURE])
        .select_related("patient", "procedure_type", "provider", "room__site")
        .order_by("start_at")
    )


def _problem(
    availability: Availability,
    resource: Resource,
    visit: Appointment,
    zones: list[ZoneInfo] | None = None,
) -> str:
    """Why the visit would sit outside the resource's hours, or '' when it fits."""
    if resource.kind == "provider":
        start, end = visit.start_at, visit.end_at
    else:
        start, end = visit.blocked_from, visit.blocked_until
    absence = availability.absence(resource.kind, resource.pk, start, end)
    if absence is not None:
        return _("on leave then (%(why)s)") % {"why": leave_text(absence, zones)}
    if not availability.within_hours(resource.kind, resource.pk, start, end):
        day = start.astimezone(clinic_tz()).date()
        sessions = availability.sessions(resource.kind, resource.pk, day)
        if not sessions:
            return _("not working on %(weekday)s") % {"weekday": formats.date_format(day, "l")}
        return _("works %(hours)s on %(weekday)s; the visit needs %(span)s") % {
            "hours": ", ".join(f"{hhmm(s)}-{hhmm(e)}" for s, e in sessions),
            "weekday": formats.date_format(day, "l"),
            "span": f"{hhmm(start)}-{hhmm(end)}",
        }
    return ""


def affected_visits(
    resource: Resource, *, weekly: Weekly | None, extra_leave: Unavailability | None = None
) -> list[AffectedVisit]:
    """The booked future visits that fit today's availability but would not fit with
    `weekly` (None: the clinic default) and `extra_leave`. Four queries.

    Each visit is judged on the wall clock of its room's site (invariant 19): a
    physician's 09:00 is 09:00 in New York for a visit there, in London for one here."""
    visits = _future_visits(resource)
    if not visits:
        return []
    # A day either side: the visits' sites may be in zones other than this page's.
    first = min(clinic_today(), visits[0].blocked_from.date()) - timedelta(days=1)
    last = max(v.blocked_until.date() for v in visits) + timedelta(days=1)
    now = _load(resource, first, last)
    then = _overlay(now, resource, weekly, extra_leave)
    zones = resource_zones(resource)
    affected = []
    for visit in visits:
        with timezone.override(visit.site_tz):
            if _problem(now, resource, visit):
                continue  # already outside before this change: not this change's doing
            reason = _problem(then, resource, visit, zones)
        if reason:
            affected.append(AffectedVisit(visit, reason))
    return affected


def require_confirmation(affected: list[AffectedVisit], confirmed: Collection[int]) -> None:
    if not {a.appointment.pk for a in affected} <= set(confirmed):
        raise HoursNeedConfirmation(affected)


# --- Writes --------------------------------------------------------------------------


def hours_validate(weekly: Weekly) -> None:
    """Refuse sessions that end before they start, overlap, or an own week with none."""
    errors: dict[str, list[str]] = {}
    names = dict(_weekday_names())
    for day, sessions in sorted(weekly.items()):
        field = f"day_{day}"
        ordered = sorted(sessions)
        for starts, ends in ordered:
            if ends <= starts:
                errors.setdefault(field, []).append(
                    _("%(day)s: a session must end after it starts (%(start)s-%(end)s).")
                    % {"day": names[day], "start": f"{starts:%H:%M}", "end": f"{ends:%H:%M}"}
                )
        for (s1, e1), (s2, e2) in pairwise(ordered):
            if s2 < e1:
                errors.setdefault(field, []).append(
                    _("%(day)s: the sessions %(a)s and %(b)s overlap.")
                    % {
                        "day": names[day],
                        "a": f"{s1:%H:%M}-{e1:%H:%M}",
                        "b": f"{s2:%H:%M}-{e2:%H:%M}",
                    }
                )
    if not errors and not any(weekly.values()):
        errors["__all__"] = [
            _(
                "Own hours need at least one session. To keep someone out of the calendar "
                "for a while, add leave instead."
            )
        ]
    if errors:
        raise ValidationError(errors)


def _weekday_names() -> list[tuple[int, str]]:
    return [(d, formats.date_format(date(2024, 1, 1) + timedelta(days=d), "l")) for d in range(7)]


def hours_set(
    *, resource: Resource, weekly: Weekly | None, confirmed: Collection[int], by: User
) -> list[AffectedVisit]:
    """Save `weekly` as the resource's own hours (None: back to the clinic default).

    Raises `HoursNeedConfirmation` (nothing saved) unless every visit the change would
    leave outside hours is in `confirmed`; returns those visits once saved."""
    if weekly is not None:
        hours_validate(weekly)
    with transaction.atomic():
        _lock(resource)
        affected = affected_visits(resource, weekly=weekly)
        require_confirmation(affected, confirmed)
        with set_actor(by):
            for row in WorkingHours.objects.filter(**resource._filter()):
                row.delete()  # one at a time, so each deletion is audited
            for day, sessions in sorted((weekly or {}).items()):
                for starts, ends in sorted(sessions):
                    WorkingHours.objects.create(
                        **resource._filter(), weekday=day, starts=starts, ends=ends
                    )
    return affected


def leave_build(
    *, resource: Resource, starts_at: datetime, ends_at: datetime, reason: str, note: str
) -> Unavailability:
    """An unsaved leave row, checked: ends after it starts, a known reason, no overlap."""
    errors: dict[str, list[str]] = {}
    # Real instants, as the database's check compares them (QA 1, #3).
    if ends_at.astimezone(UTC) <= starts_at.astimezone(UTC):
        errors.setdefault("ends_on", []).append(_("The leave must end after it starts."))
    if reason not in Unavailability.Reason.values:
        errors.setdefault("reason", []).append(_("Choose a reason."))
    if not errors:
        clash = (
            Unavailability.objects.filter(**resource._filter())
            .filter(starts_at__lt=ends_at, ends_at__gt=starts_at)
            .first()
        )
        if clash is not None:
            errors.setdefault("starts_on", []).append(
                _("This overlaps leave already recorded (%(leave)s). Change or remove it first.")
                % {"leave": leave_text(clash, resource_zones(resource))}
            )
    if errors:
        raise ValidationError(errors)
    return Unavailability(
        **resource._filter(), starts_at=starts_at, ends_at=ends_at, reason=reason, note=note
    )


def leave_add(
    *,
    resource: Resource,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    note: str = "",
    confirmed: Collection[int],
    by: User,
) -> tuple[Unavailability, list[AffectedVisit]]:
    """Record leave (or a closure) for the resource; like `hours_set`, refused until the
    visits it would leave on leave are confirmed."""
    with transaction.atomic():
        _lock(resource)
        leave = leave_build(
            resource=resource, starts_at=starts_at, ends_at=ends_at, reason=reason, note=note
        )
        affected = affected_visits(resource, weekly=weekly_of(resource), extra_leave=leave)
        require_confirmation(affected, confirmed)
        with set_actor(by):
            leave.save()
    return leave, affected


def leave_remove(*, resource: Resource, leave_id: int, by: User) -> None:
    """Remove a leave row of this resource (frees time: nothing to confirm)."""
    with transaction.atomic(), set_actor(by):
        leave = Unavailability.objects.select_for_update().get(pk=leave_id, **resource._filter())
        leave.delete()


def _lock(resource: Resource) -> None:
    """One change to a resource's hours at a time (two admins on one page), and none
    while a booking on it is being written (the booking's lock first, as it takes it:
    the booking then checks the hours this change commits, or this change lists the
    visit it booked)."""
    queue_behind_resource_writes(resource.obj)
    list(type(resource.obj).objects.select_for_update().filter(pk=resource.pk).values_list("pk"))


# --- The list of physicians and rooms ------------------------------------------------


@dataclass(frozen=True)
class HoursRow:
    resource: Resource
    own: bool
    summary: str
    hours_a_week: float
    leave_ahead: int


def hours_overview() -> tuple[list[HoursRow], list[HoursRow]]:
    """Every active physician and room: own hours or the clinic default, a summary, and
    how many stretches of leave lie ahead. Four queries."""
    weekly: dict[tuple[str, int | None], Weekly] = {}
    for session in WorkingHours.objects.order_by("weekday", "starts"):
        key = (
            ("provider", session.provider_id) if session.provider_id else ("room", session.room_id)
        )
        weekly.setdefault(key, {}).setdefault(session.weekday, []).append(
            (session.starts, session.ends)
        )
    leave: dict[tuple[str, int | None], int] = {}
    for provider_id, room_id in Unavailability.objects.filter(
        ends_at__gt=clinic_datetime(clinic_today(), time.min)
    ).values_list("provider_id", "room_id"):
        key = ("provider", provider_id) if provider_id else ("room", room_id)
        leave[key] = leave.get(key, 0) + 1

    def row(resource: Resource) -> HoursRow:
        own = weekly.get((resource.kind, resource.pk))
        return HoursRow(
            resource,
            own is not None,
            weekly_text(own),
            weekly_hours_total(own),
            leave.get((resource.kind, resource.pk), 0),
        )

    providers = [row(Resource("provider", p)) for p in Provider.objects.filter(is_active=True)]
    rooms = [row(Resource("room", r)) for r in Room.objects.filter(is_active=True)]
    return providers, rooms
