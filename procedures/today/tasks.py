"""The front desk's one queue: open front-desk tasks (wheelchair, interpreter,
transport, short-notice calls) and open phone calls, soonest due first.

The two kinds live in two tables, so the queue is one SQL UNION of their keys,
ordered and paginated by the database; only the rows of the page shown are then
loaded (two queries), whatever the number of open tasks.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_today, clinic_tz
from procedures.catalog.sites import at_site
from procedures.messaging.models import CallTask, Reminder
from procedures.prep import services as prep
from procedures.prep.models import FrontDeskTask
from procedures.scheduling.models import Appointment, AppointmentEvent

# The kind of a row in the queue (also the value posted by "Mark done").
DESK, CALL = "desk", "call"
SHOW_ALL, SHOW_CALLS, SHOW_DESK = "all", "calls", "desk"
CALL_NOTE_MAX = 300  # an appointment event's note
# A front-desk task for a visit that will not happen (or is over) is not work any more.
_OVER = (Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW, Appointment.Status.COMPLETED)


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue: a front-desk task (due on a day) or a call (due at a time)."""

    kind: str
    task: FrontDeskTask | CallTask
    due_day: date
    due_at: datetime | None  # calls only
    overdue: bool

    @property
    def appointment(self) -> Appointment:
        return self.task.appointment

    @property
    def what(self) -> str:
        if isinstance(self.task, FrontDeskTask):  # kind DESK
            return self.task.get_kind_display()
        return self.task.get_reason_display()

    @property
    def detail(self) -> str:
        """What the call stands in for, or the note that came with the task."""
        if isinstance(self.task, CallTask) and self.task.reminder_kind:  # kind CALL
            return self.task.get_reminder_kind_display()
        return self.task.note


def _open_desk(*, today: date, overdue_only: bool, site_id: int | None = None) -> QuerySet:
    # No model ordering: SQLite allows no ORDER BY inside a UNION's parts.
    tasks = (
        at_site(FrontDeskTask.objects.order_by(), site_id)
        .filter(done_at__isnull=True)
        # A recollection is booked after the visit it belongs to is over.
        .exclude(Q(appointment__status__in=_OVER) & ~Q(kind=FrontDeskTask.Kind.RECOLLECT))
    )
    if overdue_only:
        tasks = tasks.filter(due_date__lt=today)
    return tasks


def _open_calls(*, now: datetime, overdue_only: bool, site_id: int | None = None) -> QuerySet:
    # A physician's own call about a result is theirs (their results worklist), not
    # the front desk's: it closes when the patient is recorded as told.
    calls = (
        at_site(CallTask.objects.order_by(), site_id)
        .filter(status=CallTask.Status.OPEN)
        .exclude(reason=CallTask.Reason.RESULTS_CALL)
    )
    if overdue_only:
        calls = calls.filter(due_at__lt=now)
    return calls


def open_task_keys(
    *,
    show: str = SHOW_ALL,
    overdue_only: bool = False,
    now: datetime | None = None,
    site_id: int | None = None,
) -> QuerySet:
    """The open tasks' keys (kind, id, due day, ...), soonest due first: on the same
    day a front-desk task (due that day) comes before the calls, calls by their time."""
    now = now or timezone.now()
    today = clinic_today()
    # Same columns, same order, in both halves of the UNION.
    desk = (
        _open_desk(today=today, overdue_only=overdue_only, site_id=site_id)
        .annotate(
            source=Value(DESK),
            key=F("pk"),
            day=F("due_date"),
            rank=Value(0, output_field=IntegerField()),
            at=F("created_at"),
        )
        .values_list("source", "key", "day", "rank", "at")
    )
    calls = (
        _open_calls(now=now, overdue_only=overdue_only, site_id=site_id)
        .annotate(
            source=Value(CALL),
            key=F("pk"),
            day=TruncDate("due_at", tzinfo=clinic_tz()),
            rank=Value(1, output_field=IntegerField()),
            at=F("due_at"),
        )
        .values_list("source", "key", "day", "rank", "at")
    )
    if show == SHOW_DESK:
        return desk.order_by("day", "rank", "at", "key")
    if show == SHOW_CALLS:
        return calls.order_by("day", "rank", "at", "key")
    return desk.union(calls, all=True).order_by("day", "rank", "at", "key")


def queue_rows(keys: list[tuple], *, now: datetime | None = None) -> list[QueueRow]:
    """The page's rows, loaded with their appointment and patient (two queries)."""
    now = now or timezone.now()
    today = clinic_today()
    wanted = {
        DESK: [k[1] for k in keys if k[0] == DESK],
        CALL: [k[1] for k in keys if k[0] == CALL],
    }
    related = ("appointment__patient",)
    desk = (
        FrontDeskTask.objects.select_related(*related).in_bulk(wanted[DESK]) if wanted[DESK] else {}
    )
    calls = CallTask.objects.select_related(*related).in_bulk(wanted[CALL]) if wanted[CALL] else {}
    rows = []
    for source, pk, *_rest in keys:
        if source == DESK and pk in desk:
            task = desk[pk]
            rows.append(QueueRow(DESK, task, task.due_date, None, task.due_date < today))
        elif source == CALL and pk in calls:
            call = calls[pk]
            day = timezone.localtime(call.due_at, clinic_tz()).date()
            rows.append(QueueRow(CALL, call, day, call.due_at, call.due_at < now))
    return rows


def overdue_count(*, now: datetime | None = None, site_id: int | None = None) -> int:
    """How many open tasks are overdue (one query, for the navigation badge)."""
    now = now or timezone.now()
    desk = _open_desk(today=clinic_today(), overdue_only=True, site_id=site_id).values_list("pk")
    calls = _open_calls(now=now, overdue_only=True, site_id=site_id).values_list("pk")
    return desk.union(calls, all=True).count()


@dataclass(frozen=True)
class Done:
    """The outcome of "Mark done": the task, and whether this request closed it."""

    task: FrontDeskTask | CallTask
    changed: bool

    @property
    def what(self) -> str:
        if isinstance(self.task, FrontDeskTask):
            return self.task.get_kind_display()
        return self.task.get_reason_display()


def call_task_done(*, task_id: int, by: User | None, note: str = "") -> Done:
    """Record a call as made (who, when), with the caller's note on the appointment's
    timeline; a call already done or cancelled is left as it is."""
    note = " ".join(note.split())
    if len(note) > CALL_NOTE_MAX:
        raise ValidationError(
            {"note": _("Keep the note under %(n)d characters.") % {"n": CALL_NOTE_MAX}}
        )
    with transaction.atomic():
        call = CallTask.objects.select_for_update().filter(pk=task_id).first()
        if call is None:
            raise ValidationError(_("That call is not on the list any more."))
        if call.reason == CallTask.Reason.RESULTS_CALL:
            raise ValidationError(
                _(
                    "That call is the physician's: it closes when the patient is recorded "
                    "as told on the result's page."
                )
            )
        if call.status != CallTask.Status.OPEN:
            return Done(call, changed=False)
        call.status, call.done_at, call.done_by = CallTask.Status.DONE, timezone.now(), by
        call.save(update_fields=["status", "done_at", "done_by"])
        if call.reason == CallTask.Reason.EMAIL_FAILED and call.reminder_id:
            # The patient was reached by phone: the failed email is dealt with.
            Reminder.objects.filter(
                pk=call.reminder_id, status=Reminder.Status.FAILED, resolved_at__isnull=True
            ).update(resolved_at=call.done_at, resolved_by=by)
        AppointmentEvent.objects.create(
            appointment_id=call.appointment_id,
            kind="call_done",
            note=f"{call.get_reason_display()}{': ' + note if note else ''}"[:CALL_NOTE_MAX],
            by=by,
            at=call.done_at,
        )
    return Done(call, changed=True)


def desk_task_done(*, task_id: int, by: User | None) -> Done:
    """Mark a front-desk task done (who, when) through the prep service; one already
    done is left as it is."""
    with transaction.atomic():
        task = FrontDeskTask.objects.select_for_update().filter(pk=task_id).first()
        if task is None:
            # The prep plan changed and the task was withdrawn.
            raise ValidationError(_("That task is not on the list any more."))
        if task.done_at is not None:
            return Done(task, changed=False)
        return Done(prep.frontdesk_task_done(task_id=task.pk, by=by), changed=True)


def task_done(*, kind: str, task_id: int, by: User | None, note: str = "") -> Done:
    """Mark one row of the queue done, whichever table it lives in."""
    if kind == CALL:
        return call_task_done(task_id=task_id, by=by, note=note)
    if kind == DESK:
        return desk_task_done(task_id=task_id, by=by)
    raise ValidationError(_("That task is not on the list any more."))
