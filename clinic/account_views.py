"""A person's own account: two-factor status, password, sessions."""

from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_otp import user_has_device

from . import roles, sessions, two_factor


@roles.role_required(*roles.ALL_ROLES)
@require_GET
def account_security(request: HttpRequest) -> HttpResponse:
    context = {
        "has_two_factor": user_has_device(request.user),
        "two_factor_required": two_factor.otp_required_for(request.user),
    }
    return render(request, "clinic/account_security.html", context)


@roles.role_required(*roles.ALL_ROLES)
@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    """End every session of this person: other computers, phones, and this one."""
    ended = sessions.end_all_sessions(request.user, keep_session_key=request.session.session_key)
    logout(request)
    messages.success(
        request,
        _("You are logged out everywhere (%(count)s other sessions ended).") % {"count": ended},
    )
    return redirect("login")


@roles.role_required(*roles.ALL_ROLES)
@never_cache
@require_GET
def session_status(request: HttpRequest) -> JsonResponse:
    """How long until the idle timeout (does not count as activity)."""
    return JsonResponse({"idle_seconds_left": sessions.idle_seconds_left(request)})


@roles.role_required(*roles.ALL_ROLES)
@never_cache
@require_POST
def session_keepalive(request: HttpRequest) -> JsonResponse:
    """ "Stay logged in": the request itself is the activity."""
    return JsonResponse({"idle_seconds_left": sessions.idle_seconds_left(request)})
