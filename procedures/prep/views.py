"""The prep page of an appointment: medicines and holds, sedation and fasting, site and
side, getting home (transport and escort), the dated timeline, front-desk tasks and the
day-of checklist.

One page (GET) and one small POST view per part: each part of the prep is saved by
exactly one form, and the escort is entered and confirmed only in "Getting home". A
refused POST renders the page again with the form and its messages, an accepted one
redirects back (PRG) to the part's anchor.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_read
from clinic.emergency import care_gated
from clinic.forms import apply_service_errors
from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import patient_context
from procedures.prep import checklist as prep_checklist
from procedures.prep import facts, timeline
from procedures.prep import rules as prep_rules
from procedures.prep import services as prep
from procedures.prep.fasting import fast_begun_warning
from procedures.prep.forms import (
    HoldForm,
    MedicationForm,
    SedationForm,
    SiteForm,
    TransportForm,
)
from procedures.prep.models import ChecklistItem, FrontDeskTask
from procedures.scheduling.access import patient_of_appointment
from procedures.scheduling.models import Appointment
from procedures.workflows import prep_changes


def _url(name: str, appointment: Appointment) -> str:
    return reverse(f"procedures:{name}", args=[appointment.pk])


def _forms(appointment: Appointment, plan) -> dict:
    return {
        "medication_form": MedicationForm(action=_url("prep_medication_add", appointment)),
        "hold_form": HoldForm(
            patient=appointment.patient,
            action=_url("prep_hold_set", appointment),
            tz=appointment.site_tz,
        ),
        "sedation_form": SedationForm(
            action=_url("prep_sedation", appointment),
            initial={
                "sedation_level": appointment.sedation_level,
                "food_fast_hours": plan.food_fast_hours,
                "clear_fluid_fast_hours": plan.clear_fluid_fast_hours,
            },
        ),
        "transport_form": TransportForm(
            action=_url("prep_transport", appointment),
            confirmed=appointment.escort_confirmed_at is not None,
            initial={
                "transport_mode": appointment.transport_mode,
                "escort_name": appointment.escort_name,
                "escort_phone": appointment.escort_phone,
                "needs_wheelchair": plan.needs_wheelchair,
                "needs_interpreter": plan.needs_interpreter,
                "interpreter_language": plan.interpreter_language,
            },
        ),
        "site_form": SiteForm(
            action=_url("prep_site", appointment),
            initial={
                "site": plan.site,
                "side": plan.side,
                "active_infection": plan.active_infection,
                "cancer": plan.cancer,
            },
        ),
    }


def prep_context(appointment: Appointment) -> dict:
    """What the prep page and the appointment page's summary show."""
    plan = facts.plan_of(appointment)
    state = prep_checklist.readiness(appointment)
    return {
        "appointment": appointment,
        "plan": plan,
        "hold_rows": facts.hold_rows(appointment),
        "has_medications": bool(facts.active_medications(appointment)),
        "readiness": state,
        "findings": prep_rules.rule_findings(appointment),
        "timeline": timeline.prep_timeline(appointment),
        "tasks": appointment.frontdesk_tasks.select_related("done_by"),
        # The front desk's phone calls about this visit, a stop withdrawn by a move
        # among them. A results call ("results_call": messaging sits above prep, so
        # its choices are not imported here) is the physician's, on the worklist.
        "calls": appointment.call_tasks.exclude(reason="results_call").select_related("done_by"),
        "overrides": appointment.clinical_overrides.select_related("by"),
        "is_child": facts.is_child(appointment),
        "short_notice": facts.is_short_notice(appointment),
        "on_the_day": facts.local_date(appointment.start_at) == clinic_today(),
        # Under way, done or released: the procedure's own parts are read-only.
        "plan_locked": facts.plan_locked_reason(appointment),
    }


def _load(pk: int) -> Appointment:
    return get_object_or_404(Appointment.objects.with_related(), pk=pk)


def _page(request, appointment: Appointment, *, status: int = 200, **bound) -> object:
    context = prep_context(appointment)
    context.update(_forms(appointment, context["plan"]))
    context.update(bound)
    return render(request, "procedures/prep/prep_detail.html", context, status=status)


def _refused(request, appointment: Appointment, name: str, form, exc=None) -> object:
    record_read(request, appointment)  # the whole prep page is shown again
    if exc is not None:
        apply_service_errors(form, exc)
    messages.error(request, _("Not saved: see the message below."))
    return _page(request, appointment, status=400, **{name: form})


@policy.allowed("prep_detail")
@require_http_methods(["GET"])
@care_gated(patient_of_appointment)
def prep_detail(request, pk: int):
    appointment = _load(pk)
    record_read(request, appointment)
    return _page(request, appointment)


@policy.allowed("prep_print")
@require_http_methods(["GET"])
@care_gated(patient_of_appointment)
def prep_print(request, pk: int):
    """The patient's prep sheet, for printing: the visit's site (its name, phone and
    clock) and the patient's language; the staff's bar above it stays in theirs."""
    appointment = _load(pk)
    record_read(request, appointment)
    context = {
        "appointment": appointment,
        "timeline": timeline.patient_timeline(appointment),
        "sheet_language": appointment.patient.preferred_language,
        **patient_context(appointment.room.site),
    }
    return render(request, "procedures/prep/prep_print.html", context)


@policy.allowed("prep_medication_add")
@require_POST
@care_gated(patient_of_appointment)
def prep_medication_add(request, pk: int):
    appointment = _load(pk)
    form = MedicationForm(request.POST, action=_url("prep_medication_add", appointment))
    if not form.is_valid():
        return _refused(request, appointment, "medication_form", form)
    data = form.cleaned_data
    try:
        prep_changes.medication_add(
            appointment_id=appointment.pk,
            name=data["name"],
            dose=data["dose"],
            med_class=data["med_class"],
            by=request.user,
        )
    except ValidationError as exc:
        return _refused(request, appointment, "medication_form", form, exc)
    messages.success(request, _("Medicine added. The physician decides whether to stop it."))
    return redirect(_url("prep_detail", appointment) + "#medicines")


@policy.allowed("prep_hold_set")
@require_POST
@care_gated(patient_of_appointment)
def prep_hold_set(request, pk: int):
    appointment = _load(pk)
    form = HoldForm(
        request.POST,
        patient=appointment.patient,
        action=_url("prep_hold_set", appointment),
        tz=appointment.site_tz,
    )
    if not form.is_valid():
        return _refused(request, appointment, "hold_form", form)
    data = form.cleaned_data
    try:
        prep_changes.medication_hold_set(
            appointment_id=appointment.pk,
            medication_id=data["medication"].pk,
            action=data["action"],
            stop_at=data["stop_at"],
            resume_guidance=data["resume_guidance"],
            by=request.user,
        )
    except ValidationError as exc:
        return _refused(request, appointment, "hold_form", form, exc)
    messages.success(request, _("Decision saved. Confirm the hold plan when it is complete."))
    for row in facts.hold_rows(appointment):
        if row.medication.pk == data["medication"].pk and row.shorter_than_suggested:
            messages.warning(
                request,
                _(
                    "%(name)s: the stop is shorter than the suggested %(days)s days for this "
                    "kind of medicine. Saved as you decided."
                )
                % {"name": row.medication.name, "days": row.suggested_days},
            )
    return redirect(_url("prep_detail", appointment) + "#medicines")


@policy.allowed("prep_hold_confirm")
@require_POST
@care_gated(patient_of_appointment)
def prep_hold_confirm(request, pk: int):
    appointment = _load(pk)
    try:
        prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Hold plan confirmed. It is now on the patient's timeline."))
    return redirect(_url("prep_detail", appointment) + "#medicines")


@policy.allowed("prep_sedation")
@require_POST
@care_gated(patient_of_appointment)
def prep_sedation(request, pk: int):
    appointment = _load(pk)
    form = SedationForm(request.POST, action=_url("prep_sedation", appointment))
    if not form.is_valid():
        return _refused(request, appointment, "sedation_form", form)
    try:
        prep_changes.sedation_plan_set(
            appointment_id=appointment.pk, by=request.user, **form.cleaned_data
        )
    except ValidationError as exc:
        return _refused(request, appointment, "sedation_form", form, exc)
    messages.success(request, _("Sedation plan saved."))
    if warning := fast_begun_warning(_load(pk)):
        messages.warning(request, warning)
    return redirect(_url("prep_detail", appointment) + "#sedation")


@policy.allowed("prep_transport")
@require_POST
@care_gated(patient_of_appointment)
def prep_transport(request, pk: int):
    """Getting home: the one form for transport, the escort (and its confirmation)
    and access needs."""
    appointment = _load(pk)
    form = TransportForm(
        request.POST,
        action=_url("prep_transport", appointment),
        confirmed=appointment.escort_confirmed_at is not None,
    )
    if not form.is_valid():
        return _refused(request, appointment, "transport_form", form)
    try:
        saved = prep_changes.getting_home_set(
            appointment_id=appointment.pk, by=request.user, **form.cleaned_data
        )
    except ValidationError as exc:
        return _refused(request, appointment, "transport_form", form, exc)
    if saved.escort_confirmed_at and saved.escort_confirmed_at != appointment.escort_confirmed_at:
        messages.success(request, _("Getting home saved. Escort confirmed."))
    elif appointment.escort_confirmed_at and not saved.escort_confirmed_at:
        if form.cleaned_data.get("escort_take_back"):
            messages.success(request, _("Getting home saved. The escort is no longer confirmed."))
        else:
            messages.warning(
                request,
                _(
                    "Getting home saved. A new escort name or phone: the escort is no longer "
                    "confirmed, and the escort request is planned again."
                ),
            )
    else:
        messages.success(request, _("Getting home saved."))
    return redirect(_url("prep_detail", appointment) + "#transport")


@policy.allowed("prep_site")
@require_POST
@care_gated(patient_of_appointment)
def prep_site(request, pk: int):
    appointment = _load(pk)
    form = SiteForm(request.POST, action=_url("prep_site", appointment))
    if not form.is_valid():
        return _refused(request, appointment, "site_form", form)
    try:
        prep_rules.procedure_site_set(
            appointment_id=appointment.pk, by=request.user, **form.cleaned_data
        )
    except ValidationError as exc:
        return _refused(request, appointment, "site_form", form, exc)
    messages.success(request, _("Site and side saved."))
    return redirect(_url("prep_detail", appointment) + "#site")


@policy.allowed("prep_checklist_tick")
@require_POST
@care_gated(patient_of_appointment)
def prep_checklist_tick(request, pk: int):
    appointment = _load(pk)
    item = request.POST.get("item", "")
    if item not in ChecklistItem.values:
        messages.error(request, _("Choose a checklist item."))
    else:
        try:
            prep_checklist.checklist_tick(appointment_id=appointment.pk, item=item, by=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Ticked: %(item)s.") % {"item": ChecklistItem(item).label})
    return redirect(_url("prep_detail", appointment) + "#checklist")


@policy.allowed("prep_task_done")
@require_POST
def prep_task_done(request, pk: int):
    task = get_object_or_404(FrontDeskTask.objects.select_related("appointment"), pk=pk)
    prep.frontdesk_task_done(task_id=task.pk, by=request.user)
    messages.success(request, _("Task done: %(task)s.") % {"task": task.get_kind_display()})
    return redirect(_url("prep_detail", task.appointment) + "#tasks")
