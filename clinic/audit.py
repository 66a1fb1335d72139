"""Audit of reads. Writes are recorded by django-auditlog on the models themselves.

A read names the record by type and id, never its data. A page about one record
calls `record_read`; a page that lists patients (a search, a board, a calendar,
a queue) calls `record_list_read` once with the patients it shows: one row for the
page, naming every patient shown by id, in one INSERT (docs/security.md, "Reads of
lists"). `ReadAccess.objects.of_record(type, id)` finds both kinds.
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .client_ip import client_ip
from .models import ReadAccess

PATIENT = "patients.patient"


def _row(
    request: HttpRequest,
    object_type: str,
    *,
    object_id: str = "",
    object_ids: list[str] | None = None,
    basis: str = "",
) -> ReadAccess:
    if not request.user.is_authenticated:  # LoginRequiredMiddleware: never on a page
        raise PermissionDenied
    return ReadAccess(
        user_id=request.user.pk,
        object_type=object_type,
        object_id=object_id,
        object_ids=object_ids or [],
        basis=basis,
        view_name=getattr(request.resolver_match, "view_name", "") or "",
        ip_address=client_ip(request),
    )


def record_read(request: HttpRequest, obj, *, basis: str = "") -> None:
    """Record that the current user saw `obj` (its type and id only); `basis` says
    why when it is not plainly theirs (e.g. "cover")."""
    row = _row(request, obj._meta.label_lower, object_id=str(obj.pk), basis=basis)
    ReadAccess.objects.bulk_create([row])


def record_reads(request: HttpRequest, object_type: str, ids: Iterable) -> int:
    """Record one read of a page showing these records of one type (by id): one row
    naming them all, in one INSERT; nothing for a page that shows none. Returns the
    count."""
    unique = sorted({str(i) for i in ids if i is not None})
    if unique:
        ReadAccess.objects.bulk_create([_row(request, object_type, object_ids=unique)])
    return len(unique)


def record_list_read(request: HttpRequest, patient_ids: Iterable) -> int:
    """A page listed these patients (by id): a search, a board, a calendar, a queue."""
    return record_reads(request, PATIENT, patient_ids)
