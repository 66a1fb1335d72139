from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row, Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from .models import DATE_INPUT_FORMATS, Patient


class PatientForm(forms.ModelForm):
    class Meta:
        model = Patient
        fields = [
            "given_name",
            "family_name",
            "date_of_birth",
            "sex",
            "email",
            "phone",
            "preferred_language",
            "email_reminders",
            "details_in_email",
            "bleeding_disorder",
        ]
        widgets = {"date_of_birth": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, submit_label=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Day first, as the clinic writes dates (Django's "en" default would read
        # 03/04/1961 as 4 March); the date picker itself always sends YYYY-MM-DD.
        self.fields["date_of_birth"].input_formats = DATE_INPUT_FORMATS
        self.fields["phone"].widget.attrs["autocomplete"] = "tel"
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.helper = FormHelper()
        self.helper.layout = Layout(
            Fieldset(
                _("Identity"),
                Row(Column("given_name"), Column("family_name")),
                Row(Column("date_of_birth"), Column("sex")),
            ),
            Fieldset(
                _("Contact"),
                Row(Column("email"), Column("phone")),
                Row(Column("preferred_language")),
                "email_reminders",
                "details_in_email",
            ),
            Fieldset(_("Clinical flags"), "bleeding_disorder"),
            Submit("submit", submit_label or _("Save patient")),
        )

    def _post_clean(self):
        # The model's own rule sees no address when the one typed was malformed,
        # and would add "Enter an email address" under "Enter a valid email
        # address": keep only the field's own message.
        field_errors = len(self.errors.get("email", ()))
        super()._post_clean()
        if field_errors:
            del self.errors["email"][field_errors:]


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a patient"),
        max_length=100,
        help_text=_("Part of a name, an MRN, or a date of birth (YYYY-MM-DD)."),
    )
