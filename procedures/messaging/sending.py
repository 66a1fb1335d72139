"""Sending a claimed batch of reminders: the dispatcher's helpers (see reminders.py).

A sender thread owns the batch's SMTP connection and sends, in order, what the
dispatcher renders; the rows the server accepted are marked sent in groups.
"""

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.mail import get_connection
from django.db import connection as db
from django.db.models import Case, Value, When
from django.utils import timezone

from procedures.messaging.models import Reminder

log = logging.getLogger(__name__)

# How long a message the SMTP server accepted may stay unmarked (the duplicate window,
# see the top of reminders.py): rows are marked together every MARK_EVERY messages or
# MARK_WITHIN seconds, whichever comes first.
MARK_EVERY = 20
MARK_WITHIN = 0.2
# Messages rendered (and their MIME built) ahead of the one on the wire.
RENDER_AHEAD = 2


class SentMarks:
    """Rows the SMTP server accepted, marked `sent` together in one conditional UPDATE
    (instead of a round trip and a commit per row)."""

    def __init__(self) -> None:
        self.marked = 0  # rows handed to an UPDATE (the report counts them as sent)
        self.pending: list[tuple[Reminder, datetime]] = []
        self.oldest = 0.0

    def add(self, reminder: Reminder, sent_at: datetime) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append((reminder, sent_at))

    def wait(self) -> float | None:
        """How long the sender may be waited for before the marks are due."""
        if not self.pending:
            return None
        return max(0.0, self.oldest + MARK_WITHIN - time.monotonic())

    def flush_if_due(self) -> None:
        if len(self.pending) >= MARK_EVERY or (self.pending and self.wait() == 0):
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        by_lease: dict[datetime | None, list[tuple[Reminder, datetime]]] = {}
        for reminder, sent_at in pending:
            by_lease.setdefault(reminder.lease_until, []).append((reminder, sent_at))
        for lease_until, rows in by_lease.items():
            # Only rows still ours: still `sending` under our lease (not handed back by
            # the sweep and claimed by another run), as `_finish` does for one row.
            if db.vendor == "postgresql":
                _mark_sent_postgresql(lease_until, rows)
                continue
            Reminder.objects.filter(
                pk__in=[reminder.pk for reminder, _at in rows],
                status=Reminder.Status.SENDING,
                lease_until=lease_until,
            ).update(
                status=Reminder.Status.SENT,
                sent_at=Case(*(When(pk=reminder.pk, then=Value(at)) for reminder, at in rows)),
                lease_until=None,
                last_error="",
            )
        self.marked += len(pending)


def _mark_sent_postgresql(
    lease_until: datetime | None, rows: list[tuple[Reminder, datetime]]
) -> None:
    """The same UPDATE as the ORM's above, with each row's time joined from two arrays:
    compiling a CASE of twenty branches cost more than the statement itself."""
    with db.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {Reminder._meta.db_table} AS reminder
               SET status = %s, sent_at = sent.at, lease_until = NULL, last_error = ''
              FROM unnest(%s::bigint[], %s::timestamptz[]) AS sent (id, at)
             WHERE reminder.id = sent.id AND reminder.status = %s
               AND reminder.lease_until = %s
            """,  # noqa: S608 (the table name is ours; every value is a parameter)
            [
                Reminder.Status.SENT,
                [reminder.pk for reminder, _at in rows],
                [at for _reminder, at in rows],
                Reminder.Status.SENDING,
                lease_until,
            ],
        )


@dataclass
class Outcome:
    reminder: Reminder
    sent_at: datetime | None = None
    error: Exception | None = None
    unreachable: bool = False  # the server could not be reached at all
    late: bool = False  # not sent: the lease would run out


class MailSender:
    """A thread that owns the batch's SMTP connection and sends, in order, what the
    dispatcher renders, so that rendering overlaps the SMTP round trips. It touches
    no database: the dispatcher records each outcome on its own connection."""

    def __init__(self, margin: timedelta):
        self.margin = margin
        self.connection = get_connection()
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.in_flight = 0
        self.unreachable: Exception | None = None
        self.thread = threading.Thread(target=self._run, name="reminder-mail", daemon=True)
        self.thread.start()

    def put(self, reminder: Reminder, message) -> None:
        self.in_flight += 1
        self.inbox.put((reminder, message))

    def next_outcome(self, timeout: float | None) -> "Outcome | None":
        try:
            outcome = self.outcomes.get(timeout=timeout)
        except queue.Empty:
            return None
        self.in_flight -= 1
        if outcome.unreachable:
            self.unreachable = outcome.error
        return outcome

    def drain(self) -> list["Outcome"]:
        outcomes = []
        while self.in_flight and (outcome := self.next_outcome(timeout=0)):
            outcomes.append(outcome)
        return outcomes

    def stop(self) -> None:
        self.inbox.put(None)
        self.thread.join()

    def _run(self) -> None:
        unreachable = None
        try:
            while (item := self.inbox.get()) is not None:
                reminder, message = item
                if unreachable:
                    self.outcomes.put(Outcome(reminder, error=unreachable))
                elif timezone.now() + self.margin >= reminder.lease_until:
                    # Rendered in time, but an earlier send took long: too late now.
                    self.outcomes.put(Outcome(reminder, late=True))
                else:
                    outcome = send_one(reminder, message, self.connection)
                    if outcome.unreachable:
                        unreachable = outcome.error
                    self.outcomes.put(outcome)
        finally:
            try:
                self.connection.close()
            except Exception as exc:  # closing a broken connection must not hide the batch
                log.info("closing the mail connection failed: %s", exc.__class__.__name__)


def send_one(reminder: Reminder, message, connection) -> Outcome:
    """Send one message over the batch's connection (in the sender thread)."""
    try:
        connection.open()  # a no-op while open: the batch shares one session
    except Exception as exc:
        # No point trying the rest of the batch now.
        return Outcome(reminder, error=exc, unreachable=True)
    try:
        connection.send_messages([message])
    except Exception as exc:
        # A refused or dropped connection is reopened for the next message.
        with contextlib.suppress(Exception):  # already broken; the next send reopens it
            connection.close()
        return Outcome(reminder, error=exc)
    return Outcome(reminder, sent_at=timezone.now())
