"""Forms of the lab pages: no side effects (the per-kind findings forms are in kinds.py)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from procedures.results.models import TestResult


class ResultHeaderForm(forms.Form):
    """What every result says besides its findings."""

    interpretation = forms.ChoiceField(
        label=_("Interpretation"), choices=TestResult.Interpretation.choices
    )
    report_text = forms.CharField(label=_("Report"), widget=forms.Textarea(attrs={"rows": 4}))
    is_final = forms.BooleanField(label=_("Final result"), required=False, initial=True)


class MatchForm(forms.Form):
    order = forms.IntegerField(
        label=_("Order number"),
        min_value=1,
        help_text=_("Check the patient's MRN, name and date of birth on the order first."),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is this result rejected?"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
