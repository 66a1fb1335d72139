"""Staff deal with results that could not be attached: match one to an order
they checked, or reject it with a reason (the unmatched results worklist)."""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.labs import fhir, hl7v2
from procedures.labs.hl7v2 import Inbound
from procedures.labs.inbound import matched, report_apply
from procedures.labs.models import LabInboundMessage, LabResultData
from procedures.results.models import TestOrder

M = LabInboundMessage.MatchStatus


def unmatched_attach(*, message_id: int, order_id: int, by: User) -> LabInboundMessage:
    """Staff attach a parked message to an order they checked themselves."""
    with transaction.atomic():
        row = LabInboundMessage.objects.select_for_update().get(pk=message_id)
        if row.match_status != M.OPEN:
            raise ValidationError(_("This message was already dealt with."))
        inbound = reread(row)
        if len(inbound.reports) != 1:
            raise ValidationError(
                _("This message reports several orders; ask the lab to resend them one by one.")
            )
        order = TestOrder.objects.filter(pk=order_id).first()
        if order is None:
            raise ValidationError({"order": _("There is no order with that number.")})
        source = (
            LabResultData.Source.FHIR
            if row.transport == LabInboundMessage.Transport.FHIR
            else LabResultData.Source.HL7
        )
        order, result = report_apply(order=matched(order), report=inbound.reports[0], source=source)
        row.order, row.result = order, result
        row.match_status, row.resolved_by, row.resolved_at = M.MATCHED, by, timezone.now()
        row.resolution_note = _("attached to order %(n)s by staff") % {"n": order.pk}
        row.save()
    return row


def unmatched_reject(*, message_id: int, reason: str, by: User) -> LabInboundMessage:
    """Staff set a parked message aside, saying why (e.g. sent to the wrong clinic)."""
    if not reason.strip():
        raise ValidationError({"reason": _("Say why the result is rejected.")})
    with transaction.atomic():
        row = LabInboundMessage.objects.select_for_update().get(pk=message_id)
        if row.match_status != M.OPEN:
            raise ValidationError(_("This message was already dealt with."))
        row.match_status, row.resolved_by, row.resolved_at = M.REJECTED, by, timezone.now()
        row.resolution_note = reason.strip()[:300]
        row.save()
    return row


def reread(row: LabInboundMessage) -> Inbound:
    """Read a kept message again (for staff matching)."""
    if row.transport == LabInboundMessage.Transport.FHIR:
        return fhir.bundle_read(row.raw.encode())
    return hl7v2.read_oru(hl7v2.parse(row.raw))
