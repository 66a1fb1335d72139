from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Field, Fieldset, Layout, Row, Submit
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.forms.models import construct_instance
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.phones import phone_clean

from .models import DATE_INPUT_FORMATS, DETAILS_FIELDS, Allergy, BloodResult, Patient

DATE_PICKER = {"type": "date"}

# A stated reason someone can check later (an override, a merge): not "x".
REASON_MIN_LENGTH = 10


def _date_widget() -> forms.DateInput:
    # The browser's date picker always sends YYYY-MM-DD; typed dates are read day first.
    return forms.DateInput(attrs=DATE_PICKER, format="%Y-%m-%d")


class PatientForm(forms.ModelForm):
    # A one-time key per registration form: posted twice, it finds the first record.
    submission_key = forms.UUIDField(label=_("Form"), widget=forms.HiddenInput, required=False)
    # An edit: the details as the page showed them (`services.details_seen`), so a save
    # over a colleague's change since is refused (QA 1, #6). Not required: a page opened
    # before it was.
    seen_details = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    different_person = forms.BooleanField(
        label=_("I have checked: this is a different person"), required=False
    )
    different_person_reason = forms.CharField(
        label=_("How do you know this is a different person?"),
        max_length=300,
        required=False,
        help_text=_("For example: a different address and NHS number; twins. Recorded."),
    )

    class Meta:
        model = Patient
        fields = DETAILS_FIELDS
        widgets = {
            "date_of_birth": _date_widget(),
            "address": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, submit_label=None, registering=False, duplicates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["date_of_birth"].input_formats = DATE_INPUT_FORMATS
        self.registering = registering
        self.fields["phone"].widget.attrs["autocomplete"] = "tel"
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["address"].widget.attrs["autocomplete"] = "street-address"
        # Under the "Next of kin or emergency contact" heading, beside "Relationship"
        # and "Their phone number": the model's own label would repeat the heading.
        self.fields["next_of_kin_name"].label = _("Their name")
        self.submit_label = submit_label or _("Save patient")
        self.helper = FormHelper()
        self.ask_if_different(duplicates)

    def ask_if_different(self, duplicates) -> None:
        """Lay the form out, with the "different person" decision first when the
        details look like other patients' (`duplicates`)."""
        decision = []
        if duplicates:
            decision = [
                Fieldset(
                    _("Is this a different person?"),
                    HTML('{% include "patients/_duplicates.html" %}'),
                    "different_person",
                    "different_person_reason",
                    css_class="border border-warning rounded p-3 mb-3",
                )
            ]
        self.helper.layout = Layout(
            *decision,
            Field("submission_key"),
            Field("seen_details"),
            Fieldset(
                _("Identity"),
                Row(Column("given_name"), Column("family_name")),
                Row(Column("date_of_birth"), Column("sex")),
            ),
            Fieldset(
                _("Contact"),
                Row(Column("email"), Column("phone")),
                "address",
                Row(Column("preferred_language")),
                "email_reminders",
                "details_in_email",
            ),
            Fieldset(
                _("Next of kin or emergency contact"),
                Row(
                    Column("next_of_kin_name"),
                    Column("next_of_kin_relationship"),
                    Column("next_of_kin_phone"),
                ),
            ),
            Fieldset(
                _("Referral"),
                Row(Column("referring_clinician"), Column("indication")),
                "indication_detail",
            ),
            Fieldset(_("Clinical flags"), "bleeding_disorder"),
            Submit("submit", self.submit_label),
        )

    def _phone(self, name: str) -> str:
        """A phone number as typed, if one the escort's check takes (clinic/phones.py): "abc",
        "-1" or an emoji is refused in words (QA 1, #8). Kept as typed, as the duplicate
        check and the pages read it; optional, as the model says."""
        text = self.cleaned_data[name].strip()
        if text:
            phone_clean(text)  # ValidationError in words
        return text

    def clean_phone(self) -> str:
        return self._phone("phone")

    def clean_next_of_kin_phone(self) -> str:
        return self._phone("next_of_kin_phone")

    def clean(self):
        data = super().clean()
        if (
            self.registering
            and not data.get("submission_key")
            and "submission_key" not in self.errors
        ):
            self.add_error(
                None, _("This form could not be used: check the details and register again.")
            )
        reason = " ".join((data.get("different_person_reason") or "").split())
        if data.get("different_person") and len(reason) < REASON_MIN_LENGTH:
            # "x" is not a reason anyone can check later: a duplicate record splits a
            # patient's history, so the override says how it was told apart.
            self.add_error(
                "different_person_reason",
                _("Say why this is a different person, in a few words (at least %(n)s letters).")
                % {"n": REASON_MIN_LENGTH},
            )
        return data

    @property
    def stated_reason(self) -> str:
        """The stated reason, only when the box is ticked."""
        if not self.cleaned_data.get("different_person"):
            return ""
        return self.cleaned_data.get("different_person_reason", "").strip()

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
        help_text=_(
            "Part of a name, part of an MRN, or a date of birth (14/03/1965 or 14 Mar 1965)."
        ),
    )


def _plausible_range_only(form: forms.ModelForm, *names: str) -> None:
    """A decimal field's own "no more than 4 digits in total" says nothing useful about
    a weight of 10000: keep the check of decimal places and let the model's plausible
    range ("more than 350 kg cannot be right") say what is wrong."""
    for name in names:
        field = form.fields[name]
        model_field = form._meta.model._meta.get_field(name)
        ranges = [v for v in model_field.validators if not isinstance(v, DecimalValidator)]
        field.validators = [
            *ranges,
            *(
                DecimalValidator(None, v.decimal_places)
                for v in field.validators
                if isinstance(v, DecimalValidator)
            ),
        ]


class MeasurementsForm(forms.ModelForm):
    """Weight, height, ASA class and whether a pregnancy check applies."""

    class Meta:
        model = Patient
        fields = ["weight_kg", "height_cm", "measured_on", "asa_class", "pregnancy"]
        widgets = {"measured_on": _date_widget()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measured_on"].input_formats = DATE_INPUT_FORMATS
        self.fields["weight_kg"].widget.attrs.update({"step": "0.1", "inputmode": "decimal"})
        self.fields["height_cm"].widget.attrs.update({"step": "0.1", "inputmode": "decimal"})
        _plausible_range_only(self, "weight_kg", "height_cm")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("weight_kg"), Column("height_cm"), Column("measured_on")),
            Row(Column("asa_class"), Column("pregnancy")),
        )

    def clean(self):
        data = super().clean()
        measured_on = data.get("measured_on")
        born = self.instance.date_of_birth
        if measured_on and measured_on > timezone.localdate():
            self.add_error("measured_on", _("The date of the measurement cannot be in the future."))
        elif measured_on and born and measured_on < born:
            self.add_error(
                "measured_on",
                _("The measurement cannot be from before the patient was born (%(born)s).")
                % {"born": born.strftime("%d/%m/%Y")},
            )
        elif (
            (data.get("weight_kg") or data.get("height_cm"))
            and not measured_on
            and "measured_on" not in self.errors  # "Enter a valid date." says it already
        ):
            self.add_error("measured_on", _("Enter the date of the weight and height."))
        return data

    def _post_clean(self):
        # Only these fields' own rules apply: the rest of the record (its email,
        # say) is not this form's to judge.
        self.instance = construct_instance(self, self.instance, self._meta.fields)
        others = [f.name for f in Patient._meta.fields if f.name not in self.fields]
        try:
            self.instance.clean_fields(exclude=others)
        except ValidationError as error:
            self._update_errors(error)


class AllergyForm(forms.ModelForm):
    class Meta:
        model = Allergy
        fields = ["substance", "substance_other", "reaction", "severity"]
        help_texts = {"substance_other": _("Only for 'something else'.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("substance"), Column("substance_other")),
            Row(Column("reaction"), Column("severity")),
        )

    def clean(self):
        data = super().clean()
        if (
            data.get("substance") == Allergy.Substance.OTHER
            and not (data.get("substance_other") or "").strip()
        ):
            self.add_error("substance_other", _("Name the substance."))
        return data


class BloodResultForm(forms.ModelForm):
    class Meta:
        model = BloodResult
        fields = ["taken_on", "platelets", "inr"]
        widgets = {"taken_on": _date_widget()}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["taken_on"].input_formats = DATE_INPUT_FORMATS
        self.fields["inr"].widget.attrs.update({"step": "0.01", "inputmode": "decimal"})
        _plausible_range_only(self, "inr")

    def _post_clean(self):
        super()._post_clean()
        # A value typed but out of range is said under its own field: not also "enter
        # the platelet count, the INR, or both" (the model saw neither).
        typed = any(
            str(self.data.get(self.add_prefix(n), "")).strip() for n in ("platelets", "inr")
        )
        missing = str(BloodResult._meta.constraints[0].violation_error_message)
        if typed and missing in self.errors.get("platelets", []):
            others = [message for message in self.errors["platelets"] if message != missing]
            if others:
                self.errors["platelets"] = self.error_class(others)
            else:
                del self.errors["platelets"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(Row(Column("taken_on"), Column("platelets"), Column("inr")))


class MergeForm(forms.Form):
    survivor_mrn = forms.CharField(label=_("MRN of the record to keep"), max_length=20)
    merged_mrn = forms.CharField(label=_("MRN of the duplicate record"), max_length=20)
    reason = forms.CharField(
        label=_("Why are these the same person?"),
        max_length=300,
        help_text=_("For example: same person registered twice, confirmed by phone. Recorded."),
    )

    def _patient(self, name: str) -> Patient | None:
        mrn = self.cleaned_data.get(name, "").strip().upper()
        patient = Patient.objects.filter(mrn=mrn).first()
        if patient is None:
            self.add_error(name, _("No patient has this MRN."))
        elif patient.merged_into_id:
            self.add_error(name, _("This record was already merged into another one."))
        return patient

    def clean(self):
        # Every problem at once: an unknown MRN was said only once the reason was fixed
        # (QA pass 1, #11). Each check runs on the fields that parsed.
        data = super().clean()
        for name, key in (("survivor_mrn", "survivor"), ("merged_mrn", "merged")):
            if name not in self.errors:
                data[key] = self._patient(name)
        both = "survivor_mrn" not in self.errors and "merged_mrn" not in self.errors
        if both and data["survivor"].pk == data["merged"].pk:
            self.add_error("merged_mrn", _("Enter two different MRNs."))
        if "reason" not in self.errors and (
            len(" ".join(data.get("reason", "").split())) < REASON_MIN_LENGTH
        ):
            self.add_error(
                "reason",
                _("Say why these are the same person, in a few words (at least %(n)s letters).")
                % {"n": REASON_MIN_LENGTH},
            )
        return data


class MergeChoicesForm(forms.Form):
    """Which of two differing contact details the record kept keeps: one radio group per
    detail both records hold (`merging.contact_conflicts`), its own by default."""

    KEPT, DUPLICATE = "kept", "duplicate"
    LABELS = {"email": _("Email"), "phone": _("Phone"), "address": _("Address")}

    def __init__(self, *args, conflicts: list[tuple[str, str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.conflicts = conflicts
        for name, kept, theirs in conflicts:
            self.fields[f"{name}_from"] = forms.ChoiceField(
                label=self.LABELS[name],
                choices=[
                    (self.KEPT, _("Keep %(value)s (record kept)") % {"value": kept}),
                    (self.DUPLICATE, _("Use %(value)s (duplicate)") % {"value": theirs}),
                ],
                initial=self.KEPT,
                widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
                error_messages={
                    "required": _("Choose which one the record kept keeps."),
                    "invalid_choice": _("Choose which one the record kept keeps."),
                },
            )

    def take_from_merged(self) -> list[str]:
        """The details chosen from the duplicate."""
        return [
            name
            for name, _kept, _theirs in self.conflicts
            if self.cleaned_data.get(f"{name}_from") == self.DUPLICATE
        ]
