"""The lab pages staff use: the unmatched worklist (match, reject with a reason),
the result form of each kind of test, and the label and requisition PDFs."""

from io import BytesIO

import pytest
from pypdf import PdfReader

from clinic.models import ReadAccess
from procedures.labs.inbound import lab_message_receive
from procedures.labs.models import LabInboundMessage, LabResultData, ResultKind
from procedures.labs.tests.conftest import make_order, oru
from procedures.results.models import TestOrder


@pytest.fixture
def parked(order):
    lab_message_receive(raw=oru(order, placer="424242").encode())
    return LabInboundMessage.objects.get()


@pytest.mark.django_db
def test_it_lists_unmatched_results_and_attaches_one_to_the_order_staff_chose(
    nurse_client, parked, order
):
    page = nurse_client.get("/labs/unmatched/").content.decode()
    assert "no order with placer number 424242" in page
    detail = nurse_client.get(parked.get_absolute_url()).content.decode()
    assert "46,XX[20]" in detail
    assert ReadAccess.objects.filter(object_id=str(parked.pk)).exists()
    response = nurse_client.post(f"/labs/unmatched/{parked.pk}/match/", {"order": order.pk})
    assert response.status_code == 302
    parked.refresh_from_db()
    assert parked.match_status == "matched" and parked.order == order
    order.refresh_from_db()
    assert order.status == TestOrder.Status.FINAL


@pytest.mark.django_db
def test_it_refuses_to_attach_to_an_unknown_order_with_a_message(nurse_client, parked):
    response = nurse_client.post(f"/labs/unmatched/{parked.pk}/match/", {"order": 999999})
    assert response.status_code == 200
    assert "There is no order with that number." in response.content.decode()
    parked.refresh_from_db()
    assert parked.match_status == "open"


@pytest.mark.django_db
def test_it_rejects_with_a_reason_and_requires_one(nurse_client, parked):
    response = nurse_client.post(f"/labs/unmatched/{parked.pk}/reject/", {"reason": ""})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    nurse_client.post(f"/labs/unmatched/{parked.pk}/reject/", {"reason": "sent to us by mistake"})
    parked.refresh_from_db()
    assert parked.match_status == "rejected"
    assert parked.resolution_note == "sent to us by mistake"


CASES = [
    (
        ResultKind.MORPHOLOGY,
        {
            "f-cellularity_percent": "40",
            "f-me_ratio": "3:1",
            "f-blast_percent": "2.5",
            "f-iron": "normal",
            "f-fibrosis_grade": "MF-1",
        },
        {
            "cellularity_percent": 40,
            "me_ratio": "3:1",
            "blast_percent": "2.5",
            "iron": "normal",
            "fibrosis_grade": "MF-1",
        },
    ),
    (
        ResultKind.FLOW,
        {
            "f-populations": "CD34+ blasts | 2.1\nCD19+ B cells | 8",
            "f-immunophenotype": "no aberrancy",
        },
        {
            "populations": [
                {"population": "CD34+ blasts", "percent": "2.1"},
                {"population": "CD19+ B cells", "percent": "8"},
            ],
            "immunophenotype": "no aberrancy",
        },
    ),
    (
        ResultKind.CYTOGENETICS,
        {"f-karyotype": "47,XY,+8[12]/46,XY[8]", "f-metaphases": "20"},
        {"karyotype": "47,XY,+8[12]/46,XY[8]", "metaphases": 20},
    ),
    (
        ResultKind.FISH,
        {"f-probe": "BCR::ABL1", "f-result": "not detected", "f-nuclei_scored": "200"},
        {"probe": "BCR::ABL1", "result": "not detected", "nuclei_scored": 200},
    ),
    (
        ResultKind.NGS,
        {"f-variants": "JAK2 | c.1849G>T | p.V617F | 43 | I"},
        {
            "variants": [
                {
                    "gene": "JAK2",
                    "hgvs_c": "c.1849G>T",
                    "hgvs_p": "p.V617F",
                    "vaf": "43.0",
                    "tier": "I",
                }
            ]
        },
    ),
    (
        ResultKind.CULTURE,
        {
            "f-organism": "Staphylococcus aureus",
            "f-sensitivities": "Flucloxacillin | S\nPenicillin | R",
        },
        {
            "organism": "Staphylococcus aureus",
            "sensitivities": [
                {"antibiotic": "Flucloxacillin", "interpretation": "S"},
                {"antibiotic": "Penicillin", "interpretation": "R"},
            ],
        },
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("kind,posted,stored", CASES)
def test_it_logs_each_kind_with_its_own_form_and_shows_it_on_the_order_page(
    doctor, care_for_all, lab, kind, posted, stored
):
    order = make_order(lab, kind=kind, code=kind.upper())
    url = f"/labs/orders/{order.pk}/result/"
    assert doctor.get(url).status_code == 200
    header = {"interpretation": "abnormal", "report_text": "See findings.", "is_final": "on"}
    response = doctor.post(url, {**header, **posted})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert LabResultData.objects.get(result__order=order).data == stored
    page = doctor.get(f"/results/{order.pk}/").content.decode()
    first_value = next(iter(stored.values()))
    shown = (
        first_value if not isinstance(first_value, list) else next(iter(first_value[0].values()))
    )
    assert str(shown) in page


@pytest.mark.django_db
def test_it_says_what_is_wrong_with_a_karyotype_and_saves_nothing(doctor, care_for_all, order):
    header = {"interpretation": "abnormal", "report_text": "x", "is_final": "on"}
    response = doctor.post(
        f"/labs/orders/{order.pk}/result/", {**header, "f-karyotype": "46 XY", "f-metaphases": "20"}
    )
    assert response.status_code == 200
    assert "is not an ISCN karyotype" in response.content.decode()
    assert not LabResultData.objects.exists()


@pytest.mark.django_db
def test_it_prints_a_label_and_a_requisition_that_read_back(nurse_client, order):
    TestOrder.objects.filter(pk=order.pk).update(
        accession_number="ACC-9", specimen_site="posterior_iliac"
    )
    patient = order.appointment.patient
    label = nurse_client.get(f"/labs/orders/{order.pk}/labels.pdf")
    assert label["Content-Type"] == "application/pdf"
    text = PdfReader(BytesIO(label.content)).pages[0].extract_text()
    for expected in (
        "ACC-9",
        patient.family_name.upper(),
        patient.mrn,
        "02 Jan 1980",
        "Posterior iliac crest",
    ):
        assert expected in text
    requisition = nurse_client.get(f"/labs/appointments/{order.appointment_id}/requisition.pdf")
    text = PdfReader(BytesIO(requisition.content)).pages[0].extract_text()
    assert "Laboratory requisition" in text
    assert f"Order {order.pk}" in text and order.test_type.name in text
    assert ReadAccess.objects.filter(object_id=str(order.pk)).exists()
