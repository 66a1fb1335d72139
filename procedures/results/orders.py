"""Test orders and results: from the procedure to the patient being told.

Every change of an order's state goes through `_move`, which checks it against
`TRANSITIONS` and writes the order's timeline; an illegal move raises a
ValidationError that says why, and the surrounding transaction saves nothing.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from procedures.catalog.clock import add_working_days, clinic_today, clinic_tz, closed_days
from procedures.catalog.models import TestType
from procedures.catalog.resources import Provider
from procedures.results.models import TestOrder, TestOrderEvent, TestResult
from procedures.scheduling.models import Appointment

S = TestOrder.Status
# Which state may follow which. A result may be amended (final → final) until the
# patient is told; an amendment after the review needs a new review.
TRANSITIONS: dict[str, set[str]] = {
    S.ORDERED: {S.COLLECTED, S.CANCELLED},
    S.COLLECTED: {S.SENT, S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.SENT: {S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.PRELIMINARY: {S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.FINAL: {S.FINAL, S.REVIEWED},
    S.REVIEWED: {S.FINAL, S.COMMUNICATED},
    S.COMMUNICATED: set(),
    S.CANCELLED: set(),
}


def holidays_from(start: date) -> set[date]:
    """Public holidays (the `holidays` package) and clinic closures from `start` on, far
    enough ahead for any turnaround."""
    return closed_days(start, start + timedelta(days=400))


def expected_by_for(*, collected_at: datetime, turnaround_days: int) -> date:
    """Collection date (clinic time) plus the turnaround in working days."""
    start = collected_at.astimezone(clinic_tz()).date()
    return add_working_days(start, turnaround_days, holidays_from(start))


def _move(order: TestOrder, *, to: str, by, note: str = "", refusal: str = "") -> None:
    """Change the order's state if the state machine allows it, and write the timeline."""
    if order.status == S.CANCELLED:
        raise ValidationError(refusal or _("This test order was cancelled."))
    if to not in TRANSITIONS[order.status]:
        raise ValidationError(
            refusal
            or _("A test order at “%(status)s” cannot move to “%(to)s”.")
            % {"status": order.get_status_display(), "to": S(to).label}
        )
    TestOrderEvent.objects.create(
        order=order, kind="status", from_status=order.status, to_status=to, note=note, by=by
    )
    order.status = to


def _locked(order_id: int) -> TestOrder:
    return (
        TestOrder.objects.select_for_update(of=("self",))
        .select_related("appointment", "test_type")
        .get(pk=order_id)
    )


# --- Orders at completion ----------------------------------------------------------


@dataclass
class Sample:
    """What the team records about the sample when the procedure is completed."""

    test_types: list[TestType]
    collected_at: datetime
    specimen_site: str = ""
    specimen_side: str = ""
    sent_at: datetime | None = None
    accession_number: str = ""
    errors: dict = field(default_factory=dict)


def sample_validate(*, appointment: Appointment, sample: Sample, now: datetime) -> None:
    """Refuse a sample that cannot be right, with a message per field."""
    errors = {}
    if not sample.test_types:
        errors["test_types"] = _("Tick at least one test on the sample.")
    if sample.collected_at > now:
        errors["collected_at"] = _("The collection time is in the future. Enter when it was taken.")
    if sample.sent_at and sample.sent_at < sample.collected_at:
        errors["sent_at"] = _("The sample cannot reach the lab before it was collected.")
    elif sample.sent_at and sample.sent_at > now:
        errors["sent_at"] = _("The time sent to the lab is in the future.")
    if errors:
        raise ValidationError(errors)


def test_orders_create(
    *, appointment: Appointment, collected_at: datetime, sample: Sample | None = None
) -> list[TestOrder]:
    """Open one order per test on the sample: the panel the team ticked, or else the
    procedure type's default panel. The proceduralist is responsible."""
    if sample is None:
        sample = Sample(
            test_types=list(appointment.procedure_type.default_tests.filter(is_active=True)),
            collected_at=collected_at,
        )
    else:
        sample_validate(appointment=appointment, sample=sample, now=timezone.now())
    start = sample.collected_at.astimezone(clinic_tz()).date()
    holidays = holidays_from(start)
    orders = []
    for test_type in sample.test_types:
        order = TestOrder.objects.create(
            appointment=appointment,
            test_type=test_type,
            status=S.SENT if sample.sent_at else S.COLLECTED,
            collected_at=sample.collected_at,
            sent_at=sample.sent_at,
            specimen_site=sample.specimen_site,
            specimen_side=sample.specimen_side,
            accession_number=sample.accession_number,
            expected_by=add_working_days(start, test_type.turnaround_target_days, holidays),
            responsible=appointment.provider,
        )
        TestOrderEvent.objects.create(
            order=order, kind="status", to_status=order.status, at=sample.collected_at
        )
        orders.append(order)
    return orders


def order_sent(*, order_id: int, sent_at: datetime, accession_number: str, by) -> TestOrder:
    """Record that the sample reached the lab, with the lab's accession number."""
    with transaction.atomic():
        order = _locked(order_id)
        if sent_at > timezone.now():
            raise ValidationError({"sent_at": _("The time sent to the lab is in the future.")})
        if order.collected_at and sent_at < order.collected_at:
            raise ValidationError(
                {"sent_at": _("The sample cannot reach the lab before it was collected.")}
            )
        _move(order, to=S.SENT, by=by)
        order.sent_at, order.accession_number = sent_at, accession_number
        order.save(update_fields=["status", "sent_at", "accession_number", "updated_at"])
    return order


def order_reassign(*, order_id: int, responsible: Provider, by) -> TestOrder:
    """Hand the order to another physician, who answers for it from now on."""
    with transaction.atomic():
        order = _locked(order_id)
        if order.status in (S.COMMUNICATED, S.CANCELLED):
            raise ValidationError(_("This test order is closed; it cannot be reassigned."))
        if order.responsible_id == responsible.pk:
            raise ValidationError(
                {"responsible": _("%(name)s is already responsible.") % {"name": responsible}}
            )
        TestOrderEvent.objects.create(
            order=order,
            kind="reassigned",
            note=_("From %(old)s to %(new)s")
            % {"old": order.responsible or "—", "new": responsible},
            by=by,
        )
        order.responsible = responsible
        order.save(update_fields=["responsible", "updated_at"])
    return order


def order_cancel(*, order_id: int, reason: str, by) -> TestOrder:
    """Cancel a test that will not be run (e.g. the lab rejected the sample)."""
    with transaction.atomic():
        order = _locked(order_id)
        _move(
            order,
            to=S.CANCELLED,
            by=by,
            note=reason,
            refusal=_("Only a test still waiting for its final result can be cancelled."),
        )
        order.save(update_fields=["status", "updated_at"])
    return order


# --- Results -------------------------------------------------------------------------

FINDINGS = (
    "cellularity",
    "maturation",
    "iron_stores",
    "infection_signs",
    "malignant_cells",
    "malignancy_type",
    "fibrosis",
    "other_findings",
)


def result_log(
    *,
    order_id: int,
    interpretation: str,
    report_text: str,
    is_final: bool,
    by,
    report_pdf=None,
    **findings: str,
) -> TestResult:
    """Record a result (a new version; earlier ones are kept). Telling the patient
    waits for the review."""
    unknown = set(findings) - set(FINDINGS)
    if unknown:
        raise TypeError(f"unknown findings: {sorted(unknown)}")
    with transaction.atomic():
        order = _locked(order_id)
        if order.status == S.CANCELLED:
            raise ValidationError(_("This test order was cancelled; no result can be logged."))
        to = S.FINAL if is_final else S.PRELIMINARY
        if order.status in (S.FINAL, S.REVIEWED) and not is_final:
            raise ValidationError(
                {"is_final": _("A final result is on file; an amendment must be final too.")}
            )
        _move(
            order,
            to=to,
            by=by,
            note=_("amended result") if order.status in (S.FINAL, S.REVIEWED) else "",
            refusal=_("No result can be logged now: this order is at “%(status)s”.")
            % {"status": order.get_status_display()},
        )
        if findings.get("malignancy_type") and findings.get("malignant_cells") != "present":
            raise ValidationError(
                {"malignancy_type": _("A type of malignant cells needs malignant cells present.")}
            )
        result = TestResult.objects.create(
            order=order,
            interpretation=interpretation,
            report_text=report_text,
            is_final=is_final,
            logged_by=by,
            report_pdf=report_pdf or "",
            **findings,
        )
        fields = ["status", "updated_at"]
        if is_final:
            # Turnaround is measured to the first final result; an amendment
            # after the review needs a review again.
            order.final_at = order.final_at or result.logged_at
            order.reviewed_at = order.reviewed_by = None
            order.review_action = ""
            fields += ["final_at", "reviewed_at", "reviewed_by", "review_action"]
        order.save(update_fields=fields)
    return result


def result_review(*, order_id: int, action_planned: str, by) -> TestOrder:
    """A physician has read the final result and says what happens next (the
    workflow then plans the "your results are ready" email)."""
    with transaction.atomic():
        order = _locked(order_id)
        _move(
            order,
            to=S.REVIEWED,
            by=by,
            note=action_planned[:300],
            refusal=_("Only a final result can be reviewed: this order is at “%(status)s”.")
            % {"status": order.get_status_display()},
        )
        order.reviewed_at, order.reviewed_by = timezone.now(), by
        order.review_action = action_planned
        order.save(
            update_fields=["status", "reviewed_at", "reviewed_by", "review_action", "updated_at"]
        )
    return order


def result_communicate(*, order_id: int, how: str, at: datetime, by) -> TestOrder:
    """Record that the patient was told, how and when: the loop is closed."""
    with transaction.atomic():
        order = _locked(order_id)
        _move(
            order,
            to=S.COMMUNICATED,
            by=by,
            note=TestOrder.CommunicatedHow(how).label,
            refusal=_(
                "A physician must review the result before the patient is told: "
                "this order is at “%(status)s”."
            )
            % {"status": order.get_status_display()},
        )
        if at > timezone.now():
            raise ValidationError({"at": _("The time the patient was told is in the future.")})
        if order.reviewed_at and at < order.reviewed_at - timedelta(days=1):
            raise ValidationError({"at": _("The patient cannot be told before the review.")})
        order.communicated_at, order.communicated_by, order.communicated_how = at, by, how
        order.save(
            update_fields=[
                "status",
                "communicated_at",
                "communicated_by",
                "communicated_how",
                "updated_at",
            ]
        )
    return order


# --- Closing the loop ------------------------------------------------------------------


def results_still_pending(appointment: Appointment) -> date | None:
    """The latest expected date of the appointment's tests still without a final
    result, or None when every result is in (for the patient's email: no test named)."""
    return (
        appointment.test_orders.pending().aggregate(last=Max("expected_by"))["last"]
        if appointment.pk
        else None
    )


def results_ready_context(appointment: Appointment, *, language: str | None = None) -> dict:
    """Extra context for the "results ready" email: when the rest is expected."""
    from django.utils import translation

    last = results_still_pending(appointment)
    if last is None:
        return {"results_pending_until": ""}
    with translation.override(language or appointment.patient.preferred_language):
        return {"results_pending_until": formats.date_format(last, "j F Y")}


def discussion_date_for(appointment: Appointment) -> date:
    """A date for the results discussion: the first working day after the last
    expected result, and not before tomorrow."""
    live = appointment.test_orders.exclude(status=S.CANCELLED)
    last = live.aggregate(last=Max("expected_by"))["last"] or clinic_today()
    start = max(last, clinic_today())
    return add_working_days(start, 1, holidays_from(start))


def first_expected(appointment: Appointment) -> date | None:
    return appointment.test_orders.pending().aggregate(first=Min("expected_by"))["first"]
