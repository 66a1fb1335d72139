"""Forms of the patient-facing link pages (no login)."""

from datetime import date, datetime

from django import forms
from django.utils.translation import gettext_lazy as _

DOB_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%d-%m-%Y"]


class DateOfBirthForm(forms.Form):
    date_of_birth = forms.CharField(
        label=_("Your date of birth"),
        help_text=_("Day, month and year, for example 12/04/1961."),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "bday", "inputmode": "numeric"}),
    )

    def clean_date_of_birth(self) -> date:
        text = self.cleaned_data["date_of_birth"].strip()
        for fmt in DOB_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()  # noqa: DTZ007 (a calendar date)
            except ValueError:
                continue
        raise forms.ValidationError(
            _("Enter your date of birth as day/month/year, for example 12/04/1961.")
        )


class EscortForm(forms.Form):
    name = forms.CharField(label=_("Name of the person taking you home"), max_length=100)
    phone = forms.CharField(
        label=_("Their phone number"),
        max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )


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
