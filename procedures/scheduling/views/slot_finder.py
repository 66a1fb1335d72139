"""The slot finder: choose the patient and procedure, see the next free slots, book one
with one click. Everything is POSTed, so no patient detail or search term is in a URL."""

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from clinic import policy
from clinic.audit import record_list_read
from clinic.bounds import query_id
from clinic.forms import apply_service_errors
from patients.models import Patient
from procedures.catalog.clock import clinic_tz
from procedures.catalog.sites import current_site_id, home_site_id
from procedures.scheduling.lifecycle_forms import PatientSearchForm, SlotBookForm, SlotSearchForm
from procedures.scheduling.rules import nearby_bookings, nearby_warning, patient_bookings
from procedures.scheduling.slots import slots_find
from procedures.workflows.visits import appointment_book, booking_question, slots_not_before

# "More slots" asks for this many more each time (four a day more, too).
SLOTS_PER_PAGE, PER_DAY_STEP, MAX_PAGES = 12, 4, 8
LAST_PROCEDURE = "slot_finder_procedure"  # the session remembers the last one chosen
FAST_CONFIRMED = "slot_fast_confirmed"  # "the patient has not eaten since", for this slot


def _pages(request) -> int:
    pages = query_id(request.POST.get("pages", "1")) or 1
    return min(MAX_PAGES, pages)


def _find(
    data: dict, pages: int = 1, *, site_id: int | None = None
) -> tuple[list, datetime | None]:
    """The next free slots the patient can still prepare for, and the time they start
    after when that is a sedated visit's fast (`slots_not_before`), else None."""
    not_before = slots_not_before(
        procedure_type=data["procedure_type"],
        sedation_level=data["sedation_level"],
        patient=data["patient"],
    )
    slots = slots_find(
        site_id=site_id,
        procedure_type=data["procedure_type"],
        sedation_level=data["sedation_level"],
        patient=data["patient"],
        provider=data.get("provider"),
        first_day=data["date_from"],
        last_day=data["date_to"],
        time_of_day=data["time_of_day"],
        limit=SLOTS_PER_PAGE * pages,
        per_day=PER_DAY_STEP * pages,
        not_before=not_before,
    )
    return slots, not_before


def _group_by_day(slots: list) -> list[tuple]:
    days: dict = {}
    for slot in slots:
        days.setdefault(slot.start_at.astimezone(clinic_tz()).date(), []).append(slot)
    return list(days.items())


@policy.allowed("slot_finder")
@require_http_methods(["GET", "POST"])
def slot_finder(request):
    search = PatientSearchForm(request.POST or None)
    patients = None
    slots = fasting_from = None
    nearby = fast = ""
    pages = _pages(request)
    # A slot pairs a room and a physician of one site: "all sites" searches the home one.
    site_id = current_site_id(request) or home_site_id(request.user)
    if request.method == "GET":
        chosen = None
        if patient_id := query_id(request.GET.get("patient", "")):
            chosen = Patient.objects.current(pk=patient_id)
        initial = {"patient": chosen.pk if chosen else None}
        last = request.session.get(LAST_PROCEDURE)
        if chosen and not last:
            # The procedure this patient was booked for last, if any.
            last = (
                chosen.appointments.order_by("-start_at")
                .values_list("procedure_type_id", flat=True)
                .first()
            )
        if last:
            initial["procedure_type"] = last
        form = SlotSearchForm(initial=initial, site_id=site_id)
        patients = [chosen] if chosen else None
        search = PatientSearchForm()
        if chosen and last and form.fields["procedure_type"].queryset.filter(pk=last).exists():
            # From a patient, one click: the next free slots for the last procedure.
            form = SlotSearchForm({"patient": chosen.pk, "procedure_type": last}, site_id=site_id)
            if form.is_valid():
                slots, fasting_from = _find(form.cleaned_data, site_id=site_id)
    elif request.POST.get("action") == "search":
        # Without script the search button posts the whole form: keep what was typed.
        form = SlotSearchForm(initial=request.POST.dict(), site_id=site_id)
        patients = list(Patient.objects.search_fuzzy(request.POST.get("q", "")))
    elif posted_slot(request):
        posted = request.POST.copy()
        # The button under a question carries the slot it answers for: "slot_confirmed"
        # for visits nearby, FAST_CONFIRMED for a fast begun (asked second: both then).
        fast_answered = bool(posted.get(FAST_CONFIRMED))
        confirmed = fast_answered or bool(posted.get("slot_confirmed"))
        if confirmed:
            posted["slot"] = posted.get(FAST_CONFIRMED) or posted["slot_confirmed"]
        form = SlotBookForm(posted, site_id=site_id)
        if form.is_valid():
            data = form.cleaned_data
            slot = data["slot"]
            others = nearby_bookings(patient=data["patient"], start_at=slot["start_at"])
            if others and not confirmed:
                # Asked, not refused: the same slot again, with "Book anyway".
                nearby = nearby_warning(others)
                slots, fasting_from = _find(data, pages, site_id=site_id)
        if form.is_valid() and not nearby:
            data = form.cleaned_data
            slot = data["slot"]
            try:
                appointment = appointment_book(
                    patient=data["patient"],
                    procedure_type=data["procedure_type"],
                    provider=slot["provider"],
                    room=slot["room"],
                    start_at=slot["start_at"],
                    end_at=slot["start_at"]
                    + timedelta(minutes=data["procedure_type"].default_duration_minutes),
                    sedation_level=data["sedation_level"],
                    transport_mode=data["transport_mode"],
                    notes=data["notes"],
                    by=request.user,
                    fast_begun_confirmed=fast_answered,
                )
            except ValidationError as exc:
                if not (fast := booking_question(exc) or ""):
                    # Most likely the slot was taken meanwhile: say so, offer fresh slots.
                    apply_service_errors(form, exc, field_map={f: None for f in exc_fields(exc)})
                slots, fasting_from = _find(data, pages, site_id=site_id)
            else:
                messages.success(
                    request, _("Appointment booked. The patient will get a confirmation email.")
                )
                return redirect(appointment)
        patients = _chosen(form)
    else:
        form = SlotSearchForm(request.POST, site_id=site_id)
        if request.POST.get("action") == "more":
            pages = min(MAX_PAGES, pages + 1)
        if form.is_valid():
            slots, fasting_from = _find(form.cleaned_data, pages, site_id=site_id)
            request.session[LAST_PROCEDURE] = form.cleaned_data["procedure_type"].pk
        patients = _chosen(form)
    record_list_read(request, [p.pk for p in patients or []])  # the search or the one chosen
    return render(
        request,
        "procedures/slot_finder.html",
        {
            "form": form,
            "search": search,
            "patients": patients,
            "chosen": (form.data.get("patient") or form.initial.get("patient")),
            "days": _group_by_day(slots) if slots else [],
            "searched": slots is not None,
            "pages": pages,
            "more": bool(slots) and len(slots) >= SLOTS_PER_PAGE * pages and pages < MAX_PAGES,
            "nearby": nearby,
            "fast": fast,
            # Sedated: the slots offered start once the patient can still be told to fast.
            "fasting_from": fasting_from,
            "fast_confirmed": FAST_CONFIRMED,
            "pending_slot": posted_slot(request) if nearby or fast else "",
            "own_bookings": patient_bookings(patient=patients[0])
            if patients and len(patients) == 1
            else [],
        },
    )


def posted_slot(request) -> str:
    post = request.POST
    return post.get("slot") or post.get("slot_confirmed") or post.get(FAST_CONFIRMED) or ""


def exc_fields(exc: ValidationError) -> list[str]:
    return list(getattr(exc, "error_dict", {}))


def _chosen(form) -> list | None:
    """The patient ticked in the posted form, shown again as the one choice."""
    cleaned = getattr(form, "cleaned_data", {})
    if cleaned.get("patient"):
        return [cleaned["patient"]]  # the form has read the row already
    if patient_id := query_id(str(form.data.get("patient", ""))):
        patient = Patient.objects.filter(pk=patient_id).first()
        return [patient] if patient else None
    return None
