"""The header's site switcher (issue 18). A tag rather than the context processor:
`clinic` (plumbing) knows no domain, and only pages with the header pay its one query."""

from django import template
from django.utils import timezone

from procedures.catalog.clock import visit_span_text
from procedures.catalog.sites import ALL_SITES, Site, current_site_id, may_see_all_sites

register = template.Library()


@register.inclusion_tag("procedures/catalog/_site_switcher.html", takes_context=True)
def site_switcher(context):
    request = context["request"]
    rows = list(Site.objects.filter(is_active=True).values_list("pk", "name", "code", "time_zone"))
    sites = [(pk, name, code) for pk, name, code, _zone in rows]
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
