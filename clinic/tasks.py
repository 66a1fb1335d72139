"""Celery tasks of the plumbing, for autodiscovery (`clinic.tasks`): ids in, one call
each. No PHI crosses the broker. Each is defined beside the code it calls."""

from clinic.emergency import emergency_access_notify

__all__ = ["emergency_access_notify"]
