"""FHIR R4 with fhir.resources: read a result Bundle (DiagnosticReport with its
Observations) into the same shape as an ORU^R01, and write an order Bundle
(ServiceRequest + Specimen + Patient).

The models are fhir.resources' R4B package (FHIR 4.3): for these five resources
R4 and R4B are the same wire format, and fhir.resources 8 ships no plain R4.
"""

import json
import uuid
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation as FhirObservation
from fhir.resources.R4B.observation import ObservationComponent
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.specimen import Specimen
from pydantic import ValidationError as PydanticError

from procedures.labs.hl7v2 import Inbound, Observation, OrderFacts, Refusal, Report

LOINC_URI = "http://loinc.org"
LOCAL_URI = "urn:clinic:codes:99CLN"
PLACER_URI = "urn:clinic:placer-order"
MRN_URI = "urn:clinic:mrn"
# DiagnosticReport.status onto OBR-25.
STATUS = {
    "registered": "P",
    "partial": "P",
    "preliminary": "P",
    "final": "F",
    "amended": "C",
    "corrected": "C",
    "appended": "C",
    "cancelled": "X",
}


def validate(body: bytes) -> Bundle:
    """Parse and validate against the R4(B) models; Refusal says what is wrong."""
    try:
        return Bundle.model_validate_json(body)
    except PydanticError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise Refusal(f"not a valid FHIR Bundle: {where}: {first.get('msg', '')}"[:250]) from None
    except (KeyError, ValueError, TypeError) as exc:
        raise Refusal(f"not a valid FHIR Bundle ({exc.__class__.__name__})") from None


def _code(concept: CodeableConcept | None) -> tuple[str, str, str, str]:
    """(code, system, text, alternate code) of a CodeableConcept: LOINC first."""
    codings = list(concept.coding or []) if concept else []
    codings.sort(key=lambda c: 0 if c.system == LOINC_URI else 1)
    code = codings[0].code if codings else ""
    system = "LN" if codings and codings[0].system == LOINC_URI else "99CLN"
    alt = codings[1].code if len(codings) > 1 else ""
    text = (concept.text if concept else "") or (codings[0].display if codings else "") or ""
    return code or "", system, text, alt or ""


def _value(item: FhirObservation | ObservationComponent) -> tuple[list[str], str, str]:
    """(values, coded text, units) of an Observation or one of its components."""
    if item.valueString is not None:
        return [item.valueString], "", ""
    if item.valueQuantity is not None:
        q = item.valueQuantity
        return [format(q.value, "f") if q.value is not None else ""], "", q.unit or ""
    if item.valueInteger is not None:
        return [str(item.valueInteger)], "", ""
    if item.valueCodeableConcept is not None:
        code, _system, text, _alt = _code(item.valueCodeableConcept)
        return [code or text], text, ""
    if item.valueBoolean is not None:
        return ["Y" if item.valueBoolean else "N"], "", ""
    return [], "", ""


def _flags(item: FhirObservation | ObservationComponent) -> str:
    for concept in item.interpretation or []:
        for coding in concept.coding or []:
            if coding.code:
                return coding.code.upper()
    return ""


def bundle_read(body: bytes) -> Inbound:
    """What a result Bundle says, as the ORU reader would say it."""
    bundle = validate(body)
    if not bundle.identifier or not bundle.identifier.value:
        raise Refusal("Bundle.identifier.value (our message control id) is missing")
    by_ref: dict[str, Resource] = {}
    reports: list[DiagnosticReport] = []
    patients: list[Patient] = []
    for entry in bundle.entry or []:
        resource = entry.resource
        if resource is None:
            continue
        kind = resource.get_resource_type()
        if entry.fullUrl:
            by_ref[entry.fullUrl] = resource
        if resource.id:
            by_ref[f"{kind}/{resource.id}"] = resource
        if isinstance(resource, DiagnosticReport):
            reports.append(resource)
        elif isinstance(resource, Patient):
            patients.append(resource)
    if not reports:
        raise Refusal("the Bundle has no DiagnosticReport")
    inbound = Inbound(
        control_id=bundle.identifier.value,
        message_type="Bundle/DiagnosticReport",
        version="R4",
        sending_application="",
        sending_facility="",
    )
    patient = patients[0] if patients else None
    subject = reports[0].subject
    named = by_ref.get(subject.reference or "") if subject else None
    if isinstance(named, Patient):
        patient = named
    if patient is not None:
        inbound.mrns = [i.value for i in patient.identifier or [] if i.value]
        if patient.name:
            inbound.family_name = patient.name[0].family or ""
            inbound.given_name = (patient.name[0].given or [""])[0] or ""
        inbound.dob = patient.birthDate
    for dr in reports:
        inbound.reports.append(_report(dr, by_ref))
    return inbound


def _report(dr: DiagnosticReport, by_ref: dict[str, Resource]) -> Report:
    placer = ""
    for ref in dr.basedOn or []:
        request = by_ref.get(ref.reference or "")
        if ref.identifier and ref.identifier.value:
            placer = ref.identifier.value or ""
        elif isinstance(request, ServiceRequest):
            ids = [i for i in request.identifier or [] if i.value]
            placer = (
                next((i.value for i in ids if i.system == PLACER_URI), ids[0].value if ids else "")
                or ""
            )
    filler = next((i.value for i in dr.identifier or [] if i.value), "") or ""
    for ref in dr.specimen or []:
        specimen = by_ref.get(ref.reference or "")
        if isinstance(specimen, Specimen) and specimen.accessionIdentifier:
            filler = filler or specimen.accessionIdentifier.value or ""
    report = Report(
        placer_number=placer or "",
        filler_number=filler,
        test_code=_code(dr.code)[0],
        status=STATUS.get(dr.status or "", "?"),
    )
    for group, ref in enumerate(dr.result or [], start=1):
        obs = by_ref.get(ref.reference or "")
        if not isinstance(obs, FhirObservation):
            raise Refusal(
                f"DiagnosticReport.result {ref.reference} is not an Observation in the Bundle"
            )
        code, system, text, alt = _code(obs.code)
        values, coded, units = _value(obs)
        flags = _flags(obs)
        if values or not obs.component:
            report.observations.append(
                Observation(
                    code,
                    system,
                    text,
                    alt,
                    "CWE" if coded else "ST",
                    values,
                    coded,
                    units,
                    flags,
                    str(group),
                )
            )
        for comp in obs.component or []:
            c_code, c_system, c_text, c_alt = _code(comp.code)
            c_values, c_coded, c_units = _value(comp)
            report.observations.append(
                Observation(
                    c_code,
                    c_system,
                    c_text,
                    c_alt,
                    "CWE" if c_coded else "ST",
                    c_values,
                    c_coded,
                    c_units,
                    _flags(comp) or flags,
                    str(group),
                )
            )
        report.notes += [n.text for n in obs.note or [] if n.text]
    if dr.conclusion:
        report.notes.append(dr.conclusion)
    return report


def order_bundle(facts: OrderFacts) -> str:
    """A transaction Bundle: Patient, Specimen, ServiceRequest (placer = our order id)."""
    patient_url, specimen_url, request_url = (f"urn:uuid:{uuid.uuid4()}" for _ in range(3))
    codings = [{"system": LOCAL_URI, "code": facts.test_code, "display": facts.test_name}]
    if facts.loinc:
        codings.insert(0, {"system": LOINC_URI, "code": facts.loinc})
    code = {"coding": codings}
    collection: dict[str, Any] = {}
    site = " ".join(filter(None, (facts.specimen_site, facts.specimen_side)))
    if site:
        collection["bodySite"] = {"text": site}
    if facts.collected_at:
        collection["collectedDateTime"] = facts.collected_at.isoformat()
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "identifier": [{"system": PLACER_URI, "value": facts.placer_number}],
        "subject": {"reference": patient_url},
        "type": {"text": "Bone marrow"},
    }
    if collection:
        specimen["collection"] = collection
    if facts.accession:
        specimen["accessionIdentifier"] = {"value": facts.accession}
    body = {
        "resourceType": "Bundle",
        "type": "transaction",
        "identifier": {"system": "urn:clinic:message", "value": facts.control_id},
        "entry": [
            {
                "fullUrl": patient_url,
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": MRN_URI, "value": facts.mrn}],
                    "name": [{"family": facts.family_name, "given": [facts.given_name]}],
                    "birthDate": facts.dob.isoformat(),
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": specimen_url,
                "resource": specimen,
                "request": {"method": "POST", "url": "Specimen"},
            },
            {
                "fullUrl": request_url,
                "resource": {
                    "resourceType": "ServiceRequest",
                    "identifier": [
                        {
                            "type": {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                        "code": "PLAC",
                                    }
                                ]
                            },
                            "system": PLACER_URI,
                            "value": facts.placer_number,
                        }
                    ],
                    "status": "active",
                    "intent": "order",
                    "code": code,
                    "subject": {"reference": patient_url},
                    "specimen": [{"reference": specimen_url}],
                    "requester": {"display": facts.ordering_provider},
                },
                "request": {"method": "POST", "url": "ServiceRequest"},
            },
        ],
    }
    text = json.dumps(body)
    validate(text.encode())  # what we send passes the same validation as what we take
    return text
