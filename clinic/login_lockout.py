"""The login lockout (django-axes) with two thresholds.

django-axes counts failed log-ins twice (AXES_LOCKOUT_PARAMETERS): per username
from one address, and per address whatever the username. It compares the larger
count with one limit, so with one limit a single person's five wrong passwords
lock every colleague behind the same address (a clinic's NAT, or every request
when the proxy settings are missing: QA pass 2, #1). Here the limit depends on
which count is over:

- CLINIC_LOGIN_FAILURE_LIMIT (5) wrong passwords for one username from one
  address lock that username there: the person guessing, not the colleagues.
- CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT (30) failures from one address, whatever
  the usernames, lock the address (password spraying: one guess per name).

axes' own reset on success would delete every attempt from the address (the
address count's rows included), so one colleague's good log-in would unlock a
guesser next to them. Instead a good log-in forgets only that person's own
failures from that address.
"""

from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .client_ip import client_ip


def _address(request: HttpRequest) -> str | None:
    return getattr(request, "axes_ip_address", None) or client_ip(request)


def person_failures(request: HttpRequest, credentials: dict | None = None) -> int:
    """Failures within the cool-off for the username being tried, from this address."""
    username = get_client_username(request, credentials)
    if not username:
        return 0
    attempts = AccessAttempt.objects.filter(username=username, ip_address=_address(request))
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def failure_limit(request: HttpRequest, credentials: dict | None = None) -> int:
    """AXES_FAILURE_LIMIT: axes locks when its larger count reaches this.

    The username's own count is never above the address's, so when the username
    has reached its limit that limit is returned (locked); otherwise the address's
    larger limit, which only the address count can reach.
    """
    person_limit = settings.CLINIC_LOGIN_FAILURE_LIMIT
    if person_failures(request, credentials) >= person_limit:
        return person_limit
    return max(person_limit, settings.CLINIC_LOGIN_ADDRESS_FAILURE_LIMIT)


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the page says what is locked (this name here, or this
    network), for how long, and leads back to the log-in form."""
    cool_off = get_cool_off(request)
    context = {
        "address_locked": person_failures(request, credentials)
        < settings.CLINIC_LOGIN_FAILURE_LIMIT,
        "minutes": round(cool_off.total_seconds() / 60) if cool_off else None,
    }
    return render(
        request,
        "registration/locked_out.html",
        context,
        status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429),  # axes' default: 429
    )


def forget_own_failures(sender: Any, request: HttpRequest | None, user: Any, **kwargs) -> None:
    """On login (user_logged_in): the person's own wrong passwords from this address
    no longer count, and nobody else's do not change."""
    if request is None:
        return
    address = _address(request)
    if address:
        AccessAttempt.objects.filter(username=user.get_username(), ip_address=address).delete()
