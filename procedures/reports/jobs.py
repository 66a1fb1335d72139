"""Celery task of the reports: roll up the days that are over (rollup.py)."""

from celery import shared_task
from django.conf import settings

from procedures.reports.rollup import roll_due


@shared_task(name="procedures.tasks.roll_up_report_days", ignore_result=True)
def roll_up_report_days() -> dict:
    """Count every site's days that are over and not rolled up yet into their rows,
    for at most half the task's time limit (the next hourly run goes on)."""
    report = roll_due(budget_seconds=settings.CELERY_TASK_SOFT_TIME_LIMIT / 2)
    return {"sites": report.sites, "days": report.days, "finished": report.finished}
