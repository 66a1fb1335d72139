import datetime as dt

import pytest

from procedures.catalog.clock import add_working_days, clinic_datetime, clinic_today

MONDAY = dt.date(2025, 3, 3)
FRIDAY = dt.date(2025, 3, 7)
# England's Easter 2025 and the early May bank holiday.
EASTER_2025 = {dt.date(2025, 4, 18), dt.date(2025, 4, 21), dt.date(2025, 5, 5)}


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (MONDAY, 0, MONDAY),
        (MONDAY, 1, dt.date(2025, 3, 4)),
        (MONDAY, 4, FRIDAY),
        (FRIDAY, 1, dt.date(2025, 3, 10)),
        (dt.date(2025, 3, 6), 2, dt.date(2025, 3, 10)),
        (dt.date(2025, 3, 8), 1, dt.date(2025, 3, 10)),
        (MONDAY, 15, dt.date(2025, 3, 24)),
    ],
    ids=[
        "none",
        "next-day",
        "same-week",
        "friday-to-monday",
        "over-weekend",
        "from-saturday",
        "three-weeks",
    ],
)
def test_it_counts_working_days_skipping_weekends(start, days, expected):
    assert add_working_days(start, days, set()) == expected


def test_it_skips_clinic_holidays_as_well_as_weekends():
    assert add_working_days(dt.date(2025, 4, 17), 1, EASTER_2025) == dt.date(2025, 4, 22)
    assert add_working_days(dt.date(2025, 5, 2), 1, EASTER_2025) == dt.date(2025, 5, 6)


def test_it_counts_a_genetics_turnaround_over_several_weeks_and_holidays():
    # Cytogenetics, 15 working days from Thursday 10 April 2025: Good Friday,
    # Easter Monday and the May bank holiday push it to Tuesday 6 May.
    assert add_working_days(dt.date(2025, 4, 10), 15, EASTER_2025) == dt.date(2025, 5, 6)
    assert add_working_days(dt.date(2025, 4, 10), 15, set()) == dt.date(2025, 5, 1)


def test_it_knows_the_clinic_day_is_not_the_utc_day(time_machine):
    # 23:30 UTC on 1 July is already 2 July in London (BST).
    time_machine.move_to(dt.datetime(2025, 7, 1, 23, 30, tzinfo=dt.UTC), tick=False)

    assert clinic_today() == dt.date(2025, 7, 2)


def test_it_builds_clinic_wall_clock_times_on_both_sides_of_a_dst_change():
    winter = clinic_datetime(dt.date(2025, 3, 29), dt.time(9, 0))
    summer = clinic_datetime(dt.date(2025, 3, 31), dt.time(9, 0))

    assert winter.astimezone(dt.UTC).time() == dt.time(9, 0)
    assert summer.astimezone(dt.UTC).time() == dt.time(8, 0)
