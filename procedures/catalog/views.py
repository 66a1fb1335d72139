"""The header's site switcher (issue 18): one small POST that sets the session's site."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clinic import policy
from clinic.http import local_path
from procedures.catalog.sites import site_choose


@policy.allowed("site_switch")
@require_POST
def site_switch(request):
    """Show another site (or all sites, for the roles allowed), then back to the page."""
    back = local_path(request, request.POST.get("next", "")) or "/"
    try:
        site = site_choose(request, request.POST.get("site", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    messages.info(
        request,
        _("Showing %(site)s.") % {"site": site.name if site else _("all sites")},
    )
    return redirect(back)
