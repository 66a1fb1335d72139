"""Results across concerns: a review tells the patient, as the physician chose: the
"results ready" email, or the physician's own call (a dated call task about the order,
theirs, no email), which closes when the patient is recorded as told or the order is
cancelled; a replaced order that needs a new sample tasks the front desk to book the
patient."""

from datetime import date, datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext

from procedures.catalog.clock import clinic_today
from procedures.catalog.resources import Provider
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
    *,
    order_id: int,
    action_planned: str,
    by: User | None,
    tell_by: str = "",
    seen_result_id: int | None = None,
) -> TestOrder:
    """A physician has read the final result and says what happens next, and how the
    patient hears: `tell_by` "email" (the "results ready" email, no content) or "call"
    (a call task dated today, the reviewing physician's; no email). Blank:
    `tell_by_default`. `seen_result_id`: the result the physician read (a newer one
    refuses the review: invariant 34)."""
    with transaction.atomic():
        order = orders.result_review(
            order_id=order_id, action_planned=action_planned, by=by, seen_result_id=seen_result_id
        )
        how = tell_by or tell_by_default(order)
        if how == TELL_BY_CALL:
            results_call_plan(order=order, by=by)
        else:
            results_ready_plan(appointment=order.appointment)
    wake_dispatcher()
    return order


def _call_open(appointment: Appointment) -> QuerySet[CallTask]:
    return CallTask.objects.filter(
        appointment=appointment, reason=CallTask.Reason.RESULTS_CALL, status=CallTask.Status.OPEN
    )


def _caller(order: TestOrder, by: User | None) -> Provider | None:
    """Who makes the call: the reviewing physician (who said "I will call"), else the
    physician responsible for the order."""
    if by is not None:
        own = Provider.objects.filter(user=by).first()
        if own is not None:
            return own
    return order.responsible


def results_call_plan(*, order: TestOrder, by: User | None = None) -> None:
    """The physician calls the patient about `order`: one open call task per order,
    the physician's own (on their results worklist, not the front desk's queue), and
    no "results ready" email goes out while a call is still to be made."""
    appointment = order.appointment
    reminders_withdraw(
        appointment=appointment, kinds=[Reminder.Kind.RESULTS_READY], reason="physician calls"
    )
    if not _call_open(appointment).filter(order=order).exists():
        CallTask.objects.create(
            appointment=appointment,
            order=order,
            physician=_caller(order, by),
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


def results_call_open(order: TestOrder) -> CallTask | None:
    """The open call about `order`, if the physician is to call the patient."""
    return _call_open(order.appointment).filter(order=order).select_related("physician").first()


def calls_owed(*, physician_ids: list[int]) -> list[CallTask]:
    """The open results calls of these physicians (a physician's own and those of the
    colleagues they cover), soonest due first: the "Calls to make" on the worklist."""
    return list(
        CallTask.objects.filter(
            reason=CallTask.Reason.RESULTS_CALL,
            status=CallTask.Status.OPEN,
            physician_id__in=physician_ids,
        )
        .select_related("physician", "order__test_type", "appointment__patient")
        .order_by("due_at", "pk")
    )


def _calls_close(*, order: TestOrder, status: str, by: User | None, note: str) -> int:
    """Close the open calls about `order` (and a call of an older version, not tied to an
    order, once no result of its visit is still waiting to be told)."""
    calls = CallTask.objects.filter(
        reason=CallTask.Reason.RESULTS_CALL, status=CallTask.Status.OPEN
    )
    closed = calls.filter(order=order)
    untold = order.appointment.test_orders.filter(status=TestOrder.Status.REVIEWED).exclude(
        pk=order.pk
    )
    if not untold.exists():
        closed = closed | calls.filter(appointment=order.appointment, order__isnull=True)
    return closed.update(status=status, done_at=timezone.now(), done_by=by, note=note[:500])


def result_communicate(
    *, order_id: int, how: str, at: datetime, by: User | None, seen_result_id: int | None = None
) -> TestOrder:
    """Record that the patient was told (results), and close the physician's call about
    that order: whoever told them, the call is no longer owed. `seen_result_id`: as for
    the review."""
    with transaction.atomic():
        order = orders.result_communicate(
            order_id=order_id, how=how, at=at, by=by, seen_result_id=seen_result_id
        )
        _calls_close(
            order=order,
            status=CallTask.Status.DONE,
            by=by,
            note=gettext("Patient told (%(how)s)") % {"how": order.get_communicated_how_display()},
        )
    return order


def order_cancel(*, order_id: int, reason: str, by: User | None, note: str = "") -> TestOrder:
    """Cancel a test that will not be run (results), and any call still owed about it."""
    with transaction.atomic():
        order = orders.order_cancel(order_id=order_id, reason=reason, by=by, note=note)
        _calls_close(
            order=order, status=CallTask.Status.CANCELLED, by=by, note=gettext("Order cancelled")
        )
    return order


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
        _calls_close(
            order=TestOrder.objects.get(pk=order_id),
            status=CallTask.Status.CANCELLED,
            by=by,
            note=gettext("Order replaced"),
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
