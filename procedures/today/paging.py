"""A day's list in pages of the day's times: the Today board and the day-of checklists.

A network site's day is hundreds of visits, so a day's page shows PER_PAGE of them,
opening on the page with the visit due now; each page is named by the times it
covers ("08:00-08:40"). A network's day on one board is over a hundred pages: the pager
shows the pages near the current one and the day's first and last, with an ellipsis
between (Django's `Paginator.get_elided_page_range`), so its links stay a line or two."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple, Protocol

from django.core.paginator import Page
from django.db.models import F, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from procedures.scheduling.slots import hhmm

PER_PAGE = 50
# The page opens on the first visit that started at most this long ago (someone a
# little late is still at the door).
LATE_BY = timedelta(minutes=30)


class Timed(Protocol):
    start_at: datetime


def current_page(visits: Sequence[Timed]) -> int:
    """The page of the first visit due now (or the last page, when all are over): the
    first page whose last visit starts at or after that (only the pages' last visits
    are read, so a day in the database is asked for nothing more than its `PageEnds`)."""
    due = timezone.now() - LATE_BY
    pages = max(-(-len(visits) // PER_PAGE), 1)
    for number in range(1, pages):
        if visits[number * PER_PAGE - 1].start_at >= due:
            return number
    return pages


class At(NamedTuple):
    start_at: datetime
    pk: int


class PageEnds(Sequence[Timed]):
    """A day's visits left in the database, in time order (then booking order), as the
    pager reads them: how many, and the start times of each page's first and last visit,
    in one query. Django's `Paginator` takes it as its list (it has a length and
    slices), and `page_links` and `current_page` ask it only for the visits at a page's
    ends; `from_visit` reads a page on from its first visit, through the start-time
    index.

    The network's day on one board is thousands of visits; reading them all to count
    and name its pages took more than the rest of the page (docs/performance.md, twelfth
    round)."""

    def __init__(self, visits: QuerySet) -> None:
        order = (F("start_at").asc(), F("pk").asc())
        self._visits = visits.order_by(*order)
        # Each page's first and (when full) last visit, numbered in time order, and the
        # day's last visit (an index probe from the end): its number is the day's length.
        last = visits.order_by("-start_at", "-pk").values("pk")[:1]
        ends = (
            visits.annotate(n=Window(RowNumber(), order_by=order), place=F("n") % PER_PAGE)
            .filter(Q(place=1) | Q(place=0) | Q(pk=Subquery(last)))
            .values_list("n", "pk", "start_at")
        )
        self._at = {n - 1: At(start_at, pk) for n, pk, start_at in ends}
        self._count = max(self._at, default=-1) + 1

    def from_visit(self, index: int) -> QuerySet:
        """The visits from the `index`-th on, in order: `index` is a page's first (the
        only visits whose keys were read), or past the day's end (none)."""
        if not 0 <= index < self._count:
            return self._visits.none()
        first = self._at[index]
        return self._visits.filter(start_at__gte=first.start_at).filter(
            Q(start_at__gt=first.start_at) | Q(pk__gte=first.pk)
        )

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):  # primary keys (a query when iterated)
            start, stop = index.start or 0, index.stop
            if index.step is None and (start % PER_PAGE == 0 or start >= self._count):
                return self.from_visit(start).values_list("pk", flat=True)[: stop - start]
            return self._visits.values_list("pk", flat=True)[index]
        return self._at[index if index >= 0 else self._count + index]


# Pages linked either side of the current one, and at each end of the day.
ON_EACH_SIDE = 2
ON_ENDS = 1


def page_links(visits: Sequence[Timed], page: Page) -> list[tuple[int | None, str, bool]]:
    """The pager's entries: (page number, the times it covers, whether it is the page
    shown), and (None, "…", False) where pages are left out. A page is named
    "08:00-08:40", or "10:20" when all its visits start then; pages of the same name (a
    network's day has hundreds of visits at 10:20) are told apart: "10:20, part 2"."""
    paginator = page.paginator
    if not visits or paginator.num_pages < 2:
        return []

    def times(number: int) -> str:
        first = hhmm(visits[(number - 1) * PER_PAGE].start_at)
        last = hhmm(visits[min(number * PER_PAGE, len(visits)) - 1].start_at)
        return first if first == last else f"{first}\u2013{last}"

    links: list[tuple[int | None, str, bool]] = []
    for number in paginator.get_elided_page_range(
        page.number, on_each_side=ON_EACH_SIDE, on_ends=ON_ENDS
    ):
        if not isinstance(number, int):  # Paginator.ELLIPSIS
            links.append((None, str(number), False))
            continue
        label = times(number)
        first_of_name = number
        while first_of_name > 1 and times(first_of_name - 1) == label:
            first_of_name -= 1
        if first_of_name < number or (number < paginator.num_pages and times(number + 1) == label):
            label = _("%(times)s, part %(part)s") % {
                "times": label,
                "part": number - first_of_name + 1,
            }
        links.append((number, label, number == page.number))
    return links
