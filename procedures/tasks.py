"""Celery tasks: ids in (or nothing), one service call each. No PHI crosses the broker."""

from celery import shared_task

from .services.reminders import reminders_dispatch, reminders_sweep


@shared_task(ignore_result=True)
def dispatch_due_reminders() -> dict:
    """Send every reminder that is due (run every minute by beat, and on wake-ups)."""
    report = reminders_dispatch()
    return {"claimed": report.claimed, "sent": report.sent, "failed": report.failed}


@shared_task(ignore_result=True)
def sweep_expired_leases() -> int:
    """Hand back reminders whose worker died mid-send, then dispatch them."""
    count = reminders_sweep()
    if count:
        dispatch_due_reminders.delay()
    return count


@shared_task(ignore_result=True)
def escalate_late_results() -> dict:
    """Chase late results: write each due (order, level) once, email the digests."""
    from .services.escalations import escalations_run

    report = escalations_run()
    return {"planned": report.planned, "emails": report.emails}
