"""The README's command line: `send_hl7 --order N` sends the demo lab's example
result for each kind of test to the running listener, and the order moves."""

from io import StringIO

import pytest
from django.core.management import call_command

from procedures.labs.models import LabResultData, ResultKind
from procedures.labs.tests.conftest import make_order
from procedures.results.models import TestOrder

pytestmark = pytest.mark.services

EXPECTED = {
    ResultKind.MORPHOLOGY: {
        "cellularity_percent": 40,
        "me_ratio": "3:1",
        "blast_percent": "2.5",
        "iron": "normal",
        "fibrosis_grade": "MF-0",
    },
    ResultKind.FLOW: {
        "populations": [{"population": "CD34+ blasts", "percent": "1.2"}],
        "immunophenotype": "No aberrant population",
    },
    ResultKind.CYTOGENETICS: {"karyotype": "46,XX[20]", "metaphases": 20},
    ResultKind.FISH: {
        "probe": "BCR::ABL1 dual fusion",
        "result": "nuc ish(ABL1,BCR)x2[200]",
        "nuclei_scored": 200,
    },
    ResultKind.NGS: {
        "variants": [
            {"gene": "JAK2", "hgvs_c": "c.1849G>T", "hgvs_p": "p.V617F", "vaf": "43.0", "tier": "I"}
        ]
    },
    ResultKind.CULTURE: {
        "organism": "Staphylococcus aureus",
        "sensitivities": [
            {"antibiotic": "Flucloxacillin [Susceptibility]", "interpretation": "S"},
            {"antibiotic": "Penicillin [Susceptibility]", "interpretation": "R"},
        ],
    },
}


def test_it_fills_each_kinds_fields_from_the_example_observations(listener):
    from procedures.labs.demo import demo_lab

    lab = demo_lab()
    for kind, expected in EXPECTED.items():
        order = make_order(lab, kind=kind, code=kind.upper())
        out = StringIO()
        call_command(
            "send_hl7",
            "--order",
            str(order.pk),
            "--status",
            "P",
            "--port",
            str(listener.port),
            stdout=out,
        )
        assert "MSA|AA|" in out.getvalue(), out.getvalue()
        order.refresh_from_db()
        assert order.status == TestOrder.Status.PRELIMINARY
        assert LabResultData.objects.get(result__order=order).data == expected, kind
