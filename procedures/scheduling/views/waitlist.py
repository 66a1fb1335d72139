"""The waitlist page: who is waiting, slots freed by cancellations, add and remove."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_list_read
from clinic.bounds import query_id
from clinic.forms import apply_service_errors
from patients.models import Patient
from procedures.catalog.sites import current_site_id
from procedures.scheduling.lifecycle_forms import PatientSearchForm, WaitlistForm
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import fast_answer
from procedures.scheduling.waitlist import (
    freed_slots,
    waiting_at_site,
    waitlist_add,
    waitlist_remove,
)
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.workflows.visits import (
    booking_question,
    waitlist_offer_book,
    waitlist_offer_question,
)


@policy.allowed("waitlist_list")
@require_http_methods(["GET", "POST"])
def waitlist_list(request):
    patients, site_id = None, current_site_id(request)
    if request.method == "POST" and not policy.may(request.user, "waitlist_add"):
        return redirect("procedures:waitlist")
    if request.method == "POST" and request.POST.get("action") == "search":
        form = WaitlistForm(initial=request.POST.dict(), site_id=site_id)
        patients = list(Patient.objects.search_fuzzy(request.POST.get("q", "")))
    elif request.method == "POST":
        form = WaitlistForm(request.POST, site_id=site_id)
        if form.is_valid():
            try:
                waitlist_add(**form.cleaned_data, by=request.user)
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                messages.success(request, _("Added to the waitlist."))
                return redirect("procedures:waitlist")
        if patient_id := query_id(str(form.data.get("patient", ""))):
            patients = list(Patient.objects.filter(pk=patient_id))
    else:
        form = WaitlistForm(site_id=site_id)
    entries = (
        waiting_at_site(site_id)
        .select_related("patient", "procedure_type", "provider")
        .order_by("created_at", "pk")
    )
    freed = freed_slots(site_id=site_id)
    ask = _question(request)
    record_list_read(request, _patients_shown(patients, entries, freed))
    return render(
        request,
        "procedures/waitlist.html",
        {
            "form": form,
            "search": PatientSearchForm(request.POST if patients is not None else None),
            "patients": patients,
            "chosen": form.data.get("patient") if form.is_bound else None,
            "entries": entries,
            "freed": freed,
            "ask": ask,
        },
    )


# The waiting patient and the freed slot whose booking asks first ("<entry>-<freed>").
ASK = "ask"


def _question(request) -> dict | None:
    """The question a waitlist offer asked (its fast has begun), with what answers it."""
    entry_id, _dash, freed_id = request.GET.get(ASK, "").partition("-")
    entry_pk, freed_pk = query_id(entry_id), query_id(freed_id)
    if not entry_pk or not freed_pk:
        return None
    freed = Appointment.objects.select_related("provider", "room__site").filter(pk=freed_pk).first()
    entry = (
        WaitlistEntry.objects.select_related("patient", "procedure_type")
        .filter(pk=entry_pk)
        .first()
    )
    if freed is None or entry is None:
        return None
    question = waitlist_offer_question(entry=entry, freed=freed)
    if question is None:
        return None
    # Which waiting patient and which freed slot: the page lists several.
    about = _("%(patient)s into %(when)s with %(who)s") % {
        "patient": f"{entry.patient.family_name}, {entry.patient.given_name}",
        "when": formats.date_format(freed.start_at.astimezone(freed.site_tz), "D j M H:i"),
        "who": freed.provider.display_name,
    }
    return {
        "text": f"{about}. {question}",
        "entry": entry_pk,
        "freed": freed_pk,
        "answer": fast_answer(freed.start_at),
    }


def _patients_shown(patients, entries, freed) -> list[int]:
    """The patients found or chosen, those waiting, and those matching a freed slot."""
    shown = [p.pk for p in patients or []] + [e.patient_id for e in entries]
    return shown + [m.patient_id for _slot, matches in freed for m in matches]


@policy.allowed("waitlist_remove")
@require_POST
def waitlist_remove_view(request, pk: int):
    entry = get_object_or_404(WaitlistEntry, pk=pk)
    try:
        waitlist_remove(entry_id=entry.pk, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Taken off the waitlist."))
    return redirect("procedures:waitlist")


@policy.allowed("waitlist_offer")
@require_POST
def waitlist_offer_view(request, pk: int):
    """Book a waiting patient into a freed slot."""
    entry = get_object_or_404(WaitlistEntry, pk=pk)
    freed_id = query_id(request.POST.get("freed", ""))
    freed = get_object_or_404(Appointment, pk=freed_id) if freed_id else None
    if freed is None:
        messages.error(request, _("Choose a freed slot to book."))
        return redirect("procedures:waitlist")
    try:
        appointment = waitlist_offer_book(
            entry_id=entry.pk,
            freed_appointment_id=freed.pk,
            by=request.user,
            fast_begun_confirmed=request.POST.get("confirm_fast") == fast_answer(freed.start_at),
        )
    except ValidationError as exc:
        if booking_question(exc):
            # Asked on the waitlist page, with the button that answers it.
            return redirect(f"{reverse('procedures:waitlist')}?{ASK}={entry.pk}-{freed.pk}")
        messages.error(request, " ".join(exc.messages))
        return redirect("procedures:waitlist")
    messages.success(
        request, _("Booked from the waitlist. The patient will get a confirmation email.")
    )
    return redirect(appointment)
