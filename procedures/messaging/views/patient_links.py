"""Patient-facing pages reached from an emailed link. No login: the signed token
says which appointment and what for, and the date of birth unlocks the page.

Every invalid link (wrong, expired, used, rescheduled, rate-limited) gets the
same friendly page with a phone number, so nothing can be learnt by trying tokens:
for a token we signed, the phone of its visit's site in the patient's language (a
forger cannot make one); for any other, the network's. Too many tries say so.
"""

import time

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from clinic.client_ip import client_ip
from clinic.http import origin_only_referrer
from procedures.catalog.sites import patient_context
from procedures.messaging import links as links
from procedures.messaging.link_forms import (
    ConfirmForm,
    DateOfBirthForm,
    EscortForm,
    RescheduleForm,
    writes_month_first,
)
from procedures.prep.models import StepKind
from procedures.prep.timeline import patient_timeline

VERIFIED_FOR_SECONDS = 30 * 60
ACTION_FORMS = {
    "attend": ConfirmForm,
    "escort": EscortForm,
    "reschedule": RescheduleForm,
    "unsubscribe": ConfirmForm,
}

# prep's escort_confirm names its errors after the appointment's fields.
FIELD_NAMES = {"escort_name": "name", "escort_phone": "phone"}


def _invalid(request, *, purpose: str, token: str, status: int = 200, throttled: str = ""):
    """The one page for a link that cannot be used. A token we signed names its visit:
    the page then gives that visit's site's name and phone, in the patient's language,
    and nothing else about it; a forged one gets the network's page."""
    visit = links.link_signed_visit(purpose=purpose, token=token)
    context = {"throttled": throttled}
    if visit is None:
        return render(request, "procedures/patient/link_invalid.html", context, status=status)
    site = visit.room.site
    with translation.override(visit.patient.preferred_language), timezone.override(site.tz):
        return render(
            request,
            "procedures/patient/link_invalid.html",
            {**context, **patient_context(site)},
            status=status,
        )


def _session_key(grant) -> str:
    return f"patient_link:{grant.digest[:32]}"


def _verified(request, grant) -> bool:
    return request.session.get(_session_key(grant), 0) > time.time()


def _client_ip(request) -> str:
    return client_ip(request) or ""


def _details(grant) -> dict:
    appointment = grant.appointment
    tz = appointment.room.site.tz
    return {
        "appointment": appointment,
        "procedure_name": _procedure_name(appointment.procedure_type),
        "start": appointment.start_at.astimezone(tz),
        "end": appointment.end_at.astimezone(tz),
        "steps": [
            # Patient text only: the step's own words and specifics, never a staff note.
            # A notice ("keep taking your medicines...") has no time of its own: it is
            # headed "Please note", not with the minute the visit was booked.
            (
                step.at.astimezone(tz),
                step.text,
                step.detail,
                step.as_soon_as_possible,
                step.kind == StepKind.NOTICE,
            )
            for step in patient_timeline(appointment)
        ],
    }


def _procedure_name(procedure_type) -> str:
    """The procedure as the patient reads it. Its name is free text typed in the admin, in
    the clinic's language (English), so it cannot be translated; in another language the
    page names its kind instead, from the fixed catalogue (`ProcedureKind`, translated)."""
    if (translation.get_language() or "en").startswith("en"):
        return procedure_type.name
    return procedure_type.get_kind_display()


def _perform(grant, form):
    purpose = grant.purpose
    if purpose == "attend":
        links.link_confirm_attendance(grant=grant)
        return _("Thank you: we have noted that you will come.")
    if purpose == "escort":
        links.link_confirm_escort(
            grant=grant, name=form.cleaned_data["name"], phone=form.cleaned_data["phone"]
        )
        return _("Thank you: we have noted who is taking you home.")
    if purpose == "reschedule":
        links.link_request_reschedule(grant=grant, note=form.cleaned_data["note"])
        return _("Thank you: the front desk will call you to find another time.")
    links.link_unsubscribe(grant=grant)
    return _("You will no longer receive optional emails. Appointment emails still come.")


@login_not_required
@never_cache
@origin_only_referrer
@require_http_methods(["GET", "POST"])
def patient_link(request, purpose: str, token: str):
    """One page per link: date of birth first, then the details and the one action."""
    throttled = links.link_throttled(token=token, ip=_client_ip(request))
    if throttled:
        return _invalid(request, purpose=purpose, token=token, status=429, throttled=throttled)
    grant = links.link_read(purpose=purpose, token=token)
    if grant is None:
        return _invalid(request, purpose=purpose, token=token)
    # The visit's site: its name, phone, and its time zone for every time shown (#18).
    site = grant.appointment.room.site
    language = grant.appointment.patient.preferred_language
    with translation.override(language), timezone.override(site.tz):
        return _page(request, grant, token)


def _page(request, grant, token: str):
    context = {"purpose": grant.purpose, **patient_context(grant.appointment.room.site)}
    if not _verified(request, grant):
        gate = DateOfBirthForm(
            request.POST if request.method == "POST" else None,
            month_first=writes_month_first(grant.appointment.room.site.holidays_country),
        )
        if request.method == "POST" and gate.is_valid():
            if links.dob_check(grant=grant, date_of_birth=gate.cleaned_data["date_of_birth"]):
                request.session.cycle_key()
                request.session[_session_key(grant)] = time.time() + VERIFIED_FOR_SECONDS
                return redirect(request.path)
            if links.dob_locked(grant):
                return _invalid(request, purpose=grant.purpose, token=token)
            gate.add_error(
                "date_of_birth",
                _("That date of birth does not match our records. Please check it and try again."),
            )
        return render(
            request, "procedures/patient/link_dob.html", {**context, "form": gate}, status=200
        )
    context.update(_details(grant))
    form_class = ACTION_FORMS.get(grant.purpose)
    form = None
    if form_class:
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                done = _perform(grant, form)
            except ValidationError as exc:
                if not hasattr(exc, "error_dict"):
                    # used meanwhile, or rescheduled
                    return _invalid(request, purpose=grant.purpose, token=token)
                for field, errors in exc.message_dict.items():
                    field = FIELD_NAMES.get(field, field)
                    form.add_error(field if field in form.fields else None, errors)
            else:
                request.session.pop(_session_key(grant), None)
                return render(
                    request, "procedures/patient/link_done.html", {**context, "done": done}
                )
    return render(request, "procedures/patient/link_page.html", {**context, "form": form})
