"""Celery tasks of the day's boards: nothing in, one service call. (`tasks.py` here is
the front desk's task queue, so the Celery tasks live in this module.)"""

from celery import shared_task

from procedures.today.loops import open_loops_escalate_unsigned


@shared_task(name="procedures.tasks.escalate_unsigned_open_loops", ignore_result=True)
def escalate_unsigned_open_loops() -> dict:
    """Escalate each working day nobody signed off to the clinic lead, once."""
    return {"escalated": open_loops_escalate_unsigned()}
