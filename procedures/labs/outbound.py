"""Orders out: an outbox row per order message, written in the transaction that
marks the sample sent; a beat task claims due rows (select_for_update with
skip_locked, a lease), sends each over MLLP or FHIR, and records the lab's
answer. The same discipline as the patient emails (procedures/services/reminders.py).

Retries keep the row's control id, so a lab that took a message whose ACK was
lost sees the same MSH-10 / Bundle.identifier again and can drop it. A refusal
(AR, or HTTP 4xx) is not retried: the row is `failed` and shown to staff.
"""

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.models import Heartbeat
from procedures.labs import fhir, hl7v2, mllp
from procedures.labs.hl7v2 import OrderFacts, Refusal
from procedures.labs.models import Lab, LabOrderMessage, LabTestCode
from procedures.results.models import TestOrder

log = logging.getLogger(__name__)
S = LabOrderMessage.Status
LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
TIMEOUT = 10


def lab_order_queue(*, order: TestOrder) -> LabOrderMessage | None:
    """Write the order's message to its lab, if the test goes to a lab we talk to.
    Called inside the transaction that marks the sample sent; idempotent."""
    code = LabTestCode.objects.select_related("lab").filter(test_type_id=order.test_type_id).first()
    if code is None or not code.lab.is_active:
        return None
    message, _created = LabOrderMessage.objects.get_or_create(
        order=order,
        lab=code.lab,
        defaults={"control_id": f"O{order.pk}-{timezone.now():%y%m%d%H%M%S}"},
    )
    transaction.on_commit(_wake)
    return message


def _wake() -> None:
    from procedures.labs.tasks import dispatch_lab_orders

    try:
        dispatch_lab_orders.apply_async(retry=False)
    except Exception as exc:  # the beat runs the dispatcher within a minute anyway
        log.warning("could not wake the lab order dispatcher: %s", exc.__class__.__name__)


def facts_for(message: LabOrderMessage) -> OrderFacts:
    order = TestOrder.objects.select_related(
        "appointment__patient", "test_type__lab_code", "responsible"
    ).get(pk=message.order_id)
    patient = order.appointment.patient
    code = order.test_type.lab_code
    sex = {"female": "F", "male": "M"}.get(patient.sex, "U")
    return OrderFacts(
        control_id=message.control_id,
        placer_number=str(order.pk),
        test_code=code.code,
        test_name=order.test_type.name,
        loinc=code.loinc,
        mrn=patient.mrn,
        family_name=patient.family_name,
        given_name=patient.given_name,
        dob=patient.date_of_birth,
        sex=sex,
        collected_at=order.collected_at,
        specimen_site=order.get_specimen_site_display() if order.specimen_site else "",
        specimen_side=order.get_specimen_side_display() if order.specimen_side else "",
        accession=order.accession_number,
        ordering_provider=order.responsible.display_name if order.responsible else "",
        lab_application=message.lab.sending_application,
        lab_facility=message.lab.sending_facility,
    )


def render(message: LabOrderMessage) -> str:
    facts = facts_for(message)
    protocol = message.lab.protocol
    if protocol == Lab.Protocol.FHIR:
        return fhir.order_bundle(facts)
    return hl7v2.order_message(facts, structure="OML" if protocol == Lab.Protocol.OML else "ORM")


# --- Dispatch ------------------------------------------------------------------------


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


def lab_orders_claim(*, now: datetime, limit: int = 50) -> list[int]:
    """Claim due rows: `sending` with a lease, in one short transaction; rows another
    dispatcher holds are skipped, not waited for."""
    with transaction.atomic():
        ids = list(
            LabOrderMessage.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        LabOrderMessage.objects.filter(pk__in=ids).update(
            status=S.SENDING, lease_until=now + LEASE, attempts=F("attempts") + 1
        )
    return ids


def lab_orders_sweep(*, now: datetime | None = None) -> int:
    """Hand back rows whose lease ran out (their worker died mid-send)."""
    now = now or timezone.now()
    return LabOrderMessage.objects.filter(status=S.SENDING, lease_until__lt=now).update(
        status=S.PENDING, lease_until=None
    )


def lab_orders_dispatch() -> DispatchReport:
    """Send every due order message once; record each lab's answer."""
    report = DispatchReport()
    ids = lab_orders_claim(now=timezone.now())
    report.claimed = len(ids)
    for message in LabOrderMessage.objects.select_related("lab").filter(pk__in=ids):
        _send_one(message, report)
    Heartbeat.beat("lab_orders_dispatch")
    return report


def _finish(message: LabOrderMessage, **changes: Any) -> bool:
    """Write the outcome only while the row is still ours (status and lease)."""
    changes.setdefault("lease_until", None)
    return bool(
        LabOrderMessage.objects.filter(
            pk=message.pk, status=S.SENDING, lease_until=message.lease_until
        ).update(**changes)
    )


def _send_one(message: LabOrderMessage, report: DispatchReport) -> None:
    if message.order.status == TestOrder.Status.CANCELLED:
        _finish(message, status=S.CANCELLED, last_error=_("order cancelled before sending"))
        return
    try:
        payload = message.payload or render(message)
    except (Refusal, ValidationError, LabTestCode.DoesNotExist) as exc:
        _fail(message, str(exc), report, permanent=True)
        return
    if not message.payload:
        LabOrderMessage.objects.filter(pk=message.pk).update(payload=payload)
    try:
        code, text = _transmit(message.lab, payload)
    except (OSError, TimeoutError, Refusal, urllib.error.URLError) as exc:
        _fail(message, f"{exc.__class__.__name__}: {exc}", report, permanent=False)
        return
    if code in ("AA", "CA", "200", "201"):
        _finish(message, status=S.SENT, ack_code=code, ack_text=text[:300], sent_at=timezone.now())
        report.sent += 1
    elif code in ("AE", "CE") or code.startswith("5"):
        _fail(message, f"{code} {text}", report, permanent=False, ack_code=code)
    else:
        _fail(message, f"{code} {text}", report, permanent=True, ack_code=code)


def _fail(
    message: LabOrderMessage,
    error: str,
    report: DispatchReport,
    *,
    permanent: bool,
    ack_code: str = "",
) -> None:
    give_up = permanent or message.attempts >= MAX_ATTEMPTS
    delay = timedelta(seconds=min(60 * 2 ** max(message.attempts - 1, 0), 3600))
    _finish(
        message,
        status=S.FAILED if give_up else S.PENDING,
        last_error=error[:300],
        ack_code=ack_code,
        next_attempt_at=timezone.now() + delay,
    )
    if give_up:
        report.failed += 1
        log.warning("lab order message %s failed: %s", message.pk, error[:100])
    else:
        report.retried += 1


def _transmit(lab: Lab, payload: str) -> tuple[str, str]:
    """Send one message; (answer code, text): MSA-1/MSA-3, or the HTTP status."""
    if lab.protocol == Lab.Protocol.FHIR:
        request = urllib.request.Request(  # noqa: S310 (the lab's configured https/http URL)
            lab.base_url.rstrip("/") + "/",
            data=payload.encode(),
            method="POST",
            headers={
                "Content-Type": "application/fhir+json",
                "Accept": "application/fhir+json",
                **({"Authorization": f"Bearer {lab.outbound_token}"} if lab.outbound_token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                return str(response.status), response.reason or ""
        except urllib.error.HTTPError as exc:
            return str(exc.code), exc.reason or ""
    if lab.port is None:  # the model's check constraint: an HL7 v2 lab has a port
        raise Refusal("the lab has no MLLP port")
    [reply] = mllp.exchange(lab.host, lab.port, [payload.encode("utf-8")], timeout=TIMEOUT)
    return hl7v2.read_ack(reply)


# --- Staff -----------------------------------------------------------------------------


def lab_order_retry(*, message_id: int, by: User) -> LabOrderMessage:
    """Staff send a failed order message again (after fixing the lab's settings)."""
    with transaction.atomic():
        message = LabOrderMessage.objects.select_for_update().get(pk=message_id)
        if message.status != S.FAILED:
            raise ValidationError(_("Only a failed message can be sent again."))
        message.status, message.next_attempt_at = S.PENDING, timezone.now()
        message.attempts, message.payload, message.resolved_by = 0, "", by
        message.save(
            update_fields=["status", "next_attempt_at", "attempts", "payload", "resolved_by"]
        )
        transaction.on_commit(_wake)
    return message


def lab_order_resolve(*, message_id: int, by: User) -> LabOrderMessage:
    """Staff handled a failed message another way (phoned, paper requisition)."""
    with transaction.atomic():
        message = LabOrderMessage.objects.select_for_update().get(pk=message_id)
        if message.status != S.FAILED:
            raise ValidationError(_("Only a failed message can be marked handled."))
        message.status, message.resolved_by = S.CANCELLED, by
        message.last_error = (_("handled by staff") + f": {message.last_error}")[:300]
        message.save(update_fields=["status", "resolved_by", "last_error"])
    return message
