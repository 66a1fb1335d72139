"""Typed times on a day the clocks change: refused in words naming the change."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django import forms
from django.utils import timezone

from clinic.bounds import BoundedDateTimeField


class When(forms.Form):
    at = BoundedDateTimeField()


@pytest.mark.parametrize(
    ("zone", "typed", "message"),
    [
        (
            "Europe/London",
            "2027-03-28T01:30",
            "The clocks go forward at 01:00 on Sunday 28 March 2027: 01:00\u201302:00 does "
            "not exist. Enter the time as the clock showed it.",
        ),
        (
            "Europe/London",
            "2027-10-31T01:30",
            "The clocks go back at 02:00 on Sunday 31 October 2027: 01:00\u201302:00 happens "
            "twice. Enter a time outside it.",
        ),
        (
            "America/New_York",
            "2027-03-14T02:15",
            "The clocks go forward at 02:00 on Sunday 14 March 2027: 02:00\u201303:00 does "
            "not exist. Enter the time as the clock showed it.",
        ),
        (
            "America/New_York",
            "2027-11-07T01:05",
            "The clocks go back at 02:00 on Sunday 7 November 2027: 01:00\u201302:00 happens "
            "twice. Enter a time outside it.",
        ),
    ],
)
def test_a_time_a_clock_change_skips_or_repeats_is_refused_naming_the_change(zone, typed, message):
    """QA pass 1, #11: the sample form showed Django's "couldn't be interpreted in time
    zone Europe/London; it may be ambiguous or it may not exist"."""
    with timezone.override(ZoneInfo(zone)):
        form = When({"at": typed})
        assert form.errors["at"] == [message]


def test_the_hours_either_side_are_read_as_usual():
    with timezone.override(ZoneInfo("Europe/London")):
        before, after = When({"at": "2027-03-28T00:59"}), When({"at": "2027-03-28T02:00"})
        assert before.is_valid() and after.is_valid()
    # A minute apart in real time (subtracted in UTC: within one zone Python subtracts
    # wall clocks).
    gap = after.cleaned_data["at"].astimezone(dt.UTC) - before.cleaned_data["at"].astimezone(dt.UTC)
    assert gap == dt.timedelta(minutes=1)
