"""FHIR R4 results over real HTTP (live_server): a lab's bearer token, a Bundle
with a DiagnosticReport and its Observations, validated by fhir.resources."""

import json
import urllib.error
import urllib.request

import pytest

from procedures.labs.models import Lab, LabInboundMessage, LabResultData, ResultKind
from procedures.labs.tests.conftest import make_order
from procedures.results.models import TestOrder

pytestmark = pytest.mark.services


def bundle(order, *, control_id="B1", status="final", mrn=None, observations=None):
    patient = order.appointment.patient
    observations = observations or [
        {
            "resourceType": "Observation",
            "id": "v1",
            "status": "final",
            "code": {"text": "Variant"},
            "component": [
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                    "valueCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://www.genenames.org",
                                "code": "HGNC:6192",
                                "display": "JAK2",
                            }
                        ],
                        "text": "JAK2",
                    },
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "48004-6"}]},
                    "valueString": "c.1849G>T",
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "48005-3"}]},
                    "valueString": "p.V617F",
                },
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": "81258-6"}]},
                    "valueQuantity": {"value": 0.43},
                },
            ],
        }
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"value": control_id},
        "entry": [
            {
                "fullUrl": "urn:uuid:p1",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"value": mrn or patient.mrn}],
                    "name": [{"family": patient.family_name, "given": [patient.given_name]}],
                    "birthDate": patient.date_of_birth.isoformat(),
                },
            },
            {
                "fullUrl": "urn:uuid:r1",
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "status": status,
                    "code": {"text": "NGS panel"},
                    "subject": {"reference": "urn:uuid:p1"},
                    "basedOn": [{"identifier": {"value": str(order.pk)}}],
                    "identifier": [{"value": "ACC-77"}],
                    "result": [{"reference": f"Observation/{o['id']}"} for o in observations],
                    "conclusion": "JAK2 V617F detected.",
                },
            },
            *({"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in observations),
        ],
    }


def post(live_server, body, token="lab-token"):  # noqa: S107 (a test token)
    request = urllib.request.Request(  # noqa: S310 (the live server)
        live_server.url + "/labs/fhir/Bundle",
        data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/fhir+json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def fhir_lab(lab):
    lab.token_hash = Lab.hash_token("lab-token")
    lab.save()
    return lab


@pytest.mark.django_db(transaction=True)
def test_it_attaches_a_diagnostic_report_with_its_observations(live_server, fhir_lab):
    order = make_order(fhir_lab, kind=ResultKind.NGS, code="NGS")
    status, outcome = post(live_server, bundle(order))
    assert status == 200, outcome
    assert outcome["resourceType"] == "OperationOutcome"
    order.refresh_from_db()
    assert order.status == TestOrder.Status.FINAL
    assert order.accession_number == "ACC-77"
    data = LabResultData.objects.get(result__order=order)
    assert data.source == "fhir"
    assert data.data["variants"] == [
        {"gene": "JAK2", "hgvs_c": "c.1849G>T", "hgvs_p": "p.V617F", "vaf": "43.0", "tier": ""}
    ]
    row = LabInboundMessage.objects.get()
    assert row.lab == fhir_lab and row.transport == "fhir" and row.peer == "127.0.0.1"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_without_the_labs_token(live_server, fhir_lab):
    order = make_order(fhir_lab, kind=ResultKind.NGS, code="NGS")
    assert post(live_server, bundle(order), token=None)[0] == 401
    assert post(live_server, bundle(order), token="guess")[0] == 401
    assert not LabInboundMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_refuses_an_invalid_bundle_with_the_reason(live_server, fhir_lab):
    order = make_order(fhir_lab, kind=ResultKind.NGS, code="NGS")
    body = bundle(order)
    del body["entry"][1]["resource"]["status"]  # DiagnosticReport.status is required
    status, outcome = post(live_server, body)
    assert status == 400
    assert "status" in outcome["issue"][0]["diagnostics"]
    order.refresh_from_db()
    assert order.status == TestOrder.Status.SENT


@pytest.mark.django_db(transaction=True)
def test_it_holds_a_mismatched_patient_and_counts_a_resend_once(live_server, fhir_lab):
    order = make_order(fhir_lab, kind=ResultKind.NGS, code="NGS")
    first = post(live_server, bundle(order, mrn="SOMEONE-ELSE"))
    again = post(live_server, bundle(order, mrn="SOMEONE-ELSE"))
    assert first[0] == again[0] == 202
    assert "already received" in again[1]["issue"][0]["diagnostics"]
    row = LabInboundMessage.objects.get()
    assert row.match_status == "open" and "MRN" in row.reason
