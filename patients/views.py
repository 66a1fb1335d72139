from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clinic import policy
from clinic.audit import record_read
from clinic.emergency import patient_gate

from .forms import PatientForm, PatientSearchForm
from .models import Patient
from .services import patient_register


@policy.allowed("patient_list")
@require_http_methods(["GET", "POST"])
def patient_list(request):
    """All patients, paginated; searching is a POST so the term stays out of the URL."""
    results, more = None, False
    if request.method == "POST":
        form = PatientSearchForm(request.POST)
        if form.is_valid():
            # One more than is shown, to know whether to ask for a narrower search.
            results = Patient.objects.search_fuzzy(form.cleaned_data["q"], limit=SHOWN + 1)
            results, more = results[:SHOWN], len(results) > SHOWN
    else:
        form = PatientSearchForm()
    # After a search the results stand alone: no list of everyone (nor its count).
    page = None
    if results is None:
        page = Paginator(Patient.objects.all(), 25).get_page(request.GET.get("page"))
    template = "patients/_results.html" if request.htmx else "patients/patient_list.html"
    context = {"form": form, "page": page, "results": results, "more": more, "shown": SHOWN}
    return render(request, template, context)


# Matches a search shows; past that the term needs narrowing.
SHOWN = 20


@policy.allowed("patient_create")
@require_http_methods(["GET", "POST"])
def patient_create(request):
    form = PatientForm(request.POST or None, submit_label=_("Register patient"))
    if request.method == "POST" and form.is_valid():
        patient = patient_register(patient=form.save(commit=False))
        messages.success(request, _("Patient registered with MRN %(mrn)s.") % {"mrn": patient.mrn})
        return redirect(patient)
    return render(
        request, "patients/patient_form.html", {"form": form, "title": _("Register a patient")}
    )


@policy.allowed("patient_detail")
@require_http_methods(["GET"])
def patient_detail(request, pk: int):
    patient = get_object_or_404(Patient, pk=pk)
    # A physician outside their own patients states a reason first (emergency access).
    if gate := patient_gate(request, patient_id=patient.pk):
        return gate
    record_read(request, patient)
    appointments = patient.appointments.select_related(
        "procedure_type", "provider", "room"
    ).order_by("-start_at")[:50]
    return render(
        request, "patients/patient_detail.html", {"patient": patient, "appointments": appointments}
    )


@policy.allowed("patient_update")
@require_http_methods(["GET", "POST"])
def patient_update(request, pk: int):
    patient = get_object_or_404(Patient, pk=pk)
    form = PatientForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Patient details saved."))
        return redirect(patient)
    # The form shows the whole record: a read like the detail page (front desk only,
    # so no care-relationship gate applies). A saved change is audited by auditlog.
    record_read(request, patient)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "title": _("Edit patient"), "patient": patient},
    )


@policy.allowed("patient_pick")
@require_http_methods(["POST"])
def patient_pick(request):
    """Search results as radio buttons for a booking form (POST: the term stays out of
    URLs and logs). Typo-tolerant on PostgreSQL."""
    form = PatientSearchForm(request.POST)
    results = list(Patient.objects.search_fuzzy(form.cleaned_data["q"])) if form.is_valid() else []
    # "book": results link to the manual booking form (only the patient's id in the URL).
    link_to = "/appointments/book/" if request.POST.get("mode") == "book" else ""
    return render(request, "patients/_pick.html", {"results": results, "link_to": link_to})
