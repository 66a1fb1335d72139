"""Sites: the clinics of a network. Rooms belong to one site, physicians work at one or
more, staff have a home site and switch between sites in the header.

Patients are network-wide (a patient may visit any site). What a visit, an order or a
task belongs to is its room's site: each model that has a site says how it reaches it
(`site_lookup`, e.g. "site" on Appointment), and `at_site()` narrows any of their
querysets by it in the same query. See docs/scheduling.md ("Sites").
"""

import functools
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, available_timezones

import holidays
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from clinic import policy
from clinic.bounds import query_id

#: The session key that holds the staff member's current site: a site id, or ALL_SITES.
SESSION_KEY = "clinic_site"
ALL_SITES = "all"
#: The session key that holds [site id, time zone name] of the current site: the zone its
#: pages are in, read on every request without a query (Django's documented pattern).
ZONE_SESSION_KEY = "clinic_site_zone"
#: The code of the site an upgraded single-clinic database becomes (and seed_scale's rooms
#: land in by default).
MAIN_CODE = "main"


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA zone name the server knows ("Europe/London"), not an offset or an abbreviation."""
    if value not in _zones():
        raise ValidationError(
            _("“%(value)s” is not a time zone name; use one like Europe/London."),
            code="invalid_time_zone",
            params={"value": value},
        )


def holidays_refusal(country: str, subdivision: str) -> str | None:
    """Why the `holidays` package has no calendar for this country and region (None: it
    has, or no country is given). Asked by the admin before a site is saved and by the
    hours page before adding its public holidays (QA 1, #4: "XX" or GB-"ZZZ" was saved,
    then "Add public holidays" was a 500); a database from before may hold one."""
    if not country:
        if subdivision:
            return _("Give the country of the region %(region)s, or leave the region empty.") % {
                "region": subdivision
            }
        return None
    if country not in holidays.list_supported_countries():
        return _(
            "“%(country)s” is not a country the public-holiday calendar knows; use its "
            "two-letter ISO code, e.g. GB, IE or US."
        ) % {"country": country}
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        return _(
            "“%(region)s” is not a region of %(country)s the public-holiday calendar "
            "knows; use one of %(regions)s, or leave it empty."
        ) % {
            "region": subdivision,
            "country": country,
            "regions": ", ".join(holidays.list_supported_countries()[country]) or "-",
        }
    return None


class Site(models.Model):
    """A clinic of the network: where patients go, and what their emails say."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    code = models.SlugField(
        _("short code"),
        max_length=20,
        unique=True,
        help_text=_("A few letters shown in the site switcher and on boards, e.g. “north”."),
    )
    address = models.TextField(_("address"), help_text=_("As patients read it in their emails."))
    phone = models.CharField(_("phone"), max_length=40)
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        validators=[validate_time_zone],
        help_text=_("An IANA time zone name, e.g. Europe/London."),
    )
    # Public holidays of the `holidays` package; typed closures are ClinicHoliday rows.
    holidays_country = models.CharField(
        _("public holidays: country"),
        max_length=2,
        blank=True,
        help_text=_("ISO code (GB, IE, US); empty for no public holidays."),
    )
    holidays_subdivision = models.CharField(
        _("public holidays: region"),
        max_length=10,
        blank=True,
        help_text=_("Optional, e.g. ENG, SCT, WLS or NIR for GB."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    site_lookup = ""  # the site itself

    class Meta:
        ordering = ["name"]
        verbose_name = _("site (clinic)")
        verbose_name_plural = _("sites (clinics)")

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def clean(self) -> None:
        # "gb" and " GB " are GB; the package's codes are upper case.
        self.holidays_country = self.holidays_country.strip().upper()
        self.holidays_subdivision = self.holidays_subdivision.strip()
        regions = holidays.list_supported_countries().get(self.holidays_country, [])
        if self.holidays_subdivision.upper() in regions:
            self.holidays_subdivision = self.holidays_subdivision.upper()
        if refusal := holidays_refusal(self.holidays_country, self.holidays_subdivision):
            field = (
                "holidays_subdivision"
                if self.holidays_country in holidays.list_supported_countries()
                else "holidays_country"
            )
            raise ValidationError({field: refusal})


class StaffProfile(models.Model):
    """A staff member's home site: where the header's site switcher starts."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    home_site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="home_staff", verbose_name=_("home site")
    )

    class Meta:
        verbose_name = _("staff home site")

    def __str__(self) -> str:
        return f"{self.user} @ {self.home_site}"


def patient_context(site: Site) -> dict[str, str]:
    """What patient emails and link pages say about the place: the visit's site."""
    return {
        "clinic_name": site.name,
        "clinic_address": site.address,
        "clinic_phone": site.phone,
        "clinic_time_zone": site.time_zone,
    }


def site_from_settings() -> dict[str, str]:
    """The one clinic the CLINIC_* settings describe, as Site fields."""
    return {
        "name": settings.CLINIC_NAME,
        "address": settings.CLINIC_ADDRESS,
        "phone": settings.CLINIC_PHONE,
        "time_zone": settings.CLINIC_TIME_ZONE,
        "holidays_country": getattr(settings, "CLINIC_HOLIDAYS_COUNTRY", ""),
        "holidays_subdivision": getattr(settings, "CLINIC_HOLIDAYS_SUBDIVISION", ""),
    }


def default_site_id() -> int:
    """The site a room gets when none is given: the first site, made from the CLINIC_*
    settings if there is none yet (a fresh database, or code that predates sites)."""
    first = Site.objects.order_by("pk").values_list("pk", flat=True).first()
    if first is not None:
        return first
    site, _created = Site.objects.get_or_create(code=MAIN_CODE, defaults=site_from_settings())
    return site.pk


def default_site() -> Site:
    return Site.objects.get(pk=default_site_id())


# --- The current site of a request -------------------------------------------------------


class _Request(Protocol):
    user: Any
    session: Any


def may_see_all_sites(user: Any) -> bool:
    return policy.may(user, "sites_all")


def home_site_id(user: Any) -> int | None:
    """A staff member's home site: their profile's, else the first site they practise at
    (physicians), else the network's first active site."""
    profile = StaffProfile.objects.filter(user=user).values_list("home_site", flat=True).first()
    if profile is not None:
        return profile
    practised = (
        Site.objects.filter(providers__user=user, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if practised is not None:
        return practised
    return Site.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True).first()


def start_at_home_site(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """On login (user_logged_in): the session shows the home site, so pages read the
    current site from the session without a query."""
    if request is not None and hasattr(request, "session"):
        site_id = home_site_id(user)
        if site_id is not None:
            request.session[SESSION_KEY] = site_id
            _remember_zone(request, site_id)


def _remember_zone(request: _Request, site_id: int, zone: str | None = None) -> str | None:
    """Keep the zone of site `site_id` in the session beside its id (one query if not given)."""
    if zone is None:
        zone = Site.objects.filter(pk=site_id).values_list("time_zone", flat=True).first()
    if zone is not None:
        request.session[ZONE_SESSION_KEY] = [site_id, zone]
    return zone


def current_site_zone(request: _Request) -> str | None:
    """The time zone name of the request's current site, or None for "all sites" (the
    network's CLINIC_TIME_ZONE). From the session, without a query once it is known; a
    change of a site's zone reaches a staff member at their next login or switch."""
    site_id = current_site_id(request)
    if site_id is None:
        return None
    kept = request.session.get(ZONE_SESSION_KEY)
    if isinstance(kept, list) and len(kept) == 2 and kept[0] == site_id:
        return str(kept[1])
    return _remember_zone(request, site_id)


def current_site_id(request: _Request) -> int | None:
    """The site the request's pages show: an id, or None for "all sites".

    Read from the session (no query); the first time, from the home site, which is then
    kept in the session. "All sites" is honoured only for roles allowed it (a role taken
    away mid-session falls back to the home site).
    """
    cached = getattr(request, "_clinic_site_id", False)
    if cached is not False:
        return cached
    value = request.session.get(SESSION_KEY)
    site_id: int | None
    if value == ALL_SITES and may_see_all_sites(request.user):
        site_id = None
    elif isinstance(value, int):
        site_id = value
    else:
        site_id = home_site_id(request.user)
        if site_id is not None:
            request.session[SESSION_KEY] = site_id
    request._clinic_site_id = site_id  # type: ignore[attr-defined]  # per-request memo
    return site_id


def current_site(request: _Request) -> Site | None:
    """The current site's row (one query), or None for "all sites"."""
    site_id = current_site_id(request)
    return None if site_id is None else Site.objects.filter(pk=site_id).first()


def site_choose(request: _Request, choice: str) -> Site | None:
    """Switch the request's session to site `choice` (an id, or ALL_SITES). Raises
    ValidationError for a site that does not exist or is closed, or "all sites" for a
    role not allowed it. Returns the site chosen (None for all sites)."""
    if choice == ALL_SITES:
        if not may_see_all_sites(request.user):
            raise ValidationError(_("Your role works at one site at a time."), code="not_allowed")
        request.session[SESSION_KEY] = ALL_SITES
        request._clinic_site_id = None  # type: ignore[attr-defined]
        return None
    site = Site.objects.filter(pk=query_id(choice) or 0, is_active=True).first()
    if site is None:
        raise ValidationError(_("Choose one of the sites listed."), code="unknown_site")
    request.session[SESSION_KEY] = site.pk
    _remember_zone(request, site.pk, site.time_zone)
    request._clinic_site_id = site.pk  # type: ignore[attr-defined]
    return site


def covers_network(site_id: int | None) -> bool:
    """Whether a page at `site_id` shows the whole network: "all sites", or the one site
    there is (a single-clinic install has no switcher)."""
    return site_id is None or not Site.objects.filter(is_active=True).exclude(pk=site_id).exists()


# --- Narrowing a queryset to a site -------------------------------------------------------

QS = TypeVar("QS", bound=QuerySet[Any])


def at_site(queryset: QS, site_id: int | None) -> QS:
    """`queryset` narrowed to what belongs to site `site_id` (None: every site).

    The model names its path to the site in `site_lookup` ("site" for a room, a visit
    or an order, "appointment__site" for a task): one filter in the same query, joined
    through foreign keys, never a query per row.
    """
    if site_id is None:
        return queryset
    lookup = queryset.model.site_lookup  # declared per model
    # "appointment__site__id" compares appointment.site_id: Django joins the visit,
    # not the site.
    field = f"{lookup}__id" if lookup else "pk"
    return queryset.filter(**{field: site_id})
