"""Celery tasks of the plumbing: ids in, one call each. No PHI crosses the broker."""

from celery import shared_task


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=30, max_retries=8)
def emergency_access_notify(access_id: int) -> int:
    """Tell the clinic admins about one emergency access."""
    from .emergency import emergency_access_notify_admins

    return emergency_access_notify_admins(access_id=access_id)
