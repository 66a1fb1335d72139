"""Dates and ids from query strings and forms, kept within a sane range.

A date far outside the clinic's life (year 1 or 9999) parses, and then
overflows the first time a day is added to it (OverflowError: a 500). Every date
a page takes from its address or a filter form goes through here: outside
1900-2100 it is refused with a message and 400 (Bad Request).
"""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo

from django import forms
from django.core.exceptions import BadRequest
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2100, 12, 31)
OUT_OF_RANGE = gettext_lazy("Choose a date between 1900 and 2100.")


class DateOutOfRange(BadRequest):
    """A date parameter outside MIN_DATE..MAX_DATE; its message is safe to show."""


def in_range(day: date) -> bool:
    return MIN_DATE <= day <= MAX_DATE


def query_date(request: HttpRequest, name: str, *, default: Callable[[], date]) -> date:
    """The date in the query parameter `name`: `default()` when absent or not a
    date (the page falls back to today), DateOutOfRange when a date out of range."""
    text = request.GET.get(name, "")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return default()
    if not in_range(day):
        raise DateOutOfRange(str(OUT_OF_RANGE))
    return day


class BoundedDateField(forms.DateField):
    """A form's DateField that refuses dates outside MIN_DATE..MAX_DATE in words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validators += [
            MinValueValidator(MIN_DATE, message=OUT_OF_RANGE),
            MaxValueValidator(MAX_DATE, message=OUT_OF_RANGE),
        ]


# Primary keys are PostgreSQL bigints: no id is larger.
MAX_ID = 2**63 - 1


def query_id(text: str) -> int | None:
    """The id in a query parameter or hidden field: plain digits within a primary
    key's range, else None (the page acts as if none was given). `str.isdigit()`
    alone passes "²" (int() then fails) and numbers past any bigint."""
    if text.isascii() and text.isdigit() and int(text) <= MAX_ID:
        return int(text)
    return None


def query_text(text: str) -> str:
    """Text from a query parameter to look something up by: "" when it holds a NUL,
    which no stored text can (PostgreSQL refuses it in a query: a 500)."""
    return "" if "\x00" in text else text


def _real(moment: datetime, tz: tzinfo) -> bool:
    """Whether the wall-clock `moment` (naive) is shown once, and only once, in `tz`."""
    first, second = moment.replace(tzinfo=tz), moment.replace(tzinfo=tz, fold=1)
    there_and_back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return there_and_back == moment and first.utcoffset() == second.utcoffset()


def clock_change_refusal(
    moment: datetime, tz: tzinfo, *, skipped_then: str = "", repeated_then: str = ""
) -> str:
    """Why the wall-clock `moment` (naive) cannot be read in `tz`, naming the change:
    skipped when the clocks go forward, shown twice when they go back. `skipped_then`,
    `repeated_then`: what to do instead (default: choose another time; a time already
    past, such as a sample's collection, is entered as the clock showed it). The one
    wording of a clock change, for every form that reads a typed time
    (`procedures.catalog.clock` too)."""
    step = timedelta(minutes=1)
    start = moment.replace(second=0, microsecond=0)
    while not _real(start - step, tz) and moment - start < timedelta(hours=3):
        start -= step
    end = start
    while not _real(end, tz) and end - start < timedelta(hours=3):
        end += step
    words = {
        "day": formats.date_format(moment.date(), "l j F Y"),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
    }
    if moment.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment:
        then = skipped_then
        said = (
            _(
                "The clocks go forward at %(start)s on %(day)s: %(start)s\u2013%(end)s does "
                "not exist."
            )
            % words
        )
    else:
        then = repeated_then
        said = (
            _("The clocks go back at %(end)s on %(day)s: %(start)s\u2013%(end)s happens twice.")
            % words
        )
    return f"{said} {then or _('Choose another time.')}"


class BoundedDateTimeField(forms.DateTimeField):
    """A form's DateTimeField that refuses days outside MIN_DATE..MAX_DATE in words, and
    a wall-clock time a clock change skips or repeats in words naming the change (not
    Django's "couldn't be interpreted in time zone ...; it may be ambiguous")."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            if exc.code != "ambiguous_timezone" or not exc.params:
                raise
            raise forms.ValidationError(
                clock_change_refusal(
                    exc.params["datetime"],
                    exc.params["current_timezone"],
                    skipped_then=_("Enter the time as the clock showed it."),
                    repeated_then=_("Enter a time outside it."),
                ),
                code="clock_change",
            ) from exc

    def validate(self, value):
        super().validate(value)
        if value is not None and not in_range(value.date()):
            raise forms.ValidationError(OUT_OF_RANGE, code="out_of_range")


def bad_request(request: HttpRequest, exception=None) -> HttpResponseBadRequest:
    """handler400: the site's page, with the reason when it is ours to give."""
    message = str(exception) if isinstance(exception, DateOutOfRange) else ""
    return HttpResponseBadRequest(
        render_to_string(
            "400.html",
            {"message": message or _("The address of this page is not valid.")},
            request=request,
        )
    )
