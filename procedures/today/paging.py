"""A day's list in pages of the day's times: the Today board and the day-of checklists.

A network site's day is hundreds of visits, so a day's page shows PER_PAGE of them,
opening on the page with the visit due now; each page is named by the times it
covers ("08:00-08:40")."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from django.core.paginator import Paginator
from django.utils import timezone

from procedures.scheduling.slots import hhmm

PER_PAGE = 50
# The page opens on the first visit that started at most this long ago (someone a
# little late is still at the door).
LATE_BY = timedelta(minutes=30)


class Timed(Protocol):
    start_at: datetime


def current_page(visits: Sequence[Timed]) -> int:
    """The page of the first visit due now (or the last page, when all are over)."""
    due = timezone.now() - LATE_BY
    index = next((i for i, v in enumerate(visits) if v.start_at >= due), len(visits) - 1)
    return max(index, 0) // PER_PAGE + 1


def page_labels(visits: Sequence[Timed], paginator: Paginator) -> list[str]:
    """Each page named by the times it covers ("08:00-08:40")."""
    labels = []
    for number in paginator.page_range:
        first = visits[(number - 1) * PER_PAGE]
        last = visits[min(number * PER_PAGE, len(visits)) - 1]
        labels.append(f"{hhmm(first.start_at)}\u2013{hhmm(last.start_at)}")
    return labels
