"""Figures on the operations dashboard: shares as per cent, minutes as hours."""

from django import template

from procedures.reports.dashboard import hours as hours_text
from procedures.reports.dashboard import percent as percent_text

register = template.Library()


@register.filter
def percent(share: float | None) -> str:
    return percent_text(share)


@register.filter
def hours(minutes: int) -> str:
    return hours_text(minutes)
