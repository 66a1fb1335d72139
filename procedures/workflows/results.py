"""Results across concerns: a review tells the patient, as the physician chose: the
"results ready" email, or the physician's own call (a dated call task, no email)."""

from django.db import transaction
from django.utils import timezone

from procedures.messaging.models import CallTask, Reminder
from procedures.messaging.plan import reminder_add, reminders_withdraw
from procedures.messaging.tasks import wake_dispatcher
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


def result_review(*, order_id: int, action_planned: str, by, tell_by: str = "") -> TestOrder:
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


def _call_open(appointment: Appointment):
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
