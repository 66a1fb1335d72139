import re

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from . import policy, roles
from .audit import record_reads
from .health import run_checks
from .http import local_path
from .mail import outbox_paths, read_outbox_message


@require_GET
def home(request):
    """Send each person to the screen their role starts the day on."""
    if roles.has_role(request.user, roles.FRONT_DESK):
        return redirect("procedures:today")
    if roles.has_role(request.user, *roles.CLINICAL):
        return redirect("procedures:worklist")
    if roles.has_role(request.user, roles.CLINIC_ADMIN):
        # Not the Django admin: its "View site" and "Back to the clinic" lead here, and
        # would lead straight back.
        return redirect("manage")
    return render(request, "clinic/no_role.html", status=403)


@policy.allowed("nav_admin")
@require_GET
def manage(request):
    """The clinic admin's start page: the pages that run the clinic, and the admin."""
    return render(request, "clinic/manage.html")


@login_not_required
@never_cache
@require_GET
def healthz(request):
    healthy, report = run_checks()
    report["status"] = "ok" if healthy else "unhealthy"
    return JsonResponse(report, status=200 if healthy else 503)


def csrf_failure(request, reason: str = ""):
    """CSRF_FAILURE_VIEW: the clinic's own page when a form is refused for its token
    (a tab left open across a log-out, an expired token, a lost cookie).

    Django's own page is unstyled, technical, offers no way back and carries an inline
    style the Content-Security-Policy refuses; its template would also be rendered
    without the request, so the clinic's layout could not be used. `reason` (Django's
    words for developers) is not shown. The way back is the page the form was on (the
    Referer, when it is on this site), which a reload gives a fresh token."""
    patient_page = request.path_info.startswith("/p/")
    back = local_path(request, request.headers.get("Referer", ""))
    if not back and not patient_page:
        back = reverse("home") if request.user.is_authenticated else reverse("login")
    context = {"patient_page": patient_page, "back": back}
    return render(request, "403_csrf.html", context, status=403)


# A patient email's Message-ID names its reminder row (procedures/messaging/mail.py):
# the outbox pages record the read of those rows, by id (no domain import here).
REMINDER_MESSAGE_ID = re.compile(r"<reminder-(\d+)@")


def _record_outbox_read(request, messages) -> None:
    ids = [m.group(1) for m in (REMINDER_MESSAGE_ID.match(x.message_id) for x in messages) if m]
    record_reads(request, "procedures.reminder", ids)


def _outbox_enabled():
    if not (settings.DEBUG and settings.EMAIL_BACKEND == "clinic.mail.LocalOutboxBackend"):
        raise Http404


def _outbox_path(name: str):
    for path in outbox_paths():
        if path.name == name:
            return path
    raise Http404


@roles.role_required(*roles.ALL_ROLES)
@require_GET
def outbox_list(request):
    """The local outbox (DEBUG only): every email the clinic would have sent."""
    _outbox_enabled()
    page = Paginator(outbox_paths(), 25).get_page(request.GET.get("page"))
    page.object_list = [read_outbox_message(path) for path in page.object_list]
    _record_outbox_read(request, page.object_list)
    return render(request, "clinic/outbox_list.html", {"page": page})


@roles.role_required(*roles.ALL_ROLES)
@require_GET
def outbox_detail(request, name: str):
    _outbox_enabled()
    message = read_outbox_message(_outbox_path(name))
    _record_outbox_read(request, [message])
    html_url = reverse("outbox_html", args=[name])
    return render(request, "clinic/outbox_detail.html", {"message": message, "html_url": html_url})


@roles.role_required(*roles.ALL_ROLES)
@xframe_options_sameorigin
@require_GET
def outbox_html(request, name: str):
    """The HTML part on its own, sandboxed: no scripts, as a mail client would show it."""
    _outbox_enabled()
    message = read_outbox_message(_outbox_path(name))
    _record_outbox_read(request, [message])
    response = HttpResponse(message.html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    return response
