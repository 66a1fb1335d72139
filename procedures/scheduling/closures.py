"""Clinic holidays (closures) as a clinic admin adds them on the hours page: a day one
site, or every site, is closed; and a site's public holidays (its country and region,
the `holidays` package) added as closures in one go.

A closure that would fall on booked visits saves nothing until the admin confirms
exactly those visits (invariant 16, as for hours and leave); afterwards they are listed
to move. A closure and a booking at the same site never pass each other: the closure
takes the advisory lock of each room it closes (the bookings' lock, in room order)
before it reads the visits, and bookings check closures inside their transaction
behind that lock (scheduling/booking.py).
"""

from collections.abc import Collection
from contextlib import nullcontext
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from auditlog.context import set_actor
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_today
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.resources import Room
from procedures.catalog.sites import Site
from procedures.scheduling.booking import queue_behind_resource_writes
from procedures.scheduling.hours_admin import AffectedVisit, require_confirmation
from procedures.scheduling.models import Appointment


def public_holidays_of(site: Site, year: int) -> list[tuple[date, str]]:
    """The public holidays of the site's country and region in `year`, in date order
    ([] for a site without a country)."""
    if not site.holidays_country:
        return []
    calendar = holiday_calendars.country_holidays(
        site.holidays_country, subdiv=site.holidays_subdivision or None, years=year
    )
    return sorted(calendar.items())


def visits_closed_by(days: Collection[date], site: Site | None) -> list[Appointment]:
    """The booked visits (not yet under way) on these clinic days at the site's rooms,
    or at every site's for a network-wide closure. Each site's day is in its own zone
    (invariant 19): a network-wide closure of 1 January closes New York's 1 January."""
    if not days:
        return []
    if site is not None:
        zones = [site.time_zone]
    else:
        zones = list(Site.objects.order_by().values_list("time_zone", flat=True).distinct())
    span = Q()
    for zone in zones:
        tz = ZoneInfo(zone)
        for day in days:
            span |= Q(
                site__time_zone=zone,
                start_at__gte=datetime.combine(day, time.min, tzinfo=tz),
                start_at__lt=datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz),
            )
    visits = Appointment.objects.active().filter(span)
    if site is not None:
        visits = visits.filter(site=site)
    return list(
        visits.exclude(status__in=[Appointment.Status.COMPLETED, Appointment.Status.IN_PROCEDURE])
        .select_related("patient", "procedure_type", "room__site")
        .order_by("start_at")
    )


def _closure_exists(day: date, site: Site | None) -> ClinicHoliday | None:
    """A closure that already closes `site` on `day`: the network's, or the site's own."""
    rows = ClinicHoliday.objects.filter(date=day)
    if site is None:
        return rows.filter(site__isnull=True).first()
    return rows.filter(Q(site__isnull=True) | Q(site=site)).first()


def _lock_rooms(site: Site | None) -> None:
    rooms = Room.objects.order_by("pk")
    if site is not None:
        rooms = rooms.filter(site=site)
    for room in rooms:
        queue_behind_resource_writes(room)


def closures_add(
    *,
    days: list[tuple[date, str]],
    site: Site | None,
    confirmed: Collection[int],
    by: User,
) -> tuple[list[ClinicHoliday], list[AffectedVisit]]:
    """Close `site` (None: every site) on each (day, name). Days already closed for it
    are skipped. Raises ValidationError for a past day or an empty name, and
    HoursNeedConfirmation (nothing saved) unless every booked visit on those days is in
    `confirmed`. Returns the closures made and the visits to move."""
    # "Past" at the site closed (every site: the network's zone, the usual case).
    with timezone.override(site.tz) if site is not None else nullcontext():
        today = clinic_today()
    for day, name in days:
        if day < today:
            raise ValidationError(
                {
                    "date": _("%(day)s is in the past: a closure is for today or later.")
                    % {"day": formats.date_format(day, "j F Y")}
                }
            )
        if not name.strip():
            raise ValidationError({"name": _("Say what the closure is (e.g. Staff training).")})
    with transaction.atomic():
        _lock_rooms(site)
        new = dict((day, name.strip()) for day, name in days if _closure_exists(day, site) is None)
        where = site.name if site is not None else _("every site")
        affected = [
            AffectedVisit(
                visit,
                _("%(where)s is closed that day (%(name)s)")
                % {"where": where, "name": new[visit.start_at.astimezone(visit.site_tz).date()]},
            )
            for visit in visits_closed_by(list(new), site)
        ]
        require_confirmation(affected, confirmed)
        with set_actor(by):
            made = [
                ClinicHoliday.objects.create(date=day, name=name, site=site)
                for day, name in sorted(new.items())
            ]
    return made, affected


def closure_remove(*, closure_id: int, by: User) -> ClinicHoliday:
    """Reopen the day (frees time: nothing to confirm). DoesNotExist for no such row."""
    with transaction.atomic(), set_actor(by):
        closure = ClinicHoliday.objects.select_for_update().get(pk=closure_id)
        closure.delete()
    return closure


def closures_ahead(days: int = 366) -> list[ClinicHoliday]:
    """The closures from today for about a year, each with its site (None: every site)."""
    today = clinic_today()
    return list(
        ClinicHoliday.objects.filter(date__gte=today, date__lte=today + timedelta(days=days))
        .select_related("site")
        .order_by("date", "site__name")
    )
