"""Command-line helpers: a demo lab and ORU^R01 results built from one of our
orders, to send to the listener and watch the order move (README, docs)."""

from django.utils import timezone

from procedures.labs.hl7v2 import esc
from procedures.labs.kinds import kind_for
from procedures.labs.models import Lab, ResultKind
from procedures.results.models import TestOrder

DEMO_APPLICATION, DEMO_FACILITY = "DEMOLAB", "DEMO"

# One example finding per kind, in the codes docs/integration.md lists.
EXAMPLE_OBX: dict[str, list[str]] = {
    ResultKind.MORPHOLOGY: [
        "NM|MORPH-CELL^Cellularity^99CLN||40|%",
        "ST|MORPH-ME^M:E ratio^99CLN||3:1",
        "NM|MORPH-BLAST^Blasts^99CLN||2.5|%",
        "ST|MORPH-IRON^Iron stores^99CLN||normal",
        "ST|MORPH-FIB^Fibrosis grade^99CLN||MF-0",
    ],
    ResultKind.FLOW: [
        "ST|FLOW-POP^Population^99CLN|1|CD34+ blasts",
        "NM|FLOW-PCT^Percent of events^99CLN|1|1.2|%",
        "TX|FLOW-IPT^Immunophenotype^99CLN||No aberrant population",
    ],
    ResultKind.CYTOGENETICS: [
        "ST|CYTO-ISCN^Karyotype^99CLN||46,XX[20]",
        "NM|CYTO-META^Metaphases counted^99CLN||20",
    ],
    ResultKind.FISH: [
        "ST|FISH-PROBE^Probe^99CLN||BCR::ABL1 dual fusion",
        "ST|FISH-RES^Result^99CLN||nuc ish(ABL1,BCR)x2[200]",
        "NM|FISH-NUC^Nuclei scored^99CLN||200",
    ],
    ResultKind.NGS: [
        "CWE|48018-6^Gene studied^LN|1|HGNC:6192^JAK2^HGNC",
        "ST|48004-6^DNA change (c.HGVS)^LN|1|c.1849G>T",
        "ST|48005-3^Amino acid change (p.HGVS)^LN|1|p.V617F",
        "NM|81258-6^Variant allele fraction^LN|1|0.43",
        "ST|NGS-TIER^Tier^99CLN|1|I",
    ],
    ResultKind.CULTURE: [
        "CWE|11475-1^Microorganism identified^LN||3092008^Staphylococcus aureus^SCT",
        "NM|FLUCLOX^Flucloxacillin [Susceptibility]^L||0.25|mg/L||S",
        "NM|PEN^Penicillin [Susceptibility]^L||>0.12|mg/L||R",
    ],
}


def _obx(number: int, fields: str, status: str) -> str:
    """OBX-1, the fields from OBX-2 on, and OBX-11 (the observation's status)."""
    values = (fields.split("|") + [""] * 10)[:10]
    values[9] = status
    return "|".join(["OBX", str(number), *values])


def demo_lab() -> Lab:
    """The demo lab that `send_hl7 --order` writes as (results in only)."""
    lab, _created = Lab.objects.get_or_create(
        sending_application=DEMO_APPLICATION,
        sending_facility=DEMO_FACILITY,
        defaults={
            "name": "Demo lab",
            "protocol": Lab.Protocol.OML,
            "host": "127.0.0.1",
            "port": 2576,
        },
    )
    return lab


def example_oru(order: TestOrder, *, status: str = "F", control_id: str | None = None) -> str:
    """An ORU^R01 v2.5.1 for `order`, as the demo lab would send it."""
    patient = order.appointment.patient
    kind = kind_for(order.test_type)
    control_id = control_id or f"DEMO{order.pk}{status}{timezone.now():%H%M%S%f}"
    now = f"{timezone.now():%Y%m%d%H%M%S}"
    obr = [""] * 26
    obr[0:5] = [
        "OBR",
        "1",
        f"{order.pk}^CLINIC",
        order.accession_number or f"D{order.pk}",
        f"{esc(order.test_type.code)}^{esc(order.test_type.name)}^L",
    ]
    obr[7], obr[22], obr[25] = now, now, status
    segments = [
        f"MSH|^~\\&|{DEMO_APPLICATION}|{DEMO_FACILITY}|CLINIC|CLINIC|{now}||ORU^R01^ORU_R01|"
        f"{control_id}|P|2.5.1||||||UNICODE UTF-8",
        f"PID|1||{esc(patient.mrn)}^^^CLINIC^MR||{esc(patient.family_name)}^{esc(patient.given_name)}"
        f"||{patient.date_of_birth:%Y%m%d}",
        f"ORC|RE|{order.pk}^CLINIC|{order.accession_number or f'D{order.pk}'}",
        "|".join(obr),
        *(_obx(n, obx, status) for n, obx in enumerate(EXAMPLE_OBX[kind], start=1)),
        "NTE|1||Example result from the demo lab.",
    ]
    return "\r".join(segments) + "\r"
