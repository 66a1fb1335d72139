"""Celery tasks of patient messages: nothing in, one service call each. No PHI crosses
the broker. Names keep their original dotted paths (beat schedules and queued
messages name them)."""

import logging

from celery import shared_task
from django.db import transaction

from procedures.messaging.dispatch import reminders_dispatch, reminders_sweep

log = logging.getLogger(__name__)


@shared_task(name="procedures.tasks.dispatch_due_reminders", ignore_result=True)
def dispatch_due_reminders() -> dict:
    """Send every reminder that is due (run every minute by beat, and on wake-ups).
    A run that finds more than a batch due wakes one more, so that every worker
    process helps with a large batch."""
    report = reminders_dispatch(more_due=_wake_now)
    return {"claimed": report.claimed, "sent": report.sent, "failed": report.failed}


@shared_task(name="procedures.tasks.sweep_expired_leases", ignore_result=True)
def sweep_expired_leases() -> int:
    """Hand back reminders whose worker died mid-send, then dispatch them."""
    count = reminders_sweep()
    if count:
        dispatch_due_reminders.delay()
    return count


def _wake_now() -> None:
    try:
        dispatch_due_reminders.apply_async(retry=False)
    except Exception as exc:  # the broker is an optimisation here, not the truth
        log.warning("could not wake the dispatcher: %s", exc.__class__.__name__)


def wake_dispatcher() -> None:
    """Ask a worker to dispatch now, once the current transaction commits.

    Only a wake-up: if the broker is down, the beat runs the dispatcher within
    a minute anyway, so the error is logged and swallowed.
    """

    transaction.on_commit(_wake_now)
