"""`lab_setup`: a lab, the tests it receives and its token, from the command line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from procedures.labs.models import Lab, LabTestCode
from procedures.tests.factories import TestTypeFactory


@pytest.mark.django_db
def test_it_sets_up_a_lab_with_its_tests_and_a_token_shown_once():
    TestTypeFactory(code="cytogenetics")
    out = StringIO()
    call_command(
        "lab_setup",
        "Genetics lab",
        "--protocol",
        "hl7v2-orm",
        "--application",
        "GENLAB",
        "--host",
        "lab.example",
        "--port",
        "2575",
        "--test",
        "cytogenetics=CYTO",
        "--new-token",
        stdout=out,
    )
    token = out.getvalue().split("stored hashed): ")[1].strip()
    lab = Lab.objects.get(name="Genetics lab")
    assert lab.token_matches(token) and token not in lab.token_hash
    code = LabTestCode.objects.get(lab=lab)
    assert (code.code, code.kind) == ("CYTO", "cytogenetics")


@pytest.mark.django_db
def test_it_says_what_is_missing_and_saves_nothing():
    with pytest.raises(CommandError, match="a FHIR lab needs a base URL"):
        call_command("lab_setup", "FHIR lab", "--protocol", "fhir", "--application", "F")
    assert not Lab.objects.exists()
