"""/healthz check for reminders (wired by settings.HEALTHZ_EXTRA_CHECKS): how long the
oldest due-but-unsent reminder has waited. Past the threshold the dispatcher is
stuck or too slow, and /healthz answers 503."""

from django.conf import settings
from django.utils import timezone

from procedures.messaging.models import Reminder


def check_reminder_backlog() -> tuple[bool, dict]:
    now = timezone.now()
    oldest = Reminder.objects.oldest_overdue(now)
    age = (now - oldest).total_seconds() if oldest else 0.0
    limit = settings.HEALTHZ_REMINDER_MAX_AGE_SECONDS
    ok = age <= limit
    return ok, {
        "status": "ok" if ok else "late",
        "oldest_due_age_seconds": round(age, 1),
        "max_age_seconds": limit,
    }
