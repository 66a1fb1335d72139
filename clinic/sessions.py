"""Session limits: an idle timeout, an absolute lifetime and "log out everywhere".

A session remembers when it started and when its user last did something. A
request after CLINIC_SESSION_IDLE_SECONDS of inactivity, or after
CLINIC_SESSION_ABSOLUTE_SECONDS since login, ends the session and sends the
person to the login page with the reason. The page script (static/js/session.js)
warns CLINIC_SESSION_WARNING_SECONDS before the idle timeout, and "Stay logged
in" is a request to `session_keepalive`.
"""

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY, logout
from django.contrib.sessions.models import Session
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import ngettext

STARTED_AT = "clinic_session_started_at"
LAST_SEEN = "clinic_session_last_seen"
# Requests that report on the session without counting as activity.
PASSIVE_URL_NAMES = {"session_status"}
ACTIVITY_RESOLUTION = 30


def _now() -> float:
    return timezone.now().timestamp()


def start_session(sender, request: HttpRequest, user: Any, **kwargs) -> None:
    """On login (user_logged_in): the clock of both limits starts now."""
    now = _now()
    request.session[STARTED_AT] = now
    request.session[LAST_SEEN] = now


def note_activity(request: HttpRequest, *, force: bool = False) -> None:
    """Move the idle clock on. Written at most every ACTIVITY_RESOLUTION seconds, so
    that a burst of requests is not a burst of session writes."""
    now = _now()
    if force or now - request.session.get(LAST_SEEN, 0) >= ACTIVITY_RESOLUTION:
        request.session[LAST_SEEN] = now


def idle_seconds_left(request: HttpRequest) -> int:
    last_seen = request.session.get(LAST_SEEN, _now())
    return max(0, int(settings.CLINIC_SESSION_IDLE_SECONDS - (_now() - last_seen)))


def expiry_reason(request: HttpRequest) -> str | None:
    """Why this session has ended, or None while it is still good."""
    now = _now()
    started_at = request.session.get(STARTED_AT)
    last_seen = request.session.get(LAST_SEEN)
    if started_at is None or last_seen is None:
        # A session created without the login view (e.g. a test's force_login):
        # start the clocks now.
        request.session.setdefault(STARTED_AT, now)
        request.session.setdefault(LAST_SEEN, now)
        return None
    if now - started_at > settings.CLINIC_SESSION_ABSOLUTE_SECONDS:
        hours = settings.CLINIC_SESSION_ABSOLUTE_SECONDS // 3600
        return ngettext(
            "Your session reached its limit of %(hours)s hour. Please log in again.",
            "Your session reached its limit of %(hours)s hours. Please log in again.",
            hours,
        ) % {"hours": hours}
    if now - last_seen > settings.CLINIC_SESSION_IDLE_SECONDS:
        minutes = settings.CLINIC_SESSION_IDLE_SECONDS // 60
        return ngettext(
            "You were logged out after %(minutes)s minute without activity, "
            "to keep patient information private.",
            "You were logged out after %(minutes)s minutes without activity, "
            "to keep patient information private.",
            minutes,
        ) % {"minutes": minutes}
    return None


class SessionLimitsMiddleware:
    """Ends sessions that were idle or open too long; notes activity on the others.

    After AuthenticationMiddleware and MessageMiddleware.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            reason = expiry_reason(request)
            if reason:
                return self.end_session(request, reason)
            if request.path_info not in {reverse(name) for name in PASSIVE_URL_NAMES}:
                note_activity(request)
        return self.get_response(request)

    @staticmethod
    def end_session(request: HttpRequest, reason: str) -> HttpResponse:
        logout(request)
        messages.warning(request, reason)
        if request.headers.get("Accept", "").startswith("application/json"):
            return JsonResponse({"logged_in": False, "reason": reason}, status=401)
        login_url = reverse("login")
        if request.method == "GET":
            login_url += "?" + urlencode({"next": request.get_full_path()})
        response: HttpResponse = redirect(login_url)
        if getattr(request, "htmx", False):
            # htmx would swap the login page into the current one: go there instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = login_url
        return response


def end_all_sessions(user: Any, *, keep_session_key: str | None = None) -> int:
    """Delete every live session of `user` (database sessions); return how many."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.session_key == keep_session_key:
            continue
        data = session.get_decoded()
        if data.get("_auth_user_id") == str(user.pk) and BACKEND_SESSION_KEY in data:
            # Through the engine, so a cached session (cached_db) goes from the cache too.
            store.delete(session.session_key)
            ended += 1
    return ended
