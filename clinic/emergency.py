"""Emergency access ("break the glass") to a patient record outside one's own patients.

Physicians see the records of their own patients. Another patient's record opens
only after they state why; the reason is kept (EmergencyAccess), the grant lasts
CLINIC_EMERGENCY_ACCESS_HOURS, and the clinic admins are emailed ids and a link,
never patient data. Who counts as one's own patient is the domain's answer:
CLINIC_CARE_RELATIONSHIP names a function (user, patient_id) -> bool, so this
module imports no domain app.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from celery import shared_task
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from . import roles
from .client_ip import client_ip
from .http import local_path
from .mail import site_domain
from .models import EmergencyAccess

PATIENT = "patients.patient"
logger = logging.getLogger(__name__)


def treats(user: Any, patient_id: int) -> bool:
    return bool(import_string(settings.CLINIC_CARE_RELATIONSHIP)(user, patient_id))


def restricted(user: Any) -> bool:
    """Whose access to patient records depends on a care relationship.

    Physicians; but not someone who also holds a role that sees every patient
    (front desk, nurse), nor a superuser.
    """
    if user.is_superuser or not roles.has_role(user, roles.PHYSICIAN):
        return False
    return not roles.has_role(user, roles.FRONT_DESK, roles.NURSE)


def live_grant(user: Any, patient_id: int) -> EmergencyAccess | None:
    return (
        EmergencyAccess.objects.filter(
            user=user,
            object_type=PATIENT,
            object_id=str(patient_id),
            expires_at__gt=timezone.now(),
        )
        .order_by("-at")
        .first()
    )


def patient_gate(request: HttpRequest, *, patient_id: int) -> HttpResponse | None:
    """None when this user may open the patient's record now; else the way to the
    emergency access form (which comes back here)."""
    user = request.user
    if not restricted(user) or treats(user, patient_id) or live_grant(user, patient_id):
        return None
    url = reverse("emergency_access", args=[patient_id])
    return redirect(url + "?" + urlencode({"next": request.get_full_path()}))


def care_gated(patient_of: Callable[[int], int | None]):
    """For a view about one patient's record, reached by the `pk` in its URL:
    a physician outside their own patients states a reason first (patient_gate).

    `patient_of(pk)` names the patient (None: 404). A refused GET comes back to
    itself after the reason; a refused POST changes nothing and comes back to the
    page it was sent from, so the physician repeats it knowingly.
    """

    def decorator(view):
        @wraps(view)
        def gated(request: HttpRequest, pk: int, *args, **kwargs) -> HttpResponse:
            if restricted(request.user):
                patient_id = patient_of(pk)
                if patient_id is None:
                    raise Http404
                if not (treats(request.user, patient_id) or live_grant(request.user, patient_id)):
                    back = request.get_full_path()
                    if request.method != "GET":
                        back = _safe(request, request.headers.get("referer", ""))
                        back = back or reverse("patients:detail", args=[patient_id])
                    url = reverse("emergency_access", args=[patient_id])
                    return redirect(url + "?" + urlencode({"next": back}))
            return view(request, pk, *args, **kwargs)

        return gated

    return decorator


def _safe(request: HttpRequest, url: str) -> str:
    """`url` if it is a path on this site, else ""."""
    return local_path(request, url)


class EmergencyAccessForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why do you need this record?"),
        min_length=10,
        max_length=1000,
        help_text=gettext_lazy(
            "For example: covering for the patient's physician, or an urgent call about "
            "this patient. Your reason is recorded and the clinic admin is told."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"]
        if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in reason):
            raise forms.ValidationError(_("Remove the control characters from the reason."))
        return reason


def emergency_access_grant(
    *, user: Any, patient_id: int, reason: str, ip_address: str | None
) -> EmergencyAccess:
    """Record an emergency access and tell the clinic admins once it is committed."""
    hours = settings.CLINIC_EMERGENCY_ACCESS_HOURS
    with transaction.atomic():
        access = EmergencyAccess.objects.create(
            user=user,
            object_type=PATIENT,
            object_id=str(patient_id),
            reason=reason,
            ip_address=ip_address,
            expires_at=timezone.now() + timedelta(hours=hours),
        )
    transaction.on_commit(lambda: _notify_soon(access.pk))
    return access


def _notify_soon(access_id: int) -> None:
    """Hand the email to a worker; if the broker is down, send it from here."""
    try:
        emergency_access_notify.delay(access_id)
    except Exception:  # the broker is unreachable: the admins must still be told
        logger.warning("broker unavailable; notifying emergency access %s inline", access_id)
        try:
            emergency_access_notify_admins(access_id=access_id)
        except Exception:
            logger.exception("could not notify emergency access %s", access_id)


def emergency_access_notify_admins(*, access_id: int) -> int:
    """Email each clinic admin about one emergency access: ids and links only."""
    access = EmergencyAccess.objects.select_related("user").get(pk=access_id)
    if access.notified_at:
        return 0
    recipients = roles.clinic_admin_emails()
    if recipients:
        audit_url = (
            settings.SITE_URL
            + reverse("audit_list")
            + "?"
            + urlencode({"kind": "emergency", "object_id": access.object_id})
        )
        context = {"access": access, "audit_url": audit_url}
        message = EmailMultiAlternatives(
            subject=render_to_string("emails/emergency_access/subject.txt", context).strip(),
            body=render_to_string("emails/emergency_access/body.txt", context),
            to=recipients,
            headers={"Message-ID": make_msgid(domain=site_domain())},
        )
        message.send()
    EmergencyAccess.objects.filter(pk=access.pk, notified_at__isnull=True).update(
        notified_at=timezone.now()
    )
    return len(recipients)


def _patient_exists(patient_id: int) -> bool:
    # By label: this plumbing imports no domain app.
    return apps.get_model(PATIENT).objects.filter(pk=patient_id).exists()


def _next_url(request: HttpRequest, patient_id: int) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    return _safe(request, candidate) or reverse("patients:detail", args=[patient_id])


@roles.role_required(roles.PHYSICIAN)
@require_http_methods(["GET", "POST"])
def emergency_access(request: HttpRequest, patient_id: int) -> HttpResponse:
    """State a reason to open a record outside one's own patients."""
    if not _patient_exists(patient_id):
        raise Http404  # no emergency access is ever recorded for a record that is not there
    next_url = _next_url(request, patient_id)
    if patient_gate(request, patient_id=patient_id) is None:
        return redirect(next_url)
    form = EmergencyAccessForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        emergency_access_grant(
            user=request.user,
            patient_id=patient_id,
            reason=form.cleaned_data["reason"],
            ip_address=client_ip(request),
        )
        messages.warning(
            request,
            _("Emergency access recorded for %(hours)s hours. The clinic admin has been told.")
            % {"hours": settings.CLINIC_EMERGENCY_ACCESS_HOURS},
        )
        return redirect(next_url)
    return render(
        request,
        "clinic/emergency_access.html",
        {"form": form, "next": next_url, "hours": settings.CLINIC_EMERGENCY_ACCESS_HOURS},
    )


@shared_task(
    name="clinic.tasks.emergency_access_notify",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=30,
    max_retries=8,
)
def emergency_access_notify(access_id: int) -> int:
    """Tell the clinic admins about one emergency access (an id in, no PHI)."""
    return emergency_access_notify_admins(access_id=access_id)
