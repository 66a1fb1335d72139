import contextlib
import datetime
from datetime import time

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_list_read, record_read
from clinic.bounds import in_range, query_id, query_text
from clinic.emergency import care_gated, patient_gate
from clinic.forms import apply_service_errors
from patients.models import Patient
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import at_site, current_site_id
from procedures.scheduling.access import patient_of_appointment
from procedures.scheduling.forms import BookingForm, CancelForm
from procedures.scheduling.lifecycle_forms import CancelReasonForm
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import (
    fast_answer,
    nearby_bookings,
    nearby_warning,
    patient_bookings,
)
from procedures.scheduling.slots import SLOT_STEP
from procedures.scheduling.timegrid import suggest_free
from procedures.scheduling.views.lifecycle import appointment_page
from procedures.workflows.visits import (
    appointment_book,
    appointment_cancel,
    appointment_complete,
    booking_question,
)


@policy.allowed("appointment_list")
@require_http_methods(["GET"])
def appointment_list(request):
    """Upcoming appointments from today on, paginated."""
    show = request.GET.get("show", "upcoming")
    appointments = at_site(Appointment.objects.with_related(), current_site_id(request))
    if show == "past":
        appointments = appointments.filter(start_at__lt=timezone.now()).order_by("-start_at")
    else:
        show = "upcoming"
        # Midnight in the clinic, not in UTC: "today" is the clinic's day.
        today_start = clinic_datetime(clinic_today(), time.min)
        appointments = appointments.filter(start_at__gte=today_start).order_by("start_at")
    page = Paginator(appointments, 25).get_page(request.GET.get("page"))
    record_list_read(request, [a.patient_id for a in page.object_list])
    return render(
        request,
        "procedures/appointment_list.html",
        {"page": page, "show": show, "today": clinic_today()},
    )


# Physicians and nurses book the results discussion from the order page.
@policy.allowed("appointment_book")
@require_http_methods(["GET", "POST"])
def appointment_book_view(request):
    """The booking form. A link may choose the patient (by id), the procedure type (by
    code), the physician and the date, so that only the time is left to pick."""
    initial = {}
    patient = None
    patient_id = query_id(request.GET.get("patient", ""))
    if patient_id:
        patient = Patient.objects.current(pk=patient_id)
        if patient:
            # A physician outside their own patients states a reason first.
            if gate := patient_gate(request, patient_id=patient.pk):
                return gate
            record_read(request, patient)
            initial["patient_mrn"] = patient.mrn
    procedure_type = ProcedureType.objects.filter(
        code=query_text(request.GET.get("type", "")), is_active=True
    ).first()
    if procedure_type:
        initial["procedure_type"] = procedure_type.pk
        initial["sedation_level"] = procedure_type.default_sedation_level
    # A free time on the calendar fills in its physician, room and start.
    for name in ("provider", "room"):
        if value := query_id(request.GET.get(name, "")):
            initial[name] = value
    # "Book a results discussion" suggests a date after the last expected result.
    with contextlib.suppress(ValueError):
        day = datetime.date.fromisoformat(request.GET.get("date", ""))
        if in_range(day):  # a far date would overflow on the room's clock
            initial["date"] = day
    with contextlib.suppress(ValueError):
        initial["start_time"] = datetime.time.fromisoformat(request.GET.get("time", ""))
    site_id = current_site_id(request)
    missing = {"provider", "room"} - initial.keys()
    if request.method == "GET" and len(missing) == 1 and {"date", "start_time"} <= initial.keys():
        # A free time on the calendar names its physician (or room): the room (or
        # physician) suggested is the first free then, asked now for this time.
        start = clinic_datetime(initial["date"], initial["start_time"])
        beside = (
            Provider.objects.filter(pk=initial["provider"])
            if "provider" in initial
            else Room.objects.filter(pk=initial["room"])
        ).first()
        if beside is not None and (
            free := suggest_free(beside=beside, start=start, end=start + SLOT_STEP, site_id=site_id)
        ):
            initial[missing.pop()] = free.pk
    room = Room.objects.select_related("site").filter(pk=initial.get("room")).first()
    if room and "date" in initial and "start_time" in initial:
        # The calendar's time is on the page's clock; the form reads the room's (its
        # site's zone: the same unless "All sites" shows a room of another zone).
        shown = clinic_datetime(initial["date"], initial["start_time"]).astimezone(room.site.tz)
        initial["date"], initial["start_time"] = shown.date(), shown.time()
    # A patient chosen from the search posts the form as typed so far: it comes back
    # with the patient's MRN filled in and nothing else lost (no URL carries it).
    choosing = request.method == "POST" and "choose_patient" in request.POST
    if choosing:
        chosen_id = query_id(request.POST.get("choose_patient", ""))
        chosen = Patient.objects.current(pk=chosen_id) if chosen_id else None
        if chosen is not None:
            if gate := patient_gate(request, patient_id=chosen.pk):
                return gate
            record_read(request, chosen)
            patient = chosen
        initial.update(
            {
                name: request.POST[name]
                for name in BookingForm.base_fields
                if name not in ("confirm_nearby", "confirm_fast") and request.POST.get(name)
            }
        )
        if patient is not None:
            initial["patient_mrn"] = patient.mrn
    form = BookingForm(
        None if choosing else (request.POST or None), initial=initial, site_id=site_id
    )
    nearby = fast = ""
    if request.method == "POST" and not choosing and form.is_valid():
        data = form.cleaned_data
        patient = data["patient_mrn"]
        if gate := patient_gate(request, patient_id=data["patient_mrn"].pk):
            return gate  # nothing booked; the form comes back after the reason
        fast_answered = data["confirm_fast"] == fast_answer(data["start_at"])
        others = nearby_bookings(patient=patient, start_at=data["start_at"])
        # A visit at the same time is a clash: the booking service refuses it in words.
        clash = any(o.start_at < data["end_at"] and o.end_at > data["start_at"] for o in others)
        if others and not clash and not (data["confirm_nearby"] or fast_answered):
            nearby = nearby_warning(others)  # asked, not refused: nothing booked yet
        else:
            nearby = None
    if nearby is None:
        try:
            appointment = appointment_book(
                patient=data["patient_mrn"],
                procedure_type=data["procedure_type"],
                provider=data["provider"],
                room=data["room"],
                start_at=data["start_at"],
                end_at=data["end_at"],
                sedation_level=data["sedation_level"],
                transport_mode=data["transport_mode"],
                notes=data["notes"],
                by=request.user,
                fast_begun_confirmed=fast_answered,
            )
        except ValidationError as exc:
            if not (fast := booking_question(exc) or ""):  # asked, with a button
                apply_service_errors(form, exc, field_map={"patient": "patient_mrn"})
        else:
            messages.success(
                request, _("Appointment booked. The patient will get a confirmation email.")
            )
            return redirect(appointment)
    if form.is_bound and isinstance(form.cleaned_data.get("patient_mrn"), Patient):
        record_read(request, form.cleaned_data["patient_mrn"])  # a refused form, shown again
    context = {
        "form": form,
        "patient": patient,
        "nearby": nearby,
        "fast": fast,
        "fast_answer": fast_answer(data["start_at"]) if fast else "",
        # The patient's own visits, so a second booking is made knowingly.
        "own_bookings": patient_bookings(patient=patient) if patient else [],
        "procedure_type": procedure_type,
        # The patient search is the front desk's (patients:pick); choosing a patient
        # keeps the physician, room, date and time already filled in.
        "can_search_patients": policy.may(request.user, "patient_pick"),
        "keep": [
            (key, request.GET[key])
            for key in ("provider", "room", "date", "time", "type")
            if request.GET.get(key)
        ],
    }
    return render(request, "procedures/appointment_book.html", context)


@policy.allowed("appointment_detail")
@require_http_methods(["GET"])
@care_gated(patient_of_appointment)
def appointment_detail(request, pk: int):
    return appointment_page(request, pk)


@policy.allowed("appointment_complete")
@require_POST
@care_gated(patient_of_appointment)
def appointment_complete_view(request, pk: int):
    appointment = get_object_or_404(Appointment, pk=pk)
    try:
        appointment_complete(appointment_id=appointment.pk, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("Procedure completed. Its test orders are on the results list.")
        )
    return redirect(appointment)


@policy.allowed("appointment_cancel")
@require_POST
@care_gated(patient_of_appointment)
def appointment_cancel_view(request, pk: int):
    appointment = get_object_or_404(Appointment, pk=pk)
    # A reason from the list (with an optional note); a bare "reason" text still works.
    form = CancelReasonForm(request.POST)
    legacy = CancelForm(request.POST)
    if form.is_valid():
        reason = {
            "reason_code": form.cleaned_data["reason_code"],
            "note": form.cleaned_data["note"],
        }
    elif "reason_code" not in request.POST and legacy.is_valid():
        reason = {"reason": legacy.cleaned_data["reason"]}
    else:
        said = (
            [str(e) for errors in form.errors.values() for e in errors]
            if "reason_code" in request.POST
            else []
        )
        messages.error(request, " ".join(said) or _("Give a reason for cancelling."))
        return redirect(appointment)
    try:
        appointment_cancel(
            appointment_id=appointment.pk,
            by=request.user,
            # The version on the page: a visit moved since is not cancelled unseen.
            seen_version=query_id(request.POST.get("version", "")),
            **reason,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Appointment cancelled. The patient will be told by email."))
    return redirect(appointment)
