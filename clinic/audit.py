"""Audit of reads. Writes are recorded by django-auditlog on the models themselves.

A read names the record by type and id, never its data. A page about one record
calls `record_read`; a page that lists patients (a search, a board, a calendar,
a queue) calls `record_list_read` once with the patients it shows: one row per
patient, all written in one INSERT (docs/security.md, "Reads of lists").
"""

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .client_ip import client_ip
from .models import ReadAccess

PATIENT = "patients.patient"


def _rows(
    request: HttpRequest, object_type: str, ids: Iterable, *, basis: str = ""
) -> list[ReadAccess]:
    if not request.user.is_authenticated:  # LoginRequiredMiddleware: never on a page
        raise PermissionDenied
    view_name = getattr(request.resolver_match, "view_name", "") or ""
    address = client_ip(request)
    # The reader by id: a page of 250 patients would otherwise hand `request.user` (a
    # lazy object) to each row, which checks it through the descriptor, the database
    # router and the save's related-field checks once per row.
    user_id = request.user.pk
    return [
        ReadAccess(
            user_id=user_id,
            object_type=object_type,
            object_id=str(object_id),
            basis=basis,
            view_name=view_name,
            ip_address=address,
        )
        for object_id in ids
    ]


def record_read(request: HttpRequest, obj, *, basis: str = "") -> None:
    """Record that the current user saw `obj` (its type and id only); `basis` says
    why when it is not plainly theirs (e.g. "cover")."""
    ReadAccess.objects.bulk_create(_rows(request, obj._meta.label_lower, [obj.pk], basis=basis))


def record_reads(request: HttpRequest, object_type: str, ids: Iterable) -> int:
    """Record one read of a page showing these records of one type (by id): one row
    each, in one INSERT; nothing for a page that shows none. Returns the count."""
    unique = sorted({str(i) for i in ids if i is not None})
    if unique:
        ReadAccess.objects.bulk_create(_rows(request, object_type, unique))
    return len(unique)


def record_list_read(request: HttpRequest, patient_ids: Iterable) -> int:
    """A page listed these patients (by id): a search, a board, a calendar, a queue."""
    return record_reads(request, PATIENT, patient_ids)
