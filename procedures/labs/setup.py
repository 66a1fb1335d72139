"""Configuring a lab from the command line (manage.py lab_setup)."""

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from procedures.catalog.models import TestType
from procedures.labs.kinds import kind_for
from procedures.labs.models import Lab, LabTestCode, ResultKind


def lab_configure(
    *,
    name: str,
    protocol: str,
    application: str,
    facility: str = "",
    host: str = "",
    port: int | None = None,
    base_url: str = "",
    outbound_token: str = "",
    tests: Sequence[str] = (),
    new_token: bool = False,
) -> tuple[Lab, str]:
    """Create or update a lab and the tests it receives; returns the lab and a new
    inbound token when asked for one (shown once: only its hash is stored).

    `tests` items read `TEST_TYPE_CODE=LAB_CODE[:KIND[:LOINC]]`.
    """
    with transaction.atomic():
        lab = Lab.objects.filter(name=name).first() or Lab(name=name)
        lab.protocol, lab.sending_application, lab.sending_facility = (
            protocol,
            application,
            facility,
        )
        lab.host, lab.port, lab.base_url = host, port, base_url
        lab.outbound_token = outbound_token
        lab.full_clean()  # says which address is missing before anything is saved
        lab.save()
        token = ""
        if new_token:
            token = lab.set_token()
            lab.save(update_fields=["token_hash"])
        for item in tests:
            type_code, _sep, rest = item.partition("=")
            code, _sep, rest = rest.partition(":")
            kind, _sep, loinc = rest.partition(":")
            test_type = TestType.objects.filter(code=type_code).first()
            if test_type is None or not code:
                raise ValidationError(f"unknown test type or empty lab code in {item!r}")
            kind = kind or kind_for(test_type)
            if kind not in ResultKind.values:
                raise ValidationError(f"kind {kind!r} is not one of {ResultKind.values}")
            LabTestCode.objects.update_or_create(
                test_type=test_type,
                defaults={"lab": lab, "code": code, "kind": kind, "loinc": loinc},
            )
    return lab, token
