"""A day's pages named by their times: a network's day on one board is over a hundred
pages, and the pager links only those near the page shown and the day's ends."""

import datetime as dt
from types import SimpleNamespace

from django.core.paginator import Paginator

from procedures.catalog.clock import clinic_datetime
from procedures.today import paging

DAY = dt.date(2025, 3, 5)


def a_day(visits: int) -> list[SimpleNamespace]:
    """`visits` arrivals half a minute apart from 08:00."""
    start = clinic_datetime(DAY, dt.time(8))
    return [SimpleNamespace(start_at=start + dt.timedelta(seconds=30 * i)) for i in range(visits)]


def test_a_long_day_links_the_pages_near_the_one_shown_and_the_days_ends():
    visits = a_day(50 * 20)  # twenty pages
    page = Paginator(visits, paging.PER_PAGE).get_page(10)

    links = paging.page_links(visits, page)

    assert [number for number, _label, _current in links] == [1, None, 8, 9, 10, 11, 12, None, 20]
    assert links[0] == (1, "08:00\u201308:24", False)
    assert links[4] == (10, "11:45\u201312:09", True)
    assert links[-1] == (20, "15:55\u201316:19", False)
    assert links[1] == (None, "\u2026", False)


def test_a_short_day_links_every_page_and_one_page_none():
    visits = a_day(50 * 3 + 1)

    links = paging.page_links(visits, Paginator(visits, paging.PER_PAGE).get_page(4))

    assert [(n, current) for n, _label, current in links] == [
        (1, False),
        (2, False),
        (3, False),
        (4, True),
    ]
    assert links[-1][1] == "09:15"  # one visit, one time
    assert paging.page_links(a_day(50), Paginator(a_day(50), paging.PER_PAGE).get_page(1)) == []


def test_pages_of_the_same_time_are_told_apart():
    # A network's day: 150 arrivals at 10:20 fill three pages; a fourth page follows.
    at_1020 = clinic_datetime(DAY, dt.time(10, 20))
    visits = [
        *a_day(50),  # 08:00-08:24
        *(SimpleNamespace(start_at=at_1020) for _ in range(150)),
        *(SimpleNamespace(start_at=at_1020 + dt.timedelta(minutes=20)) for _ in range(10)),
    ]

    links = paging.page_links(visits, Paginator(visits, paging.PER_PAGE).get_page(3))

    assert [label for _n, label, _current in links] == [
        "08:00\u201308:24",
        "10:20, part 1",
        "10:20, part 2",
        "10:20, part 3",
        "10:40",
    ]
