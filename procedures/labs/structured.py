"""Typing in a result with the form of its kind of test (morphology, flow, ...)."""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from procedures.labs.kinds import validate
from procedures.labs.models import LabResultData
from procedures.results.models import TestResult
from procedures.results.orders import result_log


def structured_result_log(
    *,
    order_id: int,
    kind: str,
    findings: Mapping[str, Any],
    interpretation: str,
    report_text: str,
    is_final: bool,
    by: User,
) -> TestResult:
    """Log a result version with the structured findings of its kind, in one transaction."""
    data = validate(kind, findings)
    with transaction.atomic():
        result = result_log(
            order_id=order_id,
            interpretation=interpretation,
            report_text=report_text,
            is_final=is_final,
            by=by,
        )
        LabResultData.objects.create(result=result, kind=kind, data=data)
    return result
