from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField
from procedures.catalog.models import ProcedureType

DEFAULT_DAYS = 28
MAX_DAYS = 366


class DashboardForm(forms.Form):
    """The dashboard's filters: a period of clinic days (at most a year) and a procedure."""

    start = BoundedDateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    end = BoundedDateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}),
    )
    procedure_type = forms.ModelChoiceField(
        label=_("Procedure"),
        queryset=ProcedureType.objects.order_by("name"),
        required=False,
        empty_label=_("All procedures"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    @staticmethod
    def default_period(today: date) -> tuple[date, date]:
        """The last four weeks, today included."""
        return today - timedelta(days=DEFAULT_DAYS - 1), today

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # A blank date is the default period's (the last four weeks to today).
        _start, default_end = self.default_period(self.today)
        if "end" in data and data["end"] is None:
            data["end"] = default_end
        if "start" in data and data["start"] is None and data.get("end"):
            data["start"] = data["end"] - timedelta(days=DEFAULT_DAYS - 1)
        start, end = data.get("start"), data.get("end")
        if start and end and end < start:
            self.add_error("end", _("The end date must not be before the start date."))
        elif start and end and (end - start).days + 1 > MAX_DAYS:
            self.add_error(
                "end", _("Choose a period of at most a year (%(days)s days).") % {"days": MAX_DAYS}
            )
        return data
