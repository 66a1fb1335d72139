"""Forms of the patient-facing link pages (no login)."""

from datetime import date, datetime

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.phones import phone_clean

DAY_FIRST_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y"]
MONTH_FIRST_FORMATS = ["%m/%d/%Y", "%Y-%m-%d", "%m-%d-%Y"]
#: Where people write month/day/year (the site's public-holiday country says where it is).
MONTH_FIRST_COUNTRIES = frozenset({"US"})


def writes_month_first(country: str) -> bool:
    return country.upper() in MONTH_FIRST_COUNTRIES


class DateOfBirthForm(forms.Form):
    """The date of birth as people write it where the visit's site is: day/month/year,
    or month/day/year at a US site; year-month-day (ISO) anywhere. The example is nobody's
    birthday in the demo clinic, and its day is past 12 so it shows which comes first."""

    date_of_birth = forms.CharField(
        label=_("Your date of birth"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "bday", "inputmode": "numeric"}),
    )

    def __init__(self, *args, month_first: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.month_first = month_first
        self.fields["date_of_birth"].help_text = (
            _("Month, day and year, for example 09/23/1975.")
            if month_first
            else _("Day, month and year, for example 23/09/1975.")
        )

    def clean_date_of_birth(self) -> date:
        text = self.cleaned_data["date_of_birth"].strip()
        for fmt in MONTH_FIRST_FORMATS if self.month_first else DAY_FIRST_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date)
            except ValueError:
                continue
        raise forms.ValidationError(
            _("Enter your date of birth as month/day/year, for example 09/23/1975.")
            if self.month_first
            else _("Enter your date of birth as day/month/year, for example 23/09/1975.")
        )


class EscortForm(forms.Form):
    name = forms.CharField(label=_("Name of the person taking you home"), max_length=100)
    phone = forms.CharField(
        label=_("Their phone number"),
        max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )

    def clean_phone(self) -> str:
        # Checked here too (the service checks it again), so a wrong phone is said at
        # once beside a missing name, not on the next try.
        return phone_clean(self.cleaned_data["phone"])


class RescheduleForm(forms.Form):
    note = forms.CharField(
        label=_("When would suit you? (optional)"),
        help_text=_("For example: any weekday morning after the 20th."),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ConfirmForm(forms.Form):
    """A button only: the action needs no input."""
