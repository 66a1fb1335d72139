"""Results follow-up pages: the worklist, the order page with its actions, the
sample form at completion, and the private PDF. Thin: form → service → message."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from clinic import policy
from clinic.audit import record_list_read, record_read
from clinic.emergency import care_gated, restricted
from clinic.forms import apply_service_errors
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_today
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider
from procedures.catalog.sites import at_site, current_site_id
from procedures.results.access import COVER, care_basis, patient_of_order, patient_of_result
from procedures.results.forms import (
    CancelForm,
    CommunicateForm,
    ReassignForm,
    ReplaceForm,
    ResultForm,
    ReviewForm,
    SampleForm,
    SentForm,
    WorklistFilterForm,
)
from procedures.results.models import TestOrder, TestResult, answering_for
from procedures.results.orders import (
    Sample,
    discussion_date_for,
    order_reassign,
    result_log,
)
from procedures.results.worklist import worklist_rows
from procedures.scheduling.access import patient_of_appointment
from procedures.scheduling.models import Appointment
from procedures.workflows.results import (
    calls_owed,
    order_cancel,
    order_replace,
    order_sent,
    result_communicate,
    result_review,
    results_call_open,
)
from procedures.workflows.visits import procedure_complete

S = TestOrder.Status
DUE_SOON_DAYS = 2


class CountedPaginator(Paginator):
    """A paginator given the list's length by the caller, who counted it already."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self) -> int:
        return self._count


def _attention(orders, today):
    """Orders that need someone now: overdue, final but unreviewed, reviewed but untold."""
    return orders.filter(
        Q(status__in=TestOrder.PENDING_STATUSES, expected_by__lt=today)
        | Q(status__in=[S.FINAL, S.REVIEWED])
    )


def _filtered(request, today, answering: list[int] | None = None):
    site_id = current_site_id(request)
    form = WorklistFilterForm(request.GET or None, site_id=site_id)
    orders = TestOrder.objects.worklist()
    scope = "all"
    if form.is_valid():
        data = form.cleaned_data
        scope = data["scope"] or ("mine" if policy.may(request.user, "result_enter") else "all")
        if data["test_type"]:
            orders = orders.filter(test_type=data["test_type"])
        if data["lab"]:
            orders = orders.filter(test_type__lab=data["lab"])
        if data["physician"]:
            orders = orders.filter(responsible=data["physician"])
        state = data["state"]
        if state == "pending":
            orders = orders.filter(status__in=TestOrder.PENDING_STATUSES)
        elif state == "overdue":
            orders = orders.filter(status__in=TestOrder.PENDING_STATUSES, expected_by__lt=today)
        elif state in (S.FINAL, S.REVIEWED):
            orders = orders.filter(status=state)
    elif not request.GET and policy.may(request.user, "result_enter"):
        scope = "mine"
    if scope == "mine":
        # A physician's own results follow them to every site (issue 18): those of
        # the physicians they answer for, read first (owned_by's subquery made
        # PostgreSQL read and sort all their open orders; with ids, one physician's
        # page is read in due order from testorder_open_responsible_idx).
        if answering is None:
            answering = answering_for(request.user, today)
        orders = orders.filter(responsible__in=answering)
    else:
        orders = at_site(orders, site_id)
    return form, orders, scope


def _buckets(orders, today) -> tuple[dict[str, int], int]:
    """The aging buckets of `orders` and how many there are, from one query: the open
    orders counted by due date (a row a day, a few dozen), with how many of each day
    are final or reviewed, summed into buckets here. Grouped by the due date alone,
    PostgreSQL counts them in the order of the site's index (`testorder_open_site_due_idx`)
    with no hashing: at a network's volume a site has 21,000 open orders, 4.5 ms grouped
    by state and day, 2.9 ms by day (docs/performance.md, seventh round)."""
    soon = today + timedelta(days=DUE_SOON_DAYS)
    week_ago = today - timedelta(days=7)
    buckets = dict.fromkeys(
        ("overdue_long", "overdue", "due_soon", "later", "unreviewed", "untold"), 0
    )
    counted = (
        orders.order_by()
        .values_list("expected_by")
        .annotate(
            n=Count("*"),
            final=Count("pk", filter=Q(status=S.FINAL)),
            reviewed=Count("pk", filter=Q(status=S.REVIEWED)),
        )
    )
    for due, n, final, reviewed in counted:
        buckets["unreviewed"] += final
        buckets["untold"] += reviewed
        if due < week_ago:
            bucket = "overdue_long"
        elif due < today:
            bucket = "overdue"
        elif due <= soon:
            bucket = "due_soon"
        else:
            bucket = "later"
        buckets[bucket] += n - final - reviewed
    return buckets, sum(buckets.values())


@policy.allowed("worklist")
@require_GET
def worklist(request):
    """Open results, the longest overdue first, with aging buckets and filters."""
    today = clinic_today()
    physician = policy.may(request.user, "result_enter")
    answering = answering_for(request.user, today) if physician else None
    form, orders, scope = _filtered(request, today, answering)
    buckets, total = _buckets(orders, today)
    # The same query counted the list: the paginator is told, not asked again.
    paginator = CountedPaginator(orders, 50, count=total)
    page = paginator.get_page(request.GET.get("page"))
    rows = worklist_rows(page.object_list, today=today, may_enter=physician)
    # The calls a physician said they would make ("I will call" at the review): theirs
    # and their covered colleagues', whatever the page's filters.
    calls = calls_owed(physician_ids=answering) if answering is not None else []
    record_list_read(
        request, [row.patient_id for row in rows] + [c.appointment.patient_id for c in calls]
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "procedures/worklist.html",
        {
            "page": page,
            "rows": rows,
            "today": today,
            "form": form,
            "scope": scope,
            "buckets": buckets,
            "calls": calls,
            "query": query.urlencode(),
        },
    )


@policy.allowed("attention_count")
@require_GET
def attention_count(request):
    """The navigation's badge, fetched by htmx after the page: one COUNT query."""
    today = clinic_today()
    orders = TestOrder.objects.all()
    if policy.may(request.user, "result_enter"):
        orders = orders.owned_by(request.user, today)  # theirs, at every site
    else:
        orders = at_site(orders, current_site_id(request))
    count = _attention(orders, today).count()
    return render(request, "procedures/_attention_count.html", {"count": count})


def read_basis(request, patient_id: int) -> str:
    """ "cover" when a physician reads a record only because they cover a colleague's
    results (audited as such), else ""."""
    if restricted(request.user) and care_basis(request.user, patient_id) == COVER:
        return COVER
    return ""


def _latest_result_id(order) -> int:
    return order.results.order_by("-pk").values_list("pk", flat=True).first() or 0


def _order_page(request, order, **forms):
    record_read(request, order, basis=read_basis(request, order.appointment.patient_id))
    results = list(order.results.select_related("logged_by"))
    seen = {"seen_result": max((r.pk for r in results), default=0)}
    context = {
        "order": order,
        "results": results,
        "timeline": _timeline(order),
        "result_form": forms.get("result_form") or ResultForm(initial=seen),
        "review_form": forms.get("review_form") or ReviewForm(initial=seen),
        "communicate_form": forms.get("communicate_form") or CommunicateForm(initial=seen),
        "sent_form": forms.get("sent_form") or SentForm(),
        "reassign_form": forms.get("reassign_form")
        or ReassignForm(initial={"responsible": order.responsible_id}),
        "cancel_form": forms.get("cancel_form") or CancelForm(),
        "replace_form": forms.get("replace_form") or ReplaceForm(),
        "can_cancel": order.status in TestOrder.PENDING_STATUSES,
        "replacements": list(order.replacements.all()),
        "book_url": _book_url(order),
        "can_log": order.status in (*TestOrder.OPEN_STATUSES, S.COMMUNICATED),
    }
    return render(request, "procedures/result_form.html", context)


def _timeline(order):
    items = [
        {"at": e.at, "what": _event_text(e), "by": e.by} for e in order.events.select_related("by")
    ]
    for esc in order.escalations.all():
        items.append(
            {
                "at": esc.created_at,
                "what": esc.get_level_display()
                + ("" if esc.notified_at else " " + _("(email not sent yet)")),
                "by": None,
            }
        )
    return sorted(items, key=lambda i: i["at"])


def _event_text(event) -> str:
    if event.kind == "status":
        label = S(event.to_status).label if event.to_status else ""
        return f"{label}" + (f": {event.note}" if event.note else "")
    if event.kind == "reassigned":
        return _("Reassigned") + f": {event.note}"
    if event.kind == "replaces":
        return event.note
    return event.kind


def _book_url(order: TestOrder) -> str:
    """The booking page with the patient (by id only), the results-discussion type, the
    order's physician and a date after the last expected result already chosen."""
    appointment = order.appointment
    params: dict[str, str | int] = {
        "patient": appointment.patient_id,
        "date": discussion_date_for(appointment).isoformat(),
    }
    discussion = (
        ProcedureType.objects.filter(kind=ProcedureKind.RESULTS_DISCUSSION, is_active=True)
        .order_by("pk")
        .first()
    )
    if discussion:
        params["type"] = discussion.code
    provider_id = order.responsible_id or appointment.provider_id
    if provider_id:
        params["provider"] = provider_id
    return reverse("procedures:appointment_book") + "?" + urlencode(params)


def _get_order(pk: int) -> TestOrder:
    return get_object_or_404(
        TestOrder.objects.select_related(
            "test_type", "appointment__patient", "appointment__procedure_type", "responsible"
        ),
        pk=pk,
    )


@policy.allowed("result_log")
@require_http_methods(["GET", "POST"])
@care_gated(patient_of_order)
def result_log_view(request, pk: int):
    """The order page: details, timeline, versions; physicians log results here."""
    order = _get_order(pk)
    form = None
    if request.method == "POST":
        if not policy.may(request.user, "result_enter"):
            raise PermissionDenied
        form = ResultForm(request.POST, request.FILES)
        if form.is_valid():
            data = dict(form.cleaned_data)
            seen = data.pop("seen_result")
            try:
                result_log(order_id=order.pk, by=request.user, seen_result_id=seen, **data)
            except ValidationError as exc:
                apply_service_errors(form, exc)
                # The page now shows the newer result: what was typed stays, and a
                # deliberate second submission after reading it is an amendment.
                _now_seen(request, form, order)
            else:
                messages.success(request, _("Result logged."))
                # Land on the result just logged (the order page), not the list.
                return redirect("procedures:result_log", pk=order.pk)
    return _order_page(request, order, result_form=form)


def _now_seen(request, form, order) -> None:
    """After a refusal the page shows every result as it now stands: what was typed
    stays, and the form now names the latest result, which the person reads there."""
    posted = request.POST.copy()
    posted["seen_result"] = str(_latest_result_id(order))
    form.data = posted


def _action(request, pk, form_class, form_key, service, success, **extra):
    order = _get_order(pk)
    form = form_class(request.POST)
    if form.is_valid():
        data = dict(form.cleaned_data)
        if "seen_result" in data:
            extra["seen_result_id"] = data.pop("seen_result")
        try:
            service(order_id=order.pk, by=request.user, **data, **extra)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            if "seen_result_id" in extra:
                _now_seen(request, form, order)
        else:
            messages.success(request, success)
            return redirect("procedures:result_log", pk=order.pk)
    elif "seen_result" in form.fields and not request.POST.get("seen_result"):
        _now_seen(request, form, order)  # said which result to read: it is on the page now
    return _order_page(request, order, **{form_key: form})


@policy.allowed("result_review")
@require_POST
@care_gated(patient_of_order)
def result_review_view(request, pk: int):
    order = _get_order(pk)
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            data = dict(form.cleaned_data)
            seen = data.pop("seen_result")
            result_review(order_id=order.pk, by=request.user, seen_result_id=seen, **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
            _now_seen(request, form, order)
        else:
            call = results_call_open(order)
            if call is not None:
                messages.success(
                    request,
                    _(
                        "Result reviewed. The call to the patient is %(who)s's: it is under "
                        "“Calls to make” on the results worklist, and closes when you record "
                        "that the patient was told."
                    )
                    % {"who": call.physician or _("the physician")},
                )
            else:
                messages.success(
                    request, _("Result reviewed. The patient gets the “results ready” email.")
                )
            return redirect("procedures:result_log", pk=order.pk)
    elif not request.POST.get("seen_result"):
        _now_seen(request, form, order)  # said which result to read: it is on the page now
    return _order_page(request, order, review_form=form)


@policy.allowed("result_communicate")
@require_POST
@care_gated(patient_of_order)
def result_communicate_view(request, pk: int):
    return _action(
        request,
        pk,
        CommunicateForm,
        "communicate_form",
        result_communicate,
        _("Recorded that the patient was told."),
    )


@policy.allowed("order_sent")
@require_POST
@care_gated(patient_of_order)
def order_sent_view(request, pk: int):
    return _action(request, pk, SentForm, "sent_form", order_sent, _("Sample marked sent to lab."))


@policy.allowed("order_reassign")
@require_POST
@care_gated(patient_of_order)
def order_reassign_view(request, pk: int):
    return _action(
        request, pk, ReassignForm, "reassign_form", order_reassign, _("Order reassigned.")
    )


@policy.allowed("order_cancel")
@require_POST
@care_gated(patient_of_order)
def order_cancel_view(request, pk: int):
    """Cancel a test that will not be run (sample lost, clotted...), with the reason."""
    return _action(request, pk, CancelForm, "cancel_form", order_cancel, _("Test order cancelled."))


@policy.allowed("order_replace")
@require_POST
@care_gated(patient_of_order)
def order_replace_view(request, pk: int):
    """Cancel a test and open its replacement; on to the replacement's page."""
    order = _get_order(pk)
    form = ReplaceForm(request.POST)
    if form.is_valid():
        try:
            replacement = order_replace(order_id=order.pk, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Order replaced. The front desk will book the patient for a new sample.")
                if form.cleaned_data["recollect"]
                else _("Order replaced: the lab runs the test again."),
            )
            return redirect("procedures:result_log", pk=replacement.pk)
    return _order_page(request, order, replace_form=form)


@policy.allowed("physicians_without_email")
@require_GET
def physicians_without_email(request):
    """Physicians whom an escalation cannot reach: no login, or no address on it."""
    providers = (
        Provider.objects.filter(is_active=True)
        .filter(Q(user__isnull=True) | Q(user__email=""))
        .select_related("user")
        .order_by("display_name")
    )
    return render(
        request, "procedures/physicians_without_email.html", {"providers": list(providers)}
    )


@policy.allowed("result_pdf")
@require_GET
@care_gated(patient_of_result)
def result_pdf(request, pk: int):
    """The lab's PDF, to physicians and nurses only, each read recorded."""
    result = get_object_or_404(TestResult.objects.select_related("order"), pk=pk)
    if not result.report_pdf:
        raise Http404
    patient_id = patient_of_result(result.pk)
    basis = read_basis(request, patient_id) if patient_id is not None else ""
    record_read(request, result, basis=basis)
    response = FileResponse(
        result.report_pdf.open("rb"), content_type="application/pdf", as_attachment=False
    )
    response["Content-Disposition"] = f'inline; filename="result-{result.pk}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@policy.allowed("procedure_complete")
@require_http_methods(["GET", "POST"])
@care_gated(patient_of_appointment)
def procedure_complete_view(request, pk: int):
    """After "Mark procedure completed": tick the tests, record the specimen, complete."""
    appointment = get_object_or_404(
        Appointment.objects.select_related("patient", "procedure_type", "provider"), pk=pk
    )
    refusal = appointment.lifecycle_refusal("complete", now=timezone.now())
    if refusal is not None:
        messages.error(request, refusal)
        return redirect(appointment)
    record_read(request, appointment)
    form = SampleForm(request.POST or None, appointment=appointment)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sample = Sample(
            test_types=list(data["test_types"]),
            collected_at=data["collected_at"] or timezone.now(),
            specimen_site=data["specimen_site"],
            specimen_side=data["specimen_side"],
            site_confirmed=data["site_confirmed"],
            site_reason=data["site_reason"].strip(),
            sent_at=data["sent_at"],
            accession_number=data["accession_number"],
            no_sample_reason=data["no_sample_reason"],
            no_sample_note=data["no_sample_note"].strip(),
        )
        try:
            procedure_complete(appointment_id=appointment.pk, sample=sample, by=request.user)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("Procedure completed. Its test orders are on the results list.")
                if sample.test_types
                else _("Visit completed without a sample."),
            )
            return redirect(appointment)
    return render(
        request, "procedures/procedure_complete.html", {"appointment": appointment, "form": form}
    )
