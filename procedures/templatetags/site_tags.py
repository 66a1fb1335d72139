"""The header's site switcher (issue 18). A tag rather than the context processor:
`clinic` (plumbing) knows no domain, and only pages with the header pay its one query."""

from django import template

from procedures.catalog.sites import ALL_SITES, Site, current_site_id, may_see_all_sites

register = template.Library()


@register.inclusion_tag("procedures/catalog/_site_switcher.html", takes_context=True)
def site_switcher(context):
    request = context["request"]
    sites = list(Site.objects.filter(is_active=True).values_list("pk", "name", "code"))
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
    }
