"""Fault tests of the reminder outbox with real processes: a real PostgreSQL, a
private Redis, `celery worker` processes and an SMTP server recording every
Message-ID. What they prove is DESIGN.md's promise: killing a worker or losing
Redis loses no reminder, and a duplicate is possible only for a message the
SMTP server accepted just before the kill."""

import datetime as dt
import os
import re
import signal

import pytest
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.messaging.mail import message_id_for
from procedures.messaging.models import Reminder
from procedures.tests.factories import AppointmentFactory

from .conftest import wait_for_rows

# Published by name through this test's app (its private Redis): what beat sends.
DISPATCH = "procedures.tasks.dispatch_due_reminders"
SWEEP = "procedures.tasks.sweep_expired_leases"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]


def due_reminders(count: int) -> list[Reminder]:
    """`count` reminders due now, for one upcoming appointment of a patient with email:
    prep steps of their own words, which the patient asked to get by email, so that no
    two read alike (the dispatcher sends word-for-word twins as one email)."""
    appointment = AppointmentFactory(
        patient=PatientFactory(email="patient@example.com", details_in_email=True),
        start_at=timezone.now() + dt.timedelta(days=3),
        end_at=timezone.now() + dt.timedelta(days=3, hours=1),
    )
    now = timezone.now()
    Reminder.objects.bulk_create(
        Reminder(
            appointment=appointment,
            kind=Reminder.Kind.PREP_STEP,
            step_text=f"Step {i}.",
            appointment_version=appointment.version,
            due_at=now - dt.timedelta(seconds=1),
        )
        for i in range(count)
    )
    return list(Reminder.objects.filter(appointment=appointment).order_by("pk"))


def all_sent(rows) -> bool:
    return Reminder.objects.filter(pk__in=[r.pk for r in rows], status="sent").count() == len(rows)


def expected_ids(rows) -> set[str]:
    return {message_id_for(r) for r in rows}


def test_sigkill_mid_batch_loses_nothing_and_duplicates_only_accepted_mail(
    workers, mail_server, broker, capsys
):
    rows = due_reminders(1000)

    first = workers.start("a")  # dispatches at start (worker_ready)
    mail_server.wait_for(250, timeout=60)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    accepted_before_kill = mail_server.counts()
    sent_at_kill = set(Reminder.objects.filter(status="sent").values_list("pk", flat=True))
    stuck = Reminder.objects.filter(status="sending").count()
    assert 0 < len(accepted_before_kill) < 1000, "the kill must land mid-run"

    workers.start("b")
    # Beat's job, done here: once the dead worker's leases expire, one sweep hands
    # its rows back, and the new worker sends them.
    wait_for_rows(
        lambda: all_sent(rows),
        timeout=90,
        what="every reminder to be sent",
        wake=lambda: broker.send_task(SWEEP),
    )

    received = mail_server.counts()
    assert set(received) == expected_ids(rows)
    duplicates = {mid for mid, n in received.items() if n > 1}
    # Only a message the server had accepted before the kill, and whose row the dead
    # worker had not yet marked sent, may arrive twice (and then only twice).
    unmarked = {message_id_for(r) for r in rows if r.pk not in sent_at_kill}
    assert duplicates <= set(accepted_before_kill) & unmarked
    assert all(received[mid] == 2 for mid in duplicates)
    with capsys.disabled():
        print(
            f"\n[faults] SIGKILL after {len(accepted_before_kill)} of 1000 accepted "
            f"({stuck} rows left 'sending'): {len(duplicates)} duplicate(s) after recovery"
        )


def test_a_redis_restart_with_tasks_queued_loses_nothing_after_one_sweep(
    workers, mail_server, private_redis, broker
):
    waiting = due_reminders(30)
    # A worker died mid-batch earlier: these rows are claimed, their lease over.
    claimed = due_reminders(20)
    Reminder.objects.filter(pk__in=[r.pk for r in claimed]).update(
        status="sending", attempts=1, lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    for _ in range(5):  # wake-ups queued while no worker runs
        broker.send_task(DISPATCH)
    assert private_redis.client().llen("celery") == 5

    private_redis.restart()  # no persistence: every queued task is gone

    assert private_redis.client().llen("celery") == 0
    assert Reminder.objects.filter(status="pending").count() == 30
    workers.start("after-restart")
    broker.send_task(SWEEP)  # one sweep (beat would send it within 5 minutes)

    rows = waiting + claimed
    wait_for_rows(lambda: all_sent(rows), timeout=60, what="every reminder to be sent")
    assert mail_server.counts() == {mid: 1 for mid in expected_ids(rows)}


def test_two_dispatchers_at_once_send_each_message_exactly_once(workers, mail_server, broker):
    rows = due_reminders(5000)

    first = workers.start("one")
    second = workers.start("two")
    for _ in range(4):
        broker.send_task(DISPATCH)

    wait_for_rows(lambda: all_sent(rows), timeout=300, what="5,000 reminders to be sent")
    received = mail_server.counts()
    assert len(received) == 5000
    assert set(received) == expected_ids(rows)
    assert max(received.values()) == 1, "a Message-ID arrived twice"

    def claimed_by(process) -> int:
        log = process.log.read_text(errors="replace")
        return sum(int(n) for n in re.findall(r"'claimed': (\d+)", log))

    # Both really dispatched at the same time, each claiming rows the other skipped.
    assert claimed_by(first) > 0
    assert claimed_by(second) > 0


def test_smtp_try_later_then_recovery_delivers_after_retries(workers, mail_server, broker):
    rows = due_reminders(10)
    mail_server.scripted_replies = [
        "421 4.3.2 service shutting down",
        "451 4.3.0 try later",
        "451 4.3.0 try later",
    ]

    workers.start("retries")
    wait_for_rows(
        lambda: all_sent(rows),
        timeout=60,
        what="every reminder to be sent after retries",
        wake=lambda: broker.send_task(DISPATCH),  # beat ticks, faster
    )

    assert mail_server.refused == 3
    assert mail_server.counts() == {mid: 1 for mid in expected_ids(rows)}
    retried = Reminder.objects.filter(pk__in=[r.pk for r in rows], attempts__gt=1)
    assert retried.count() >= 1
    assert set(retried.values_list("last_error", flat=True)) == {""}


def test_smtp_permanent_refusal_fails_and_flags_the_row_and_stops(workers, mail_server, broker):
    [row] = due_reminders(1)
    mail_server.always_reply = "550 5.1.1 no such user"

    workers.start("refused")
    wait_for_rows(
        lambda: Reminder.objects.filter(pk=row.pk, status="failed").exists(),
        timeout=30,
        what="the refused reminder to be failed",
    )
    # Further beat ticks do not try it again.
    for _ in range(3):
        broker.send_task(DISPATCH)
    wait_for_rows(
        lambda: Reminder.objects.filter(status="pending").count() == 0 and mail_server.refused == 1,
        timeout=10,
        what="nothing more to happen",
    )

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error.startswith("550")
    assert list(Reminder.objects.failed_unresolved()) == [row]
    assert mail_server.snapshot() == []
