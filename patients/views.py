import re
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from auditlog.models import LogEntry
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clinic import policy
from clinic.audit import record_list_read, record_read
from clinic.emergency import care_gated, patient_gate
from clinic.http import url_maker

from . import services
from .forms import (
    AllergyForm,
    BloodResultForm,
    MeasurementsForm,
    MergeChoicesForm,
    MergeForm,
    PatientForm,
    PatientSearchForm,
)
from .merging import contact_conflicts, merge_preview, merge_warnings, patient_merge
from .models import DETAILS_FIELDS, Allergy, BloodResult, DuplicateOverride, Patient
from .selectors import bloods_status, patient_alerts


def _active_patient_of(pk: int) -> int | None:
    return Patient.objects.filter(pk=pk).values_list("pk", flat=True).first()


@policy.allowed("patient_list")
@require_http_methods(["GET", "POST"])
def patient_list(request):
    """All patients, paginated; searching is a POST so the term stays out of the URL."""
    results, more = None, False
    if request.method == "POST":
        data = request.POST
        if "q" not in data and "lookup" in data:
            # The header's look-up box (templates/base.html) names its term "lookup",
            # so pages can tell it from their own patient search fields.
            data = {"q": data["lookup"]}
        form = PatientSearchForm(data)
        if form.is_valid():
            # One more than is shown, to know whether to ask for a narrower search;
            # only the columns a result shows.
            found = Patient.objects.only(*RESULT_FIELDS).search_fuzzy(
                form.cleaned_data["q"], limit=SHOWN + 1
            )
            results, more = result_rows(found[:SHOWN]), len(found) > SHOWN
    else:
        form = PatientSearchForm()
    # After a search the results stand alone: no list of everyone (nor its count).
    page = None
    if results is None:
        page = Paginator(Patient.objects.active(), 25).get_page(request.GET.get("page"))
    template = "patients/_results.html" if request.htmx else "patients/patient_list.html"
    record_list_read(request, [p.pk for p in (page.object_list if page is not None else results)])
    context = {"form": form, "page": page, "results": results, "more": more, "shown": SHOWN}
    return render(request, template, context)


# Matches a search shows; past that the term needs narrowing.
SHOWN = 20
# What a search result shows of a patient.
RESULT_FIELDS = ("pk", "mrn", "family_name", "given_name", "date_of_birth")


@dataclass(slots=True)
class ResultRow:
    """One patient a search found, as shown."""

    pk: int
    name: str  # "Family, Given"
    mrn: str
    born: str  # in the clinic's date format
    url: str


def result_rows(patients: list[Patient]) -> list[ResultRow]:
    """The search's matches as the results list prints them, worked out once per request
    (a `{% url %}` and a date filter per row cost more than the search's SQL)."""
    detail_url = url_maker("patients:detail")
    return [
        ResultRow(
            pk=p.pk,
            name=f"{p.family_name}, {p.given_name}",
            mrn=p.mrn,
            born=date_format(p.date_of_birth, "DATE_FORMAT"),
            url=detail_url(p.pk),
        )
        for p in patients
    ]


def _shown(field, value) -> str:
    """A detail's value as the form names it, for a message."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if value in (None, ""):
        return _("(empty)")
    choices = dict(getattr(field, "choices", ()) or ())
    return str(choices.get(value, value))


def _changed_since(form: PatientForm, current: Patient) -> None:
    """Refuse a stale edit on the form: who saved the details since the page was opened
    and when, each detail saved now that differs from what was typed, and the page made
    current, so that a second save after reading is deliberate (QA 1, #6)."""
    last = (
        LogEntry.objects.get_for_object(current)
        .select_related("actor")
        .order_by("-timestamp", "-pk")
        .first()
    )
    who = _("someone")
    if last and last.actor:
        who = last.actor.get_full_name() or last.actor.get_username()
    differs = [
        f"{form.fields[name].label}: {_shown(form.fields[name], getattr(current, name))}"
        for name in DETAILS_FIELDS
        if form.cleaned_data.get(name) != getattr(current, name)
    ]
    words = {
        "who": who,
        "at": date_format(timezone.localtime(last.timestamp), "j F Y, H:i") if last else "",
        "now": "; ".join(differs),
    }
    form.add_error(
        None,
        _(
            "%(who)s saved this patient's details at %(at)s, since you opened this page. "
            "Nothing was saved. Saved now: %(now)s. Check them, then save again."
        )
        % words
        if differs
        else _(
            "%(who)s saved this patient's details at %(at)s, since you opened this page. "
            "Nothing was saved. Check them, then save again."
        )
        % words,
    )
    form.data = {key: form.data.get(key) for key in form.data} | {
        "seen_details": services.details_seen(current)
    }


def _save_details(request, form: PatientForm, *, registering: bool):
    """form -> service; None when the page must be shown again (with the matches)."""
    patient = form.save(commit=False)
    try:
        if registering:
            patient = services.patient_register(
                patient=patient,
                submission_key=form.cleaned_data["submission_key"],
                different_person_reason=form.stated_reason,
                user=request.user,
            )
        else:
            patient = services.patient_update(
                patient=patient,
                different_person_reason=form.stated_reason,
                user=request.user,
                seen_details=form.cleaned_data.get("seen_details"),
            )
    except services.DetailsChanged as changed:
        _changed_since(form, changed.current)
        return None, []
    except services.DuplicateSuspected as suspected:
        form.add_error(
            None,
            _(
                "This looks like a patient who is already registered. Check the records "
                "listed; if this is a different person, tick the box and say why."
            ),
        )
        return None, suspected.matches
    return patient, []


@policy.allowed("patient_create")
@require_http_methods(["GET", "POST"])
def patient_create(request):
    form = PatientForm(
        request.POST if request.method == "POST" else None,  # an empty POST is refused too
        submit_label=_("Register patient"),
        registering=True,
        initial={"submission_key": uuid.uuid4()},
    )
    matches = []
    if request.method == "POST" and form.is_valid():
        try:
            patient, matches = _save_details(request, form, registering=True)
        except services.AlreadySubmitted as done:
            messages.info(
                request,
                _("This form was already sent: the patient is registered with MRN %(mrn)s.")
                % {"mrn": done.patient.mrn},
            )
            return redirect(done.patient)
        if patient:
            messages.success(
                request, _("Patient registered with MRN %(mrn)s.") % {"mrn": patient.mrn}
            )
            return redirect(patient)
    if request.method == "POST" and not form.cleaned_data.get("submission_key"):
        # A form without its key (or a spoiled one): show it again with a fresh one.
        form.data = form.data.copy()
        form.data["submission_key"] = str(uuid.uuid4())
    form.ask_if_different(matches)
    record_list_read(request, [m.pk for m in matches])  # the likely duplicates shown
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "title": _("Register a patient"), "matches": matches},
    )


@policy.allowed("patient_detail")
@require_http_methods(["GET"])
def patient_detail(request, pk: int):
    patient = get_object_or_404(Patient, pk=pk)
    if patient.merged_into_id:
        # An old MRN: the record it became part of (opened, gated and audited there).
        messages.info(
            request,
            _("Record %(old)s was merged into this one.") % {"old": patient.mrn},
        )
        return redirect("patients:detail", pk=patient.merged_into_id)
    # A physician outside their own patients states a reason first (emergency access).
    if gate := patient_gate(request, patient_id=patient.pk):
        return gate
    record_read(request, patient)
    # Visits and orders belong to procedures: its `patient_care` tag fills the page's
    # block (templates/patients/patient_detail.html).
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            "alerts": patient_alerts(patient),
            "bloods": bloods_status(patient),
            "allergies": patient.allergies.filter(is_active=True),
            "medicines": patient.medications.filter(is_active=True),
            # Open ones only: a merge closes those between the records it joined.
            "overrides": DuplicateOverride.objects.filter(
                patient=patient, closed_by_merge__isnull=True
            )[:5],
            "merged_mrns": list(patient.merged_records.values_list("mrn", flat=True)),
            "can_edit_details": policy.may(request.user, "patient_update"),
            "can_edit_clinical": policy.may(request.user, "patient_clinical"),
        },
    )


@policy.allowed("patient_update")
@require_http_methods(["GET", "POST"])
def patient_update(request, pk: int):
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    form = PatientForm(
        request.POST or None,
        instance=patient,
        initial={"seen_details": services.details_seen(patient)},
    )
    matches = []
    if request.method == "POST" and form.is_valid():
        saved, matches = _save_details(request, form, registering=False)
        if saved:
            messages.success(request, _("Patient details saved."))
            return redirect(saved)
    # The form shows the whole record: a read like the detail page (front desk only,
    # so no care-relationship gate applies). A saved change is audited by auditlog.
    record_read(request, patient)
    record_list_read(request, [m.pk for m in matches])  # the likely duplicates shown
    form.ask_if_different(matches)
    return render(
        request,
        "patients/patient_form.html",
        {"form": form, "title": _("Edit patient"), "patient": patient, "matches": matches},
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
    record_list_read(request, [p.pk for p in results])
    # The booking form opened from a free time on the calendar keeps its physician, room,
    # date and time (ids, a date and a time only: nothing about the patient).
    keep = {
        key: request.POST[key]
        for key in ("provider", "room", "date", "time", "type")
        if re.fullmatch(r"[\w:-]{1,40}", request.POST.get(key, ""))
    }
    return render(
        request,
        "patients/_pick.html",
        {"results": results, "link_to": link_to, "keep": urlencode(keep)},
    )


# --- The clinical record (nurses and physicians) ---------------------------------------


def _clinical_page(request, patient: Patient, status: int = 200, **forms):
    record_read(request, patient)
    context = {
        "patient": patient,
        "alerts": patient_alerts(patient),
        "bloods": bloods_status(patient),
        "allergies": patient.allergies.filter(is_active=True),
        "blood_results": patient.blood_results.all()[:10],
        "measurements_form": forms.get("measurements_form") or MeasurementsForm(instance=patient),
        "allergy_form": forms.get("allergy_form") or AllergyForm(),
        "bloods_form": forms.get("bloods_form") or BloodResultForm(),
        "error": forms.get("error"),
    }
    return render(request, "patients/clinical_record.html", context, status=status)


@policy.allowed("patient_clinical")
@require_http_methods(["GET", "POST"])
@care_gated(_active_patient_of)
def patient_clinical(request, pk: int):
    """Weight, height, ASA class and pregnancy (this form); allergies and bloods (their
    own forms on the same page, each posting to its own action)."""
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    if request.method == "POST":
        form = MeasurementsForm(request.POST, instance=patient)
        if form.is_valid():
            services.patient_measurements_set(patient=form.save(commit=False))
            messages.success(request, _("Weight, height and ASA class saved."))
            return redirect("patients:clinical", pk=patient.pk)
        patient.refresh_from_db()
        return _clinical_page(request, patient, measurements_form=form)
    return _clinical_page(request, patient)


@policy.allowed("allergy_add")
@require_http_methods(["POST"])
@care_gated(_active_patient_of)
def allergy_add(request, pk: int):
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    form = AllergyForm(request.POST)
    if form.is_valid():
        try:
            services.allergy_add(patient=patient, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Allergy recorded."))
            return redirect("patients:clinical", pk=patient.pk)
    return _clinical_page(request, patient, allergy_form=form)


@policy.allowed("allergy_none")
@require_http_methods(["POST"])
@care_gated(_active_patient_of)
def allergy_none(request, pk: int):
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    try:
        services.allergies_none_known(patient=patient, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Recorded: no known allergies."))
    return redirect("patients:clinical", pk=patient.pk)


@policy.allowed("allergy_remove")
@require_http_methods(["POST"])
@care_gated(_active_patient_of)
def allergy_remove(request, pk: int, allergy_id: int):
    allergy = get_object_or_404(Allergy, pk=allergy_id, patient_id=pk)
    services.allergy_remove(allergy_id=allergy.pk, user=request.user)
    messages.success(request, _("Allergy taken off the active list (kept in the history)."))
    return redirect("patients:clinical", pk=pk)


@policy.allowed("bloods_add")
@require_http_methods(["POST"])
@care_gated(_active_patient_of)
def bloods_add(request, pk: int):
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    form = BloodResultForm(request.POST, instance=BloodResult(patient=patient))
    if form.is_valid():
        result = form.save(commit=False)
        try:
            services.blood_result_add(result=result, user=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Blood result recorded."))
            return redirect("patients:clinical", pk=patient.pk)
    return _clinical_page(request, patient, bloods_form=form)


@policy.allowed("bleeding_disorder_set")
@require_http_methods(["POST"])
@care_gated(_active_patient_of)
def bleeding_disorder_set(request, pk: int):
    patient = get_object_or_404(Patient.objects.active(), pk=pk)
    flag = request.POST.get("bleeding_disorder") == "yes"
    services.patient_bleeding_disorder_set(patient_id=patient.pk, bleeding_disorder=flag)
    if flag:
        messages.success(request, _("Recorded: the patient has a bleeding disorder."))
    else:
        messages.success(request, _("Recorded: no bleeding disorder."))
    return redirect("patients:clinical", pk=patient.pk)


# --- Merging two records of one person (clinic admins) --------------------------------


@policy.allowed("patient_merge_view")
@require_http_methods(["GET", "POST"])
def patient_merge_view(request):
    """Two MRNs and a reason; then both records side by side and what would move;
    then the merge. MRNs travel in POST bodies, never in URLs."""
    form = MergeForm(request.POST or None)
    preview = None
    choices = None
    status = 200
    if request.method == "POST" and form.is_valid():
        survivor, merged = form.cleaned_data["survivor"], form.cleaned_data["merged"]
        conflicts = contact_conflicts(survivor=survivor, merged=merged)
        if request.POST.get("confirm") == "merge":
            choices = MergeChoicesForm(request.POST, conflicts=conflicts)
            if choices.is_valid():
                try:
                    merge = patient_merge(
                        survivor=survivor,
                        merged=merged,
                        reason=form.cleaned_data["reason"],
                        user=request.user,
                        take_from_merged=choices.take_from_merged(),
                    )
                except ValidationError as error:
                    form.add_error(None, error)
                else:
                    messages.success(
                        request,
                        _(
                            "Record %(old)s merged into %(new)s. To undo it, open Admin, "
                            "Patient merges."
                        )
                        % {"old": merge.merged_mrn, "new": merge.survivor_mrn},
                    )
                    return redirect("patients:merge")
            status = 400
        record_read(request, survivor)
        record_read(request, merged)
        preview = {
            "survivor": survivor,
            "merged": merged,
            "moves": merge_preview(survivor=survivor, merged=merged),
            # The visits' hold plans a physician must confirm again, and the like.
            "warnings": merge_warnings(survivor=survivor, merged=merged),
        }
        choices = choices or MergeChoicesForm(conflicts=conflicts)
    return render(
        request,
        "patients/merge.html",
        {"form": form, "preview": preview, "choices": choices},
        status=status,
    )
