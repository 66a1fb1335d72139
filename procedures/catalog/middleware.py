"""The current site's clock for a request's pages (issue 18)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from procedures.catalog.sites import current_site_zone


class SiteTimeZoneMiddleware:
    """Activate the current site's time zone for the request, as Django's time zone
    docs do: templates, forms (a typed 08:00 is 08:00 there) and the clinic-day
    arithmetic of `procedures.catalog.clock` follow it. "All sites", and requests
    without a staff member, keep the network's zone (settings.TIME_ZONE, which is
    CLINIC_TIME_ZONE). After the session and authentication middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        zone = current_site_zone(request) if user is not None and user.is_authenticated else None
        if zone:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
