"""Celery tasks of results follow-up: nothing in, one service call. Names keep their
original dotted paths (the beat schedule names them)."""

from celery import shared_task

from procedures.results.escalations import escalations_run


@shared_task(name="procedures.tasks.escalate_late_results", ignore_result=True)
def escalate_late_results() -> dict:
    """Chase late results: write each due (order, level, episode) once, queue repeat
    digests for orders still late, email the digests."""
    report = escalations_run()
    return {"planned": report.planned, "repeated": report.repeated, "emails": report.emails}
