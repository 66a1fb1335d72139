"""The audit page (clinic admins only): writes, reads and emergency accesses.

Read-only by construction: these views only list and export. The rows show who,
what (type and id), when and from where, and for changes the names of the fields
that changed, never their values (those are patient data).
"""

import csv
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from auditlog.models import LogEntry
from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from . import roles
from .bounds import BoundedDateField
from .client_ip import client_ip
from .models import EmergencyAccess, ReadAccess

PAGE_SIZE = 50
RANGE_CODES = ("min_value", "max_value")
KINDS = {
    "changes": gettext_lazy("Changes"),
    "reads": gettext_lazy("Reads"),
    "emergency": gettext_lazy("Emergency access"),
}
ACTIONS = {
    LogEntry.Action.CREATE: gettext_lazy("created"),
    LogEntry.Action.UPDATE: gettext_lazy("changed"),
    LogEntry.Action.DELETE: gettext_lazy("deleted"),
    LogEntry.Action.ACCESS: gettext_lazy("accessed"),
}


class AuditFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Show"), choices=list(KINDS.items()), required=False
    )
    user = forms.CharField(label=gettext_lazy("Username"), max_length=150, required=False)
    object_type = forms.CharField(
        label=gettext_lazy("Record type"),
        max_length=64,
        required=False,
        help_text=gettext_lazy('For example "patients.patient" or "procedures.testresult".'),
    )
    object_id = forms.CharField(label=gettext_lazy("Record id"), max_length=64, required=False)
    date_from = BoundedDateField(
        label=gettext_lazy("From (date)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = BoundedDateField(
        label=gettext_lazy("To (date, inclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", _("The end date is before the start date."))
        for name in ("user", "object_type", "object_id"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, _("Remove the control characters."))
        if data.get("object_id") and not data.get("object_type"):
            # An id alone names a record of every type (and cannot use the audit's
            # index: 0.4-0.9 s at 2 million reads).
            self.add_error(
                "object_type",
                _('Give the record type with a record id, for example "patients.patient".'),
            )
        return data


def _day_start(day):
    """Midnight of a clinic date, as an aware datetime (TIME_ZONE is the clinic's)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def filtered(kind: str, data: dict) -> QuerySet:
    """The rows of `kind` matching the filter form's cleaned data, newest first."""
    if kind == "changes":
        rows = LogEntry.objects.select_related("actor", "content_type").order_by("-timestamp")
        user_field, at_field = "actor__username", "timestamp"
        if data.get("object_type"):
            app_label, _dot, model = data["object_type"].lower().partition(".")
            rows = rows.filter(content_type__app_label=app_label, content_type__model=model)
        if data.get("object_id"):
            rows = rows.filter(object_pk=data["object_id"])
    else:
        if kind == "reads":
            reads = ReadAccess.objects.select_related("user").order_by("-at")
            if data.get("object_id"):
                # The record's own pages and every list that showed it.
                reads = reads.naming(data["object_id"])
            rows = reads
        else:
            rows = EmergencyAccess.objects.select_related("user").order_by("-at")
            if data.get("object_id"):
                rows = rows.filter(object_id=data["object_id"])
        user_field, at_field = "user__username", "at"
        if data.get("object_type"):
            rows = rows.filter(object_type=data["object_type"].lower())
    if data.get("user"):
        rows = rows.filter(**{user_field: data["user"]})
    if data.get("date_from"):
        rows = rows.filter(**{f"{at_field}__gte": _day_start(data["date_from"])})
    if data.get("date_to"):
        rows = rows.filter(**{f"{at_field}__lt": _day_start(data["date_to"] + timedelta(days=1))})
    return rows


def changed_fields(entry: LogEntry) -> str:
    """The names of the fields a change touched, never their values. For the roles
    of a staff account (auth.user's groups), which roles were added or removed:
    role names are not patient data, and they are what an auditor looks for."""
    changes = entry.changes if isinstance(entry.changes, dict) else {}
    parts = []
    for name in sorted(changes):
        change = changes[name]
        if (
            entry.content_type.app_label == "auth"
            and isinstance(change, dict)
            and change.get("type") == "m2m"
        ):
            operation = ACTIONS_M2M.get(str(change.get("operation")), change.get("operation"))
            # Roles by their labels ("Clinic admin"), as the user form shows them.
            objects = ", ".join(roles.role_label(str(o)) for o in change.get("objects", []))
            parts.append(f"{name} ({operation}: {objects})")
        else:
            parts.append(name)
    return ", ".join(parts)


ACTIONS_M2M = {
    "add": gettext_lazy("added"),
    "delete": gettext_lazy("removed"),
    "clear": gettext_lazy("cleared"),
}


def as_row(kind: str, entry) -> dict:
    """One audit row for the page and the CSV: never a value of patient data."""
    if kind == "changes":
        return {
            "at": entry.timestamp,
            "user": entry.actor.username if entry.actor_id else _("(system)"),
            "action": str(ACTIONS.get(entry.action, entry.action)),
            "object_type": f"{entry.content_type.app_label}.{entry.content_type.model}",
            "object_id": entry.object_pk,
            "detail": changed_fields(entry),
            "ip_address": entry.remote_addr or "",
        }
    if kind == "reads":
        return {
            "at": entry.at,
            "user": entry.user.username,
            "action": _("read"),
            "object_type": entry.object_type,
            "object_id": entry.object_id,
            # A list's records (a page of a search, a board, a calendar), by id.
            "listed": entry.object_ids,
            "detail": entry.view_name,
            "ip_address": entry.ip_address or "",
        }
    return {
        "at": entry.at,
        "user": entry.user.username,
        "action": _("emergency access"),
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "detail": entry.reason,
        "ip_address": entry.ip_address or "",
    }


def _form_and_kind(request: HttpRequest) -> tuple[AuditFilterForm, str, dict]:
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    kind = data.get("kind") or "changes"
    return form, kind, data


@roles.role_required(roles.CLINIC_ADMIN)
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    form, kind, data = _form_and_kind(request)
    page = Paginator(filtered(kind, data), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [as_row(kind, entry) for entry in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "kind": kind,
        "kind_label": KINDS[kind],
        "page": page,
        "rows": rows,
        # A list's read shows the record filtered for (else the list's ids).
        "record_id": data.get("object_id", ""),
        "query": query.urlencode(),
    }
    # A date outside 1900-2100 is a bad address (400, with the form's message);
    # other mistakes in the filter are shown on the page as usual.
    out_of_range = form.is_bound and any(
        form.has_error(name, code) for name in ("date_from", "date_to") for code in RANGE_CODES
    )
    status = 400 if out_of_range else 200
    return render(request, "clinic/audit_list.html", context, status=status)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _read_records(row: dict, object_id: str | None) -> list[str]:
    """The record ids a row names: its own, or those of a list (only `object_id`
    when the filter names one)."""
    listed = row.get("listed")
    if not listed:
        return [row["object_id"]]
    if object_id:
        return [object_id] if object_id in listed else []
    return list(listed)


CSV_COLUMNS = ["at", "user", "action", "object_type", "object_id", "detail", "ip_address"]


@roles.role_required(roles.CLINIC_ADMIN)
@require_GET
def audit_export(request: HttpRequest) -> HttpResponseBase:
    """The filtered rows as CSV, streamed (an audit can be long)."""
    form, kind, data = _form_and_kind(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            _("Fix the filter first: %(errors)s") % {"errors": form.errors.as_text()},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    # The export itself is recorded: who took a copy of which part of the audit.
    if not request.user.is_authenticated:  # LoginRequiredMiddleware: never on a page
        raise PermissionDenied
    ReadAccess.objects.create(
        user=request.user,
        object_type="clinic.audit_export",
        object_id=kind,
        view_name="audit_export",
        ip_address=client_ip(request),
    )
    rows = filtered(kind, data)
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_COLUMNS)
        for entry in rows.iterator(chunk_size=1000):
            row = as_row(kind, entry)
            row["at"] = timezone.localtime(row["at"]).isoformat()
            # A line per record read, as for a record's own page: a list's read is a
            # line per record it showed (the one filtered for, with a record id).
            for object_id in _read_records(row, data.get("object_id")):
                row["object_id"] = object_id
                yield writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{kind}-{stamp}.csv"'
    return response
