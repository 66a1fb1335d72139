"""Results in: one service takes a lab's message (HL7 v2 bytes or a FHIR bundle),
keeps it, matches it to an order, moves the order through the results services
and says what to answer (AA, AE or AR with the reason).

Every message that gets as far as naming its lab and control id is kept as a
row, unique per (lab, transport, control id): the same message twice is one
row, one result, and the first answer again. A message that cannot be attached
safely is kept open for staff (the unmatched worklist) and answered AE.
"""

import logging
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from clinic.bounds import query_id
from procedures.labs import hl7v2
from procedures.labs.hl7v2 import Inbound, Observation, Refusal, Report
from procedures.labs.kinds import SPECS, kind_for, kind_from_code, validate
from procedures.labs.models import Lab, LabInboundMessage, LabResultData, ResultKind
from procedures.results.models import TestOrder, TestResult
from procedures.results.orders import order_cancel, result_log

log = logging.getLogger(__name__)
INTERFACE_USERNAME = "lab-interface"
ABNORMAL_FLAGS = {"A", "AA", "H", "HH", "L", "LL", "<", ">", "HU", "LU"}
SIR = {"S", "I", "R"}
M = LabInboundMessage.MatchStatus


class Unattachable(Exception):
    """The message is sound but cannot be attached safely: park it for staff."""


@dataclass
class Answer:
    code: str  # AA, AE or AR
    text: str
    error_code: str = ""
    duplicate: bool = False
    row: LabInboundMessage | None = None


_interface_user: User | None = None


def lab_interface_user() -> User:
    """The user that results arriving from labs are logged by (no login); looked
    up once per process."""
    global _interface_user
    if _interface_user is not None:
        return _interface_user
    user, created = User.objects.get_or_create(
        username=INTERFACE_USERNAME,
        defaults={"first_name": "Lab", "last_name": "interface", "is_active": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    _interface_user = user
    return user


# --- HL7 v2 ----------------------------------------------------------------------------


def lab_message_receive(*, raw: bytes, peer: str = "") -> bytes:
    """Take one HL7 v2 message off the wire; return the ACK to send back (UTF-8)."""
    control_id = version = app = facility = ""
    try:
        text = hl7v2.decode(raw)
        message = hl7v2.parse(text)
        control_id, msg_type, version, app, facility = hl7v2.header(message)
        answer = _receive_hl7(message, text, msg_type, version, app, facility, peer)
    except Refusal as refusal:
        answer = Answer("AR", refusal.reason, refusal.code)
        answer.row = _keep_refused(raw, control_id, peer, answer)
    reply = hl7v2.ack(
        control_id=control_id,
        version=version,
        code=answer.code,
        text=answer.text,
        error_code=answer.error_code,
        to_application=app,
        to_facility=facility,
        ack_control_id=f"A{answer.row.pk}" if answer.row else f"A{timezone.now():%Y%m%d%H%M%S%f}",
    )
    return reply.encode("utf-8")


def _keep_refused(raw: bytes, control_id: str, peer: str, answer: Answer) -> LabInboundMessage:
    # Kept without a lab (so outside the unique rule): refused messages are not
    # lost either, only never attached. The text is the bytes as Latin-1.
    row = LabInboundMessage.objects.create(
        transport=LabInboundMessage.Transport.MLLP,
        control_id=control_id[:64],
        raw=raw.decode("latin-1").replace("\x00", ""),
        peer=peer,
        ack_code=answer.code,
        ack_text=answer.text[:300],
        match_status=M.REFUSED,
        reason=answer.text[:300],
    )
    log.warning("HL7 message refused: %s", answer.text)
    return row


def _receive_hl7(
    message: hl7v2.Message,
    text: str,
    msg_type: str,
    version: str,
    app: str,
    facility: str,
    peer: str,
) -> Answer:
    lab = _lab_for(app, facility)
    if msg_type != "ORU^R01":
        raise Refusal(f"message type {msg_type or '(none)'} is not accepted here", code="200")
    if version not in hl7v2.SUPPORTED_VERSIONS:
        raise Refusal(f"HL7 version {version or '(none)'} is not supported", code="203")
    inbound = hl7v2.read_oru(message)
    if not inbound.control_id:
        raise Refusal("MSH-10 (message control id) is empty", code="101")
    if not inbound.reports:
        raise Refusal("the message has no OBR segment", code="100")
    return message_take(
        lab=lab,
        transport=LabInboundMessage.Transport.MLLP,
        inbound=inbound,
        raw=text,
        peer=peer,
        source=LabResultData.Source.HL7,
    )


# The listener looks a sender up on every message; labs change rarely, so the
# answer is kept this long. A change saved in this process (a test, a shell)
# empties the cache at once; one saved by another process (the web app, lab_setup)
# reaches the listener within this time: a deactivated lab is refused by then.
LAB_CACHE_SECONDS = 30
_labs: dict[tuple[str, str], tuple[float, Lab | None]] = {}


@receiver(post_save, sender=Lab, dispatch_uid="labs-inbound-cache-save")
@receiver(post_delete, sender=Lab, dispatch_uid="labs-inbound-cache-delete")
def _forget_labs(**kwargs: Any) -> None:
    _labs.clear()


def _lab_for(app: str, facility: str) -> Lab:
    now = time.monotonic()
    cached = _labs.get((app, facility))
    if cached and now - cached[0] < LAB_CACHE_SECONDS:
        lab = cached[1]
    else:
        labs = Lab.objects.filter(sending_application=app, is_active=True).order_by(
            "-sending_facility"
        )
        lab = next((x for x in labs if x.sending_facility in (facility, "")), None)
        _labs[(app, facility)] = (now, lab)
    if lab is None:
        raise Refusal(f"sender {app}/{facility} is not a lab we know", code="204")
    return lab


# --- Shared by HL7 v2 and FHIR ------------------------------------------------------------


def message_take(
    *, lab: Lab, transport: str, inbound: Inbound, raw: str, peer: str, source: str
) -> Answer:
    """Keep the message once, attach it or park it, and say what to answer.

    The row is written last, in the transaction that attached the result: its
    unique (lab, transport, control id) is what makes a second copy one result.
    A copy that arrives later fails that insert, its whole transaction (result
    included) rolls back, and the first answer is given again. No look-up first:
    duplicates are rare, and the constraint is the guarantee either way.
    """
    first = inbound.reports[0]
    facts: dict[str, Any] = {
        "lab": lab,
        "transport": transport,
        "control_id": inbound.control_id[:64],
        "message_type": inbound.message_type[:40],
        "raw": raw,
        "peer": peer[:64],
        "placer_number": first.placer_number[:40],
        "filler_number": first.filler_number[:40],
        "patient_mrn": (inbound.mrns[0] if inbound.mrns else "")[:40],
        "patient_name": ", ".join(filter(None, (inbound.family_name, inbound.given_name)))[:200],
        "patient_dob": inbound.dob,
        "result_status": first.status[:1],
    }
    try:
        try:
            with transaction.atomic():
                for report in inbound.reports:
                    order, result = _attach(lab=lab, inbound=inbound, report=report, source=source)
                text = _("result attached to the order")
                row = LabInboundMessage.objects.create(
                    **facts,
                    order=order,
                    result=result,
                    ack_code="AA",
                    ack_text=text,
                    match_status=M.ATTACHED,
                )
                return Answer("AA", text, row=row)
        except (Unattachable, ValidationError) as exc:
            reason = _reason(exc)
            text = (_("held for staff: %(why)s") % {"why": reason})[:300]
            row = LabInboundMessage.objects.create(
                **facts, ack_code="AE", ack_text=text, match_status=M.OPEN, reason=reason[:300]
            )
            return Answer("AE", text, "207", row=row)
    except IntegrityError:
        existing = _existing(lab, transport, inbound.control_id)
        if existing:
            return existing
        _labs.clear()  # not a copy: perhaps the lab itself is gone; look it up again
        raise


def _existing(lab: Lab, transport: str, control_id: str) -> Answer | None:
    row = LabInboundMessage.objects.filter(
        lab=lab, transport=transport, control_id=control_id[:64]
    ).first()
    if row is None:
        return None
    return Answer(row.ack_code, row.ack_text, duplicate=True, row=row)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def _fold(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.casefold() if ch.isalnum())


@dataclass
class Matched:
    """What attaching needs of the matched order (read in one light query)."""

    pk: int
    status: str
    accession_number: str
    kind: str


MATCH_FIELDS = (
    "pk",
    "status",
    "accession_number",
    "test_type__code",
    "test_type__lab_code__lab_id",
    "test_type__lab_code__kind",
    "appointment__patient__mrn",
    "appointment__patient__family_name",
    "appointment__patient__given_name",
    "appointment__patient__date_of_birth",
)


def order_match(*, lab: Lab, inbound: Inbound, report: Report) -> Matched:
    """The order a report answers, cross-checked against the patient; Unattachable
    with the reason when anything disagrees."""
    orders = TestOrder.objects.values(*MATCH_FIELDS)
    placer = report.placer_number.strip()
    filler = report.filler_number.strip()
    if placer:
        placer_id = query_id(placer)
        if placer_id is None:
            raise Unattachable(_("placer order number %(n)s is not one of ours") % {"n": placer})
        row = orders.filter(pk=placer_id).first()
        if row is None:
            raise Unattachable(_("no order with placer number %(n)s") % {"n": placer})
        if filler and row["accession_number"] and row["accession_number"] != filler:
            raise Unattachable(
                _("accession %(got)s does not match the order's %(ours)s")
                % {"got": filler, "ours": row["accession_number"]}
            )
    elif filler:
        found = list(orders.filter(accession_number=filler)[:2])
        if len(found) != 1:
            raise Unattachable(
                _("accession %(n)s matches %(c)s orders")
                % {"n": filler, "c": len(found) if found else _("no")}
            )
        row = found[0]
    else:
        raise Unattachable(_("no placer or filler order number"))
    lab_id = row["test_type__lab_code__lab_id"]
    if lab_id is not None and lab_id != lab.pk:
        raise Unattachable(_("the order was sent to another lab"))
    problems = []
    if row["appointment__patient__mrn"] not in inbound.mrns:
        problems.append(_("MRN"))
    family = row["appointment__patient__family_name"]
    if not inbound.family_name or _fold(inbound.family_name) != _fold(family):
        problems.append(_("family name"))
    given = row["appointment__patient__given_name"]
    if inbound.given_name and _fold(inbound.given_name)[:1] != _fold(given)[:1]:
        problems.append(_("given name"))
    if inbound.dob and inbound.dob != row["appointment__patient__date_of_birth"]:
        problems.append(_("date of birth"))
    if problems:
        raise Unattachable(
            _("order %(n)s is for another patient (%(what)s differ)")
            % {"n": row["pk"], "what": ", ".join(str(p) for p in problems)}
        )
    return Matched(
        pk=row["pk"],
        status=row["status"],
        accession_number=row["accession_number"],
        kind=row["test_type__lab_code__kind"] or kind_from_code(row["test_type__code"]),
    )


def matched(order: TestOrder) -> Matched:
    """The same facts for an order staff chose (the unmatched worklist)."""
    return Matched(
        pk=order.pk,
        status=order.status,
        accession_number=order.accession_number,
        kind=kind_for(order.test_type),
    )


def _attach(
    *, lab: Lab, inbound: Inbound, report: Report, source: str
) -> tuple[TestOrder, TestResult | None]:
    order = order_match(lab=lab, inbound=inbound, report=report)
    return report_apply(order=order, report=report, source=source)


def report_apply(
    *, order: Matched, report: Report, source: str
) -> tuple[TestOrder, TestResult | None]:
    """Move the order as the report says (preliminary, final, corrected, cancelled)
    and store its structured findings. Raises ValidationError when the order's
    state does not allow it (the caller parks the message)."""
    user = lab_interface_user()
    status = report.status or _status_from_observations(report)
    if status == "X":
        note = "; ".join(report.notes)[:200]
        cancelled = order_cancel(
            order_id=order.pk,
            reason=TestOrder.CancelReason.LAB_REJECTED,
            note=(_("Cancelled by the lab") + (f": {note}" if note else ""))[:300],
            by=user,
        )
        return cancelled, None
    if status not in ("P", "F", "C"):
        raise ValidationError(_("result status %(s)s is not P, F, C or X") % {"s": status})
    kind = order.kind
    data = validate(kind, data_from_observations(kind, report.observations))
    was_reviewed = order.status in (TestOrder.Status.REVIEWED,)
    result = result_log(
        order_id=order.pk,
        interpretation=_interpretation(report.observations),
        report_text=_report_text(report) or _("(no text in the lab's report)"),
        is_final=status in ("F", "C"),
        by=user,
    )
    LabResultData.objects.create(
        result=result, kind=kind, data=data, source=source, lab_status=status
    )
    if report.filler_number and not order.accession_number:
        TestOrder.objects.filter(pk=order.pk, accession_number="").update(
            accession_number=report.filler_number[:40]
        )
    if status == "C" or was_reviewed:
        _tell_owner(order.pk)
    return result.order, result


def _status_from_observations(report: Report) -> str:
    statuses = {o.status for o in report.observations if o.status}
    return "F" if statuses and statuses <= {"F", "C"} else "P"


def _interpretation(observations: list[Observation]) -> str:
    interp = TestResult.Interpretation
    explicit = next((o for o in observations if o.code == "INTERP"), None)
    if explicit and explicit.value.lower() in interp.values:
        return explicit.value.lower()
    flags = {o.flags for o in observations if o.flags}
    if flags & ABNORMAL_FLAGS:
        return interp.ABNORMAL
    if "N" in flags:
        return interp.NORMAL
    return interp.INCONCLUSIVE


def _value(o: Observation) -> str:
    if o.value_type in ("CE", "CWE", "CNE") and o.value_text:
        return o.value_text
    return "; ".join(o.values)


def data_from_observations(kind: str, observations: list[Observation]) -> dict[str, Any]:
    """Fill the kind's form fields from the observations whose codes it knows."""
    spec = SPECS[kind]
    data: dict[str, Any] = {}
    rows: dict[str, dict[str, str]] = {}
    for o in observations:
        name = spec.code_for(o.system, o.code) or spec.code_for(o.system, o.alt_code)
        if name is None and kind == ResultKind.CULTURE and o.flags in SIR:
            rows[f"s{len(rows)}"] = {"antibiotic": o.text or o.code, "interpretation": o.flags}
            continue
        if name is None:
            continue
        if name in spec.row_fields:
            rows.setdefault(o.sub_id or "1", {})[name] = _value(o)
        else:
            data[name] = _value(o)
    if rows:
        data[spec.rows_key] = list(rows.values())
    return data


def _report_text(report: Report) -> str:
    lines = []
    for o in report.observations:
        if o.code == "INTERP":
            continue
        label = o.text or o.code
        value = _value(o)
        if value:
            lines.append(f"{label}: {value}{(' ' + o.units) if o.units else ''}")
    lines += report.notes
    return "\n".join(lines)


def _tell_owner(order_id: int) -> None:
    def _send() -> None:
        from procedures.labs.tasks import notify_corrected_result

        try:
            notify_corrected_result.apply_async(args=[order_id], retry=False)
        except Exception as exc:  # the broker only wakes; the order's timeline has it
            log.warning("could not queue the corrected-result notice: %s", exc.__class__.__name__)

    transaction.on_commit(_send)
