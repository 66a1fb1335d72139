"""Results across concerns: a review tells the patient, as the physician chose: the
"results ready" email, or the physician's own call (a dated call task, no email); a
replaced order that needs a new sample tasks the front desk to book the patient."""

from datetime import date, datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext

from procedures.catalog.clock import clinic_today
from procedures.labs.outbound import lab_order_queue
from procedures.messaging.models import CallTask, Reminder
from procedures.messaging.plan import reminder_add, reminders_withdraw
from procedures.messaging.tasks import wake_dispatcher
from procedures.prep.models import FrontDeskTask
from procedures.results import orders
from procedures.results.models import TestOrder, TestResult
from procedures.scheduling.models import Appointment

TELL_BY_EMAIL, TELL_BY_CALL = "email", "call"
# Tests whose results are genetic (chromosomes, genes): discussed first, never announced.
GENETIC_WORDS = ("karyo", "cytogen", "fish", "ngs", "molecular", "genetic", "mutation")


def is_genetic(order: TestOrder) -> bool:
    test = order.test_type
    words = f"{test.code} {test.name}".lower()
    return any(word in words for word in GENETIC_WORDS)


def tell_by_default(order: TestOrder) -> str:
    """How the patient hears unless the physician says otherwise: a call for an abnormal
    or genetic result, the "results ready" email for the rest."""
    latest = order.results.order_by("-pk").values_list("interpretation", flat=True).first()
    if latest == TestResult.Interpretation.ABNORMAL or is_genetic(order):
        return TELL_BY_CALL
    return TELL_BY_EMAIL


def result_review(
    *, order_id: int, action_planned: str, by: User | None, tell_by: str = ""
) -> TestOrder:
    """A physician has read the final result and says what happens next, and how the
    patient hears: `tell_by` "email" (the "results ready" email, no content) or "call"
    (a call task dated today; no email). Blank: `tell_by_default`."""
    with transaction.atomic():
        order = orders.result_review(order_id=order_id, action_planned=action_planned, by=by)
        how = tell_by or tell_by_default(order)
        if how == TELL_BY_CALL:
            results_call_plan(appointment=order.appointment)
        else:
            results_ready_plan(appointment=order.appointment)
    wake_dispatcher()
    return order


def _call_open(appointment: Appointment) -> QuerySet[CallTask]:
    return CallTask.objects.filter(
        appointment=appointment, reason=CallTask.Reason.RESULTS_CALL, status=CallTask.Status.OPEN
    )


def results_call_plan(*, appointment: Appointment) -> None:
    """The physician calls the patient: one open call task, and no "results ready" email
    goes out until the call is recorded."""
    reminders_withdraw(
        appointment=appointment, kinds=[Reminder.Kind.RESULTS_READY], reason="physician calls"
    )
    if not _call_open(appointment).exists():
        CallTask.objects.create(
            appointment=appointment,
            reason=CallTask.Reason.RESULTS_CALL,
            reminder_kind=Reminder.Kind.RESULTS_READY,
            appointment_version=appointment.version,
            due_at=timezone.now(),
        )


def results_ready_plan(*, appointment: Appointment) -> None:
    """Plan one "results ready" email: one notice covers every review that happens
    before it goes out; none while the physician's call is still to be made."""
    if _call_open(appointment).exists():
        return
    already_waiting = appointment.reminders.filter(
        kind=Reminder.Kind.RESULTS_READY, status=Reminder.Status.PENDING
    ).exists()
    if not already_waiting:
        reminder_add(appointment=appointment, kind=Reminder.Kind.RESULTS_READY)


def order_sent(
    *, order_id: int, sent_at: datetime, accession_number: str, by: User | None
) -> TestOrder:
    """Record that the sample reached the lab, and queue the order's message to that
    lab (HL7 v2 or FHIR, procedures/labs) in the same transaction."""
    with transaction.atomic():
        order = orders.order_sent(
            order_id=order_id, sent_at=sent_at, accession_number=accession_number, by=by
        )
        lab_order_queue(order=order)
    return order


def order_replace(
    *,
    order_id: int,
    reason: str,
    by: User | None,
    recollect: bool = False,
    collect_by: date | None = None,
    note: str = "",
) -> TestOrder:
    """Cancel an order for `reason` and open its replacement (results). When a new
    sample is needed, the front desk is tasked to book the patient for it (prep's
    front-desk queue), due today. Returns the replacement."""
    with transaction.atomic():
        replacement = orders.order_replace(
            order_id=order_id,
            reason=reason,
            by=by,
            recollect=recollect,
            collect_by=collect_by,
            note=note,
        )
        if recollect:
            recollection_task(order=replacement)
    return replacement


def recollection_task(*, order: TestOrder) -> FrontDeskTask:
    """One open "book a new sample" task per visit: reopened if it was done before."""
    by_day = formats.date_format(order.expected_by, "j M Y")
    task, _created = FrontDeskTask.objects.update_or_create(
        appointment=order.appointment,
        kind=FrontDeskTask.Kind.RECOLLECT,
        defaults={
            "due_date": clinic_today(),
            "note": gettext("New sample needed; result expected by %(day)s") % {"day": by_day},
            "done_at": None,
            "done_by": None,
        },
    )
    return task
