"""The header's site switcher (issue 18). A tag rather than the context processor:
`clinic` (plumbing) knows no domain, and only pages with the header pay its one query."""

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.catalog.clock import other_clock_label, visit_span_text
from procedures.catalog.sites import ALL_SITES, Site, current_site_id, may_see_all_sites

register = template.Library()


def _active_sites(request) -> list[tuple]:
    """(id, name, code, time zone, phone) of each active site, read once a request: the
    header's name and the switcher share the query."""
    rows = getattr(request, "_clinic_active_sites", None)
    if rows is None:
        rows = request._clinic_active_sites = list(
            Site.objects.filter(is_active=True).values_list(
                "pk", "name", "code", "time_zone", "phone"
            )
        )
    return rows


@register.simple_tag(takes_context=True)
def site_header(context) -> dict[str, str]:
    """The header's and footer's clinic: the site the pages show (its name and phone),
    or the network's name with "all sites". A member of staff at Northgate must not
    read Riverside's name at the top of Northgate's board (the switcher itself folds
    into the menu below 1400 px)."""
    request = context["request"]
    chosen = current_site_id(request)
    if chosen is not None:
        for pk, name, _code, _zone, phone in _active_sites(request):
            if pk == chosen:
                return {"name": name, "phone": phone or settings.CLINIC_PHONE}
        return {"name": settings.CLINIC_NAME, "phone": settings.CLINIC_PHONE}
    return {
        "name": _("%(network)s · all sites") % {"network": settings.CLINIC_NAME},
        "phone": settings.CLINIC_PHONE,
    }


@register.inclusion_tag("procedures/catalog/_site_switcher.html", takes_context=True)
def site_switcher(context):
    request = context["request"]
    rows = _active_sites(request)
    sites = [(pk, name, code) for pk, name, code, _zone, _phone in rows]
    all_allowed = may_see_all_sites(request.user)
    chosen = current_site_id(request)
    current = next((name for pk, name, _code in sites if pk == chosen), "")
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "sites": sites,
        # One site and nobody to see "all": nothing to switch.
        "show": len(sites) > 1,
        "all_allowed": all_allowed,
        "ALL_SITES": ALL_SITES,
        "chosen": ALL_SITES if chosen is None else chosen,
        "current": current,
        # Sites in more than one zone: say which zone the page's times are in (the
        # current site's; the network's for "all sites").
        "zone": timezone.get_current_timezone_name() if len({r[3] for r in rows}) > 1 else "",
    }


@register.simple_tag
def visit_when(start, end, site: Site) -> str:
    """A visit's time on its own site's clock, with the site (and, when it is not the
    page's, the zone) named: `{% visit_when a.start_at a.end_at a.site %}`."""
    return visit_span_text(start, end, site_name=site.name, zone_name=site.time_zone)


@register.simple_tag
def other_clock(site: Site) -> str:
    """The visit's clock in words ("Northgate, Paris time") when its site keeps another
    zone than the page, else "": `{% other_clock appointment.room.site as clock %}`
    before the page's `{% timezone appointment.site_tz %}`, so a visit's times are on
    its own clock and say so (QA 3, #7)."""
    return other_clock_label(site)
