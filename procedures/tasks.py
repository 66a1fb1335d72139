"""Every Celery task of the app, for Celery's autodiscovery (`procedures.tasks`).

Each concern defines its tasks beside its services; the task names stay
`procedures.tasks.<name>`, as the beat schedule and queued messages know them.
"""

from procedures.messaging.tasks import dispatch_due_reminders, sweep_expired_leases
from procedures.reports.jobs import roll_up_report_days
from procedures.results.tasks import escalate_late_results
from procedures.today.jobs import escalate_unsigned_open_loops

__all__ = [
    "dispatch_due_reminders",
    "escalate_late_results",
    "escalate_unsigned_open_loops",
    "roll_up_report_days",
    "sweep_expired_leases",
]
