"""An appointment's lifecycle from its page: confirm, check in, start, no-show, reschedule.

(Complete and cancel live in views/appointments.py.)
"""

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_read
from clinic.emergency import care_gated
from clinic.forms import apply_service_errors
from clinic.http import local_path
from procedures.catalog.resources import Room
from procedures.catalog.sites import current_site_id
from procedures.scheduling import lifecycle
from procedures.scheduling.access import patient_of_appointment
from procedures.scheduling.lifecycle_forms import (
    CancelReasonForm,
    RescheduleForm,
    StartForm,
    parse_slot,
)
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import fast_answer
from procedures.scheduling.slots import slots_find
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.workflows import visits


def _lifecycle_view(service: Callable[..., Appointment], done: str):
    def view(request, pk: int):
        appointment = get_object_or_404(Appointment, pk=pk)
        try:
            service(appointment_id=appointment.pk, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, done)
        return redirect(back_to(request, appointment.get_absolute_url()))

    view.__name__ = f"{service.__name__}_view"
    return view


def back_to(request, default: str) -> str:
    """Where a form asked to return (the today board, a calendar): our own pages only."""
    return local_path(request, request.POST.get("next", "")) or default


def _lifecycle_page(action: str, service: Callable[..., Appointment], done: str, **kwargs):
    """The POST view of one lifecycle step: who may take it is the transition table's
    policy action (`Appointment.TRANSITIONS`)."""
    view = _lifecycle_view(service, done, **kwargs)

    @policy.allowed(Appointment.TRANSITIONS[action].permission)
    @require_POST
    @care_gated(patient_of_appointment)
    def wrapper(request, pk: int):
        return view(request, pk)

    wrapper.__name__ = view.__name__
    return wrapper


appointment_confirm_view = _lifecycle_page(
    "confirm", lifecycle.appointment_confirm, _("Marked as confirmed by the patient.")
)
appointment_check_in_view = _lifecycle_page(
    "check_in", lifecycle.appointment_check_in, _("Patient checked in.")
)
appointment_check_in_undo_view = _lifecycle_page(
    "undo_check_in",
    lifecycle.appointment_check_in_undo,
    _("Check-in undone: the patient is back on the day's arrivals."),
)


@policy.allowed(Appointment.TRANSITIONS["start"].permission)
@require_POST
@care_gated(patient_of_appointment)
def appointment_start_view(request, pk: int):
    """Start the procedure. A reason refused (none or too short while the patient is not
    ready, too long, or no reason can set aside what is missing) is said next to the
    reason field with what was typed, not in a banner after a redirect (QA pass 1, #5
    and #11); a step the visit's state refuses is said as for the other steps."""
    appointment = get_object_or_404(Appointment, pk=pk)
    form = StartForm(request.POST)
    if form.is_valid():
        try:
            visits.appointment_start(
                appointment_id=appointment.pk, by=request.user, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                messages.error(request, " ".join(exc.messages))
                return redirect(back_to(request, appointment.get_absolute_url()))
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Procedure started."))
            return redirect(back_to(request, appointment.get_absolute_url()))
    return appointment_page(request, pk, start_form=form)


appointment_no_show_view = _lifecycle_page(
    "no_show", visits.appointment_no_show, _("Marked as a no-show. The slot is free again.")
)


@policy.allowed("appointment_reschedule")
@require_http_methods(["GET", "POST"])
def appointment_reschedule_view(request, pk: int):
    """Move an appointment: pick a suggested slot, or type a date and time."""
    with_site = Appointment.objects.with_related().select_related("room__site", "site")
    appointment = get_object_or_404(with_site, pk=pk)
    record_read(request, appointment)
    # Shown on the visit's room's clock, as the form reads what is typed (invariant 19).
    local_start = appointment.start_at.astimezone(appointment.site_tz)
    initial = {
        "date": local_start.date(),
        "start_time": local_start.time(),
        "provider": appointment.provider,
        "room": appointment.room,
        "version": appointment.version,
    }
    site = {"site_id": current_site_id(request), "appointment": appointment}
    form = RescheduleForm(initial=initial, **site)
    fast = answer = ""
    if request.method == "POST":
        slot = parse_slot(request.POST.get("slot", "")) if request.POST.get("slot") else None
        if slot:
            start_at, provider_id, room_id = slot
            # On the offered room's clock, as the form reads a typed time (invariant 19).
            room = Room.objects.select_related("site").filter(pk=room_id).first()
            slot_tz = room.site.tz if room is not None else appointment.site_tz
            form = RescheduleForm(
                {
                    "date": start_at.astimezone(slot_tz).date(),
                    "start_time": start_at.astimezone(slot_tz).time(),
                    "provider": provider_id,
                    "room": room_id,
                    "version": request.POST.get("version", ""),
                },
                slot_start=start_at,
                **site,
            )
        else:
            form = RescheduleForm(request.POST, **site)
        if form.is_valid():
            data = form.cleaned_data
            answer = fast_answer(data["start_at"])
            try:
                moved = visits.appointment_reschedule(
                    appointment_id=appointment.pk,
                    start_at=data["start_at"],
                    provider=data["provider"],
                    room=data["room"],
                    by=request.user,
                    fast_begun_confirmed=request.POST.get("confirm_fast") == answer,
                    seen_version=data["version"],
                )
            except ValidationError as exc:
                if not (fast := visits.booking_question(exc) or ""):  # asked, with a button
                    apply_service_errors(
                        form, exc, field_map={"start_time": "start_time", "patient": None}
                    )
                # The page shows the visit as it is now: what was typed stays, and a
                # deliberate second move after reading it is against this version.
                appointment.refresh_from_db()
                form.data = {key: form.data.get(key) for key in form.data} | {
                    "version": str(appointment.version)
                }
            else:
                messages.success(
                    request,
                    _("Moved to %(when)s. The patient will get the new time by email.")
                    % {
                        "when": formats.date_format(
                            moved.start_at.astimezone(data["room"].site.tz), "l j F Y, H:i"
                        )
                    },
                )
                return redirect(moved)
    suggestions = []
    if appointment.can_reschedule:
        suggestions = slots_find(
            procedure_type=appointment.procedure_type,
            sedation_level=appointment.sedation_level,
            patient=appointment.patient,
            # An inactive physician is offered nowhere: then any physician of the site.
            provider=appointment.provider if appointment.provider.is_active else None,
            # At the visit's own site, on its clock: not the page's site, nor a room at
            # another site the physician works at (the form would refuse either).
            site_id=appointment.site_id,
            limit=6,
            per_day=2,
            not_before=visits.slots_not_before(
                procedure_type=appointment.procedure_type,
                sedation_level=appointment.sedation_level,
                patient=appointment.patient,
                appointment=appointment,
            ),
        )
    return render(
        request,
        "procedures/appointment_reschedule.html",
        {
            "appointment": appointment,
            "form": form,
            "suggestions": suggestions,
            "fast": fast,
            "fast_answer": answer,
        },
    )


def waitlist_matches_for(appointment: Appointment) -> list[WaitlistEntry]:
    return list(WaitlistEntry.objects.matching(appointment)[:10])


def appointment_page(request, pk: int, *, start_form: StartForm | None = None):
    """The appointment's page: its details, next steps, timeline and emails; with the
    start form as posted when its reason was refused."""
    appointment = get_object_or_404(Appointment.objects.with_related(), pk=pk)
    record_read(request, appointment)
    context = {
        "appointment": appointment,
        "events": appointment.events.select_related("by"),
        "reminders": appointment.reminders.order_by("due_at", "pk"),
        "orders": appointment.test_orders.select_related("test_type").order_by("expected_by"),
        "cancel_form": CancelReasonForm(),
        "start_form": start_form or StartForm(),
        # A freed slot: who on the waitlist could take it.
        "waitlist_matches": (
            waitlist_matches_for(appointment)
            if appointment.status == Appointment.Status.CANCELLED and appointment.is_future
            else []
        ),
    }
    return render(request, "procedures/appointment_detail.html", context)
