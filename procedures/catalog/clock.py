"""Clinic-time arithmetic: the database stores UTC; days, wall-clock hours and every
"N days before" are in a site's zone.

The zone is Django's current time zone: a page's is its current site's (activated by
`procedures.catalog.middleware.SiteTimeZoneMiddleware`; "all sites" keep the network's,
settings.TIME_ZONE = CLINIC_TIME_ZONE). A rule tied to one room, visit or order runs in
that site's zone whoever asks: `with timezone.override(site.tz)` around it (invariant 19).
"""

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clinic import bounds
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.sites import Site, holidays_refusal


def clinic_tz() -> ZoneInfo:
    """The zone clinic days are in now: Django's current time zone (see above)."""
    zone = timezone.get_current_timezone()
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(str(zone))


def clinic_now() -> datetime:
    return timezone.now().astimezone(clinic_tz())


def clinic_today() -> date:
    return clinic_now().date()


def clinic_datetime(day: date, at: time, tz: ZoneInfo | None = None) -> datetime:
    """An aware datetime for a wall-clock time on a clinic day (DST-safe), in `tz` (a
    site's zone) or the current one.

    Two of these in one zone compare and subtract by wall clock, not by instant (Python's
    rule for a shared tzinfo): for a time someone typed use `clinic_instant`, after
    `clock_change_refusal`."""
    return datetime.combine(day, at, tzinfo=tz or clinic_tz())


def clinic_instant(day: date, at: time, tz: ZoneInfo | None = None) -> datetime:
    """The real instant (UTC) of a wall-clock time on a clinic day: what typed times
    become, so that "ends after it starts" and a visit's length are in real minutes on
    the day the clocks change (QA 1, #2: 01:30-02:30 on a spring-forward night passed
    the form by wall clock, was no time at all in UTC and broke the database's check)."""
    return clinic_datetime(day, at, tz).astimezone(UTC)


def clock_change_refusal(day: date, at: time, tz: ZoneInfo | None = None) -> str | None:
    """Why `at` on `day` is no one time on `tz`'s clock (None: it is one): the clocks
    skip it (spring forward) or pass it twice (fall back). Both are refused rather than
    guessed: a visit or leave silently an hour off is worse than asking again. Worded by
    `clinic.bounds.clock_change_refusal`, as the sample form's."""
    zone = tz or clinic_tz()
    first = datetime.combine(day, at, tzinfo=zone)
    if first.utcoffset() == first.replace(fold=1).utcoffset() and (
        first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == first.replace(tzinfo=None)
    ):
        return None
    return bounds.clock_change_refusal(datetime.combine(day, at), zone)


def zone_city(zone_name: str) -> str:
    """The place a zone is named after, as people say it: "America/New_York" is
    "New York", "Europe/London" "London"."""
    return zone_name.rsplit("/", 1)[-1].replace("_", " ")


def other_clock_label(site: Site) -> str:
    """The site's clock in words ("Northgate, Paris time") when `site` keeps another zone
    than the page's current one, else "": said beside a visit's times, which staff pages
    show on its site's clock (QA 3, #7: the appointment page read 10:00 London for an
    11:00 Paris visit while the patient's emails said 11:00 CET). Call it outside
    `timezone.override(site.tz)`."""
    if site.time_zone == timezone.get_current_timezone_name():
        return ""
    return _("%(site)s, %(city)s time") % {"site": site.name, "city": zone_city(site.time_zone)}


def visit_span_text(
    start: datetime, end: datetime | None, *, site_name: str, zone_name: str
) -> str:
    """A visit's time on its own site's clock, with the site named, e.g. "Thu 10 Dec 2026
    10:00-11:00 (Riverside, London time)": a visit at another site is never shown on the
    page's clock without saying so (invariant 19). The zone is named when it is not the
    page's."""
    tz = ZoneInfo(zone_name)
    local = start.astimezone(tz)
    text = formats.date_format(local, "D j M Y H:i")
    if end is not None:
        text += f"\u2013{end.astimezone(tz):%H:%M}"
    if zone_name != timezone.get_current_timezone_name():
        where = _("%(site)s, %(city)s time") % {"site": site_name, "city": zone_city(zone_name)}
    else:
        where = site_name
    return f"{text} ({where})"


def add_working_days(start: date, days: int, holidays: set[date]) -> date:
    """`start` plus `days` working days, skipping weekends and clinic holidays."""
    current, remaining = start, days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            remaining -= 1
    return current


@functools.lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    # A code the package does not know (a site saved before the admin checked them) counts
    # no holidays rather than failing every turnaround: the hours page says what is wrong.
    if not country or holidays_refusal(country, subdivision):
        return frozenset()
    return frozenset(
        holidays.country_holidays(country, subdiv=subdivision or None, years=year).keys()
    )


def public_holidays(first: date, last: date, *, site: Site | None = None) -> set[date]:
    """The public holidays (the `holidays` package) from `first` to `last`, substitute
    days included: of the site's country and region; without a site, of settings
    CLINIC_HOLIDAYS_COUNTRY and CLINIC_HOLIDAYS_SUBDIVISION (the network's)."""
    if site is not None:
        country, subdivision = site.holidays_country, site.holidays_subdivision
    else:
        country = getattr(settings, "CLINIC_HOLIDAYS_COUNTRY", "")
        subdivision = getattr(settings, "CLINIC_HOLIDAYS_SUBDIVISION", "")
    days: set[date] = set()
    for year in range(first.year, last.year + 1):
        days |= {d for d in _public_holidays(country, subdivision, year) if first <= d <= last}
    return days


def closed_days(first: date, last: date, *, site: Site | None = None) -> set[date]:
    """Days from `first` to `last` a site and its labs do not work, besides weekends:
    its public holidays, and the closures an admin typed (`ClinicHoliday`) for it or for
    every site (invariant 19). Without a site: the settings' public holidays and every
    typed closure."""
    typed = ClinicHoliday.objects.filter(date__gte=first, date__lte=last)
    if site is not None:
        typed = typed.filter(Q(site__isnull=True) | Q(site=site))
    return public_holidays(first, last, site=site) | set(typed.values_list("date", flat=True))
