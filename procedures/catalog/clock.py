"""Clinic-time arithmetic: everything people see, and every "N days before", is in
CLINIC_TIME_ZONE; the database stores UTC."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def clinic_tz() -> ZoneInfo:
    return ZoneInfo(settings.CLINIC_TIME_ZONE)


def clinic_now() -> datetime:
    return timezone.now().astimezone(clinic_tz())


def clinic_today() -> date:
    return clinic_now().date()


def clinic_datetime(day: date, at: time) -> datetime:
    """An aware datetime for a wall-clock time on a clinic day (DST-safe)."""
    return datetime.combine(day, at, tzinfo=clinic_tz())


def add_working_days(start: date, days: int, holidays: set[date]) -> date:
    """`start` plus `days` working days, skipping weekends and clinic holidays."""
    current, remaining = start, days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5 and current not in holidays:
            remaining -= 1
    return current
