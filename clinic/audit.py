"""Audit of reads. Writes are recorded by django-auditlog on the models themselves."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .client_ip import client_ip
from .models import ReadAccess


def record_read(request: HttpRequest, obj, *, basis: str = "") -> None:
    """Record that the current user saw `obj` (its type and id only); `basis` says
    why when it is not plainly theirs (e.g. "cover")."""
    if not request.user.is_authenticated:  # LoginRequiredMiddleware: never on a page
        raise PermissionDenied
    ReadAccess.objects.create(
        basis=basis,
        user=request.user,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        view_name=getattr(request.resolver_match, "view_name", "") or "",
        ip_address=client_ip(request),
    )
