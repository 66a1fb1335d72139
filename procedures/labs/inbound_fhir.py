"""Results in over FHIR R4: the lab's bearer token, then the same path as HL7 v2
(inbound.message_take). Kept apart so the MLLP listener never loads the FHIR models."""

from procedures.labs import fhir
from procedures.labs.hl7v2 import Refusal
from procedures.labs.inbound import Answer, M, message_take
from procedures.labs.models import Lab, LabInboundMessage, LabResultData


def lab_for_token(authorization: str) -> Lab | None:
    """The active lab whose bearer token this is, or None."""
    scheme, _sep, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return Lab.objects.filter(token_hash=Lab.hash_token(token.strip()), is_active=True).first()


HTTP_FOR = {"AA": 200, "AE": 202, "AR": 400}


def fhir_bundle_receive(*, lab: Lab, body: bytes, peer: str = "") -> tuple[int, dict]:
    """Take a result Bundle from an authenticated lab; (HTTP status, OperationOutcome)."""
    try:
        inbound = fhir.bundle_read(body)
        answer = message_take(
            lab=lab,
            transport=LabInboundMessage.Transport.FHIR,
            inbound=inbound,
            raw=body.decode("utf-8"),
            peer=peer,
            source=LabResultData.Source.FHIR,
        )
    except (Refusal, UnicodeDecodeError) as exc:
        reason = exc.reason if isinstance(exc, Refusal) else "body is not UTF-8"
        answer = Answer("AR", reason)
        LabInboundMessage.objects.create(
            transport=LabInboundMessage.Transport.FHIR,
            control_id="",
            raw=body.decode("utf-8", errors="replace")[:100_000],
            peer=peer[:64],
            ack_code="AR",
            ack_text=reason[:300],
            match_status=M.REFUSED,
            reason=reason[:300],
        )
    severity = {"AA": "information", "AE": "warning", "AR": "error"}[answer.code]
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": "informational" if answer.code == "AA" else "processing",
                "diagnostics": answer.text + (" (already received)" if answer.duplicate else ""),
            }
        ],
    }
    return HTTP_FOR[answer.code], outcome
