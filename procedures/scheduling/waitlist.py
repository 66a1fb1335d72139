"""The waitlist: patients waiting for an earlier slot, offered slots that free up."""

from datetime import date, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, works_at
from procedures.catalog.sites import at_site
from procedures.scheduling.models import Appointment
from procedures.scheduling.waitlist_models import WaitlistEntry


def waitlist_add(
    *,
    patient: Patient,
    procedure_type: ProcedureType,
    provider: Provider | None = None,
    earliest: date | None = None,
    latest: date | None = None,
    note: str = "",
    by: User | None,
) -> WaitlistEntry:
    """Put a patient on the waitlist for a procedure (with one physician, or any)."""
    if WaitlistEntry.objects.waiting().filter(patient=patient, procedure_type=procedure_type):
        raise ValidationError(
            {"procedure_type": _("This patient is already waiting for this procedure.")}
        )
    try:
        with transaction.atomic():
            return WaitlistEntry.objects.create(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                earliest=earliest,
                latest=latest,
                note=note,
                created_by=by,
            )
    except IntegrityError as exc:  # two desks at once: the unique constraint decides
        raise ValidationError(
            {"procedure_type": _("This patient is already waiting for this procedure.")}
        ) from exc


def waitlist_remove(*, entry_id: int, by: User | None) -> WaitlistEntry:
    """Take a patient off the waitlist (no longer needed, booked elsewhere)."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().get(pk=entry_id)
        if entry.status != WaitlistEntry.Status.WAITING:
            raise ValidationError(_("This patient is no longer on the waitlist."))
        entry.status = WaitlistEntry.Status.REMOVED
        entry.save(update_fields=["status"])
    return entry


def waiting_at_site(site_id: int | None) -> QuerySet[WaitlistEntry]:
    """Who waits for site `site_id` (None: every site): for a physician who works there,
    or for any physician (issue 18)."""
    entries = WaitlistEntry.objects.waiting()
    if site_id is None:
        return entries
    there = Provider.objects.filter(works_at(site_id)).values("pk")
    return entries.filter(Q(provider__isnull=True) | Q(provider__in=there))


def freed_slots(
    *, limit: int = 10, site_id: int | None = None
) -> list[tuple[Appointment, list[WaitlistEntry]]]:
    """Future slots freed by a cancellation in the last 30 days (at site `site_id`), each
    with the waiting patients who match it. Slots already taken again are left out."""
    now = timezone.now()
    cancelled = (
        at_site(Appointment.objects.all(), site_id)
        .filter(
            status=Appointment.Status.CANCELLED,
            start_at__gt=now,
            updated_at__gte=now - timedelta(days=30),
        )
        .select_related("procedure_type", "provider", "room")
        .order_by("start_at")[:50]
    )
    found = []
    for slot in cancelled:
        taken = (
            Appointment.objects.active()
            .filter(provider=slot.provider_id, start_at__lt=slot.end_at, end_at__gt=slot.start_at)
            .exists()
        )
        if taken:
            continue
        matches = list(WaitlistEntry.objects.matching(slot)[:10])
        if matches:
            found.append((slot, matches))
        if len(found) >= limit:
            break
    return found


def waitlist_entry_for_offer(*, entry_id: int) -> WaitlistEntry:
    """The waiting entry, locked for this transaction, or ValidationError in words."""
    entry = (
        WaitlistEntry.objects.select_for_update()
        .select_related("patient", "procedure_type")
        .get(pk=entry_id)
    )
    if entry.status != WaitlistEntry.Status.WAITING:
        raise ValidationError(_("This patient is no longer on the waitlist."))
    return entry


def waitlist_entry_booked(*, entry: WaitlistEntry, appointment: Appointment) -> None:
    """Take a booked patient off the waitlist (inside the booking's transaction)."""
    entry.status = WaitlistEntry.Status.BOOKED
    entry.booked_appointment = appointment
    entry.save(update_fields=["status", "booked_appointment"])
