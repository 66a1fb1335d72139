"""The staff outbox: every reminder row, filterable, with resend and resolve."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from clinic import policy
from clinic.audit import record_list_read
from clinic.http import local_path
from procedures.catalog.sites import at_site, current_site_id
from procedures.messaging.models import Reminder
from procedures.messaging.outbox import reminder_resend, reminder_resolve
from procedures.scheduling.calendars import choice_labels


class OutboxFilter(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"),
        required=False,
        choices=[
            ("", gettext_lazy("Any")),
            ("flagged", gettext_lazy("Failed, not resolved")),
            *Reminder.Status.choices,
        ],
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Email"),
        required=False,
        choices=[("", gettext_lazy("Any")), *Reminder.Kind.choices],
    )
    appointment = forms.IntegerField(
        label=gettext_lazy("Appointment no."), required=False, min_value=1
    )


LISTED_AT_MOST = 1000


@policy.allowed("outbox_list")
@require_GET
def outbox_list(request):
    """Reminder rows, newest due first, filtered by state, kind and appointment."""
    form = OutboxFilter(request.GET or None)
    site_id = current_site_id(request)  # the current site's visits' emails (issue 18)
    rows = at_site(Reminder.objects.select_related("appointment__patient"), site_id).order_by(
        "-due_at", "-pk"
    )
    if form.is_bound and form.is_valid():
        status, kind = form.cleaned_data["status"], form.cleaned_data["kind"]
        if status == "flagged":
            rows = rows.failed_unresolved()
        elif status:
            rows = rows.filter(status=status)
        if kind:
            rows = rows.filter(kind=kind)
        if form.cleaned_data["appointment"]:
            rows = rows.filter(appointment_id=form.cleaned_data["appointment"])
    # The newest LISTED_AT_MOST: a count of a network site's whole history of emails
    # (300,000) cost every page 0.3 s, and nobody pages through it; a filter finds older.
    page = Paginator(rows[:LISTED_AT_MOST], 50).get_page(request.GET.get("page"))
    record_list_read(request, [r.appointment.patient_id for r in page.object_list])
    # Each row's kind and state in words, looked up once for the page (Django's
    # get_FOO_display rebuilds the translated choices on every call: 50 rows of it were
    # a fifth of the page).
    kinds, states = choice_labels(Reminder.Kind), choice_labels(Reminder.Status)
    for reminder in page.object_list:
        reminder.kind_label = kinds.get(reminder.kind, reminder.kind)
        reminder.status_label = states.get(reminder.status, reminder.status)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "procedures/outbox_list.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "capped": page.paginator.count >= LISTED_AT_MOST,
            "listed_at_most": LISTED_AT_MOST,
            "flagged": at_site(Reminder.objects.failed_unresolved(), site_id).count(),
        },
    )


def _back(request):
    target = local_path(request, request.POST.get("next", ""))
    if target:
        return HttpResponseRedirect(target)
    return redirect("procedures:outbox_list")


@policy.allowed("reminder_resend")
@require_POST
def reminder_resend_view(request, pk: int):
    reminder = get_object_or_404(Reminder, pk=pk)
    if request.POST.get("confirm") != "1":
        # The button opens a question first (templates/procedures/outbox_list.html).
        messages.error(request, _("Confirm that the email should be sent again."))
        return _back(request)
    try:
        reminder_resend(reminder_id=reminder.pk, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The email will be sent again in a moment."))
    return _back(request)


@policy.allowed("reminder_resolve")
@require_POST
def reminder_resolve_view(request, pk: int):
    reminder = get_object_or_404(Reminder, pk=pk)
    try:
        reminder_resolve(reminder_id=reminder.pk, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Marked as dealt with."))
    return _back(request)
