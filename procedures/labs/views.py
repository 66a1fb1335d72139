"""Lab interface pages: the FHIR results endpoint (token, no login), the unmatched
results worklist, order messages that failed, the per-kind result form, and the
label and requisition PDFs. Thin: form -> service -> message -> redirect."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic import roles
from clinic.audit import record_read
from clinic.emergency import care_gated
from clinic.forms import apply_service_errors
from procedures.labs import choices, inbound_fhir, kinds, outbound, pdf, unmatched
from procedures.labs.forms import MatchForm, RejectForm, ResultHeaderForm
from procedures.labs.models import LabInboundMessage, LabOrderMessage
from procedures.labs.structured import structured_result_log
from procedures.results.access import patient_of_order
from procedures.results.models import TestOrder
from procedures.scheduling.access import patient_of_appointment
from procedures.scheduling.models import Appointment

FHIR_JSON = "application/fhir+json"
MAX_BUNDLE_BYTES = 4 * 1024 * 1024
LAB_STAFF = (roles.NURSE, roles.PHYSICIAN, roles.CLINIC_ADMIN)


def _outcome(status: int, severity: str, text: str) -> JsonResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": "security" if status == 401 else "processing",
                "diagnostics": text,
            }
        ],
    }
    response = JsonResponse(body, status=status, content_type=FHIR_JSON)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="lab results"'
    return response


@login_not_required
@csrf_exempt  # a machine endpoint: authenticated by the lab's bearer token, not a cookie
@require_http_methods(["POST"])
def fhir_results(request):
    """POST a Bundle with a DiagnosticReport and its Observations (FHIR R4)."""
    lab = inbound_fhir.lab_for_token(request.headers.get("Authorization", ""))
    if lab is None:
        return _outcome(401, "error", "a lab's bearer token is required")
    if len(request.body) > MAX_BUNDLE_BYTES:
        return _outcome(413, "error", "bundle too large")
    status, body = inbound_fhir.fhir_bundle_receive(
        lab=lab, body=request.body, peer=request.META.get("REMOTE_ADDR", "")
    )
    return JsonResponse(body, status=status, content_type=FHIR_JSON)


# --- Unmatched results ----------------------------------------------------------------


@roles.role_required(*roles.CLINICAL)
@require_GET
def unmatched_list(request):
    """Results that arrived but could not be attached safely, oldest first."""
    rows = (
        LabInboundMessage.objects.filter(match_status=LabInboundMessage.MatchStatus.OPEN)
        .select_related("lab")
        .order_by("received_at", "pk")
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "labs/unmatched_list.html", {"page": page})


def _unmatched_page(request, row, match_form=None, reject_form=None):
    record_read(request, row)
    try:
        reread = unmatched.reread(row)
    except Exception:  # a refused message may not parse at all
        reread = None
    return render(
        request,
        "labs/unmatched_detail.html",
        {
            "row": row,
            "reports": reread.reports if reread else [],
            "match_form": match_form or MatchForm(),
            "reject_form": reject_form or RejectForm(),
        },
    )


@roles.role_required(*roles.CLINICAL)
@require_GET
def unmatched_detail(request, pk: int):
    row = get_object_or_404(LabInboundMessage.objects.select_related("lab", "order"), pk=pk)
    return _unmatched_page(request, row)


@roles.role_required(roles.PHYSICIAN, roles.NURSE)
@require_POST
def unmatched_match(request, pk: int):
    row = get_object_or_404(LabInboundMessage, pk=pk)
    form = MatchForm(request.POST)
    if form.is_valid():
        try:
            unmatched.unmatched_attach(
                message_id=row.pk, order_id=form.cleaned_data["order"], by=request.user
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Result attached to the order."))
            return redirect("procedures:labs:unmatched_list")
    return _unmatched_page(request, row, match_form=form)


@roles.role_required(roles.PHYSICIAN, roles.NURSE)
@require_POST
def unmatched_reject(request, pk: int):
    row = get_object_or_404(LabInboundMessage, pk=pk)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            unmatched.unmatched_reject(
                message_id=row.pk, reason=form.cleaned_data["reason"], by=request.user
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("Result rejected; the reason is kept."))
            return redirect("procedures:labs:unmatched_list")
    return _unmatched_page(request, row, reject_form=form)


# --- Order messages --------------------------------------------------------------------


@roles.role_required(*LAB_STAFF)
@require_GET
def order_messages(request):
    """Order messages to labs: failures first (they need someone), then the latest."""
    failed = LabOrderMessage.objects.needs_attention().select_related("lab")
    recent = LabOrderMessage.objects.exclude(status=LabOrderMessage.Status.FAILED).select_related(
        "lab"
    )[:50]
    return render(request, "labs/order_messages.html", {"failed": failed, "recent": recent})


def _message_action(request, pk, service, success):
    try:
        service(message_id=pk, by=request.user)
    except (ValidationError, LabOrderMessage.DoesNotExist) as exc:
        messages.error(request, "; ".join(getattr(exc, "messages", [_("No such message.")])))
    else:
        messages.success(request, success)
    return redirect("procedures:labs:order_messages")


@roles.role_required(*LAB_STAFF)
@require_POST
def order_message_retry(request, pk: int):
    return _message_action(
        request, pk, outbound.lab_order_retry, _("The message will be sent again.")
    )


@roles.role_required(*LAB_STAFF)
@require_POST
def order_message_resolve(request, pk: int):
    return _message_action(
        request, pk, outbound.lab_order_resolve, _("Marked as handled outside the interface.")
    )


# --- Result form per kind, labels, requisition ----------------------------------------------


def _order(pk: int) -> TestOrder:
    return get_object_or_404(
        TestOrder.objects.select_related(
            "test_type__lab_code",
            "appointment__patient",
            "appointment__procedure_type",
            "responsible",
        ),
        pk=pk,
    )


@roles.role_required(roles.PHYSICIAN)
@require_http_methods(["GET", "POST"])
@care_gated(patient_of_order)
def structured_result(request, pk: int):
    """Log a result with the form of the order's kind of test."""
    order = _order(pk)
    kind = kinds.kind_for(order.test_type)
    header = ResultHeaderForm(request.POST or None)
    findings = kinds.form_for(kind, data=request.POST or None, prefix="f")
    if request.method == "POST" and header.is_valid() & findings.is_valid():
        try:
            structured_result_log(
                order_id=order.pk,
                kind=kind,
                findings=findings.structured(),
                by=request.user,
                **header.cleaned_data,
            )
        except ValidationError as exc:
            apply_service_errors(header, exc)
        else:
            messages.success(request, _("Result logged."))
            return redirect("procedures:result_log", pk=order.pk)
    record_read(request, order)
    return render(
        request,
        "labs/structured_result.html",
        {
            "order": order,
            "kind": choices.ResultKind(kind).label,
            "header": header,
            "findings": findings,
        },
    )


def _pdf(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


@roles.role_required(*roles.CLINICAL)
@require_GET
@care_gated(patient_of_order)
def order_labels(request, pk: int):
    order = _order(pk)
    record_read(request, order)
    return _pdf(pdf.labels_pdf([order]), f"labels-order-{order.pk}.pdf")


@roles.role_required(*roles.CLINICAL)
@require_GET
@care_gated(patient_of_appointment)
def requisition(request, pk: int):
    """The requisition of every test on the appointment's sample (and all its labels)."""
    appointment = get_object_or_404(Appointment, pk=pk)
    orders = list(
        appointment.test_orders.exclude(status=TestOrder.Status.CANCELLED).select_related(
            "test_type__lab_code",
            "appointment__patient",
            "appointment__procedure_type",
            "responsible",
        )
    )
    if not orders:
        messages.error(request, _("This appointment has no test orders yet."))
        return redirect(appointment)
    record_read(request, appointment)
    kind = request.GET.get("what")
    if kind == "labels":
        return _pdf(pdf.labels_pdf(orders), f"labels-appointment-{appointment.pk}.pdf")
    return _pdf(pdf.requisition_pdf(orders), f"requisition-{appointment.pk}.pdf")
