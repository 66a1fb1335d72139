"""Forms of the results follow-up: the sample at completion, results, review,
telling the patient, and the worklist's filters. Validation only, no side effects."""

from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row, Submit
from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField, BoundedDateTimeField
from clinic.pdf import PdfRefused, pdf_check
from procedures.catalog.clock import clinic_today
from procedures.catalog.models import TestType
from procedures.catalog.resources import Provider, works_at
from procedures.prep.facts import plan_of
from procedures.results.models import (
    NoSampleReason,
    SpecimenSide,
    SpecimenSite,
    TestOrder,
    TestResult,
)
from procedures.results.orders import takes_no_sample

PDF_MAGIC = b"%PDF-"


def _local_input(value) -> str:
    # Forms hand widgets naive clinic-time values (DateTimeField.prepare_value).
    if value and timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.strftime("%Y-%m-%dT%H:%M") if value else ""


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value):
        if hasattr(value, "tzinfo"):
            return _local_input(value)
        return value


def datetime_field(label, **kwargs) -> forms.DateTimeField:
    return BoundedDateTimeField(label=label, widget=DateTimeLocalInput(), **kwargs)


class SampleForm(forms.Form):
    """What was taken, where from and when: one test order per ticked test. A visit
    that takes no sample, or where none was obtained, ends with the reason instead."""

    test_types = forms.ModelMultipleChoiceField(
        label=_("Tests on the sample"),
        queryset=TestType.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    specimen_site = forms.ChoiceField(
        label=_("Specimen site"),
        choices=[("", _("Choose a site")), *SpecimenSite.choices],
        required=False,
    )
    specimen_side = forms.ChoiceField(
        label=_("Side"), choices=[("", _("Not applicable")), *SpecimenSide.choices], required=False
    )
    site_confirmed = forms.BooleanField(
        label=_("The site or side differs from the plan: I confirm where the sample was taken"),
        required=False,
    )
    site_reason = forms.CharField(
        label=_("Why this site"),
        max_length=200,
        required=False,
        help_text=_("Needed where the clinical rules ask for a reason (the breastbone, a child)."),
    )
    collected_at = datetime_field(_("Collected at"), required=False)
    sent_at = datetime_field(
        _("Sent to lab at"), required=False, help_text=_("Leave empty if not sent yet.")
    )
    accession_number = forms.CharField(
        label=_("Lab accession number"), max_length=40, required=False
    )
    no_sample_reason = forms.ChoiceField(
        label=_("No sample taken"),
        choices=[("", _("A sample was taken")), *NoSampleReason.choices],
        required=False,
        help_text=_("The visit ends without test orders; the reason goes on its timeline."),
    )
    no_sample_note = forms.CharField(label=_("What happened"), max_length=200, required=False)

    def __init__(self, *args, appointment, **kwargs):
        procedure = appointment.procedure_type
        default = list(procedure.default_tests.filter(is_active=True))
        self.takes_no_sample = takes_no_sample(appointment)
        # The site and side the physician set on the prep plan (same codes).
        plan = plan_of(appointment)
        self.planned = (
            ", ".join(
                str(choices(value).label)
                for choices, value in ((SpecimenSite, plan.site), (SpecimenSide, plan.side))
                if value in choices.values
            )
            if plan.site
            else ""
        )
        planned_site = (
            plan.site if plan.site in SpecimenSite.values else SpecimenSite.POSTERIOR_ILIAC
        )
        kwargs.setdefault(
            "initial",
            {
                "test_types": default,
                "collected_at": timezone.now(),
                "specimen_site": "" if self.takes_no_sample else planned_site,
                "specimen_side": plan.side if plan.side in SpecimenSide.values else "",
                "no_sample_reason": NoSampleReason.NOT_NEEDED if self.takes_no_sample else "",
            },
        )
        super().__init__(*args, **kwargs)
        ids = [t.pk for t in default] + list(
            procedure.optional_tests.filter(is_active=True).values_list("pk", flat=True)
        )
        self.fields["test_types"].queryset = TestType.objects.filter(pk__in=ids).order_by("name")
        self.default_ids = {t.pk for t in default}
        self.helper = FormHelper()
        no_sample = Fieldset(
            _("Or: no sample"), Row(Column("no_sample_reason"), Column("no_sample_note"))
        )
        specimen = [
            "test_types",
            Fieldset(
                _("The specimen"),
                Row(Column("specimen_site"), Column("specimen_side")),
                "site_confirmed",
                "site_reason",
            ),
            Row(Column("collected_at"), Column("sent_at"), Column("accession_number")),
        ]
        if self.takes_no_sample:
            # Nothing is taken: the reason comes first; tests stay possible (rarely).
            self.helper.layout = Layout(
                no_sample, *(specimen if ids else []), Submit("submit", _("Complete the visit"))
            )
        else:
            self.helper.layout = Layout(
                *specimen, no_sample, Submit("submit", _("Complete procedure and open test orders"))
            )

    def clean_collected_at(self):
        value = self.cleaned_data["collected_at"]
        if value and value > timezone.now():
            raise forms.ValidationError(
                _("The collection time is in the future. Enter when it was taken.")
            )
        return value

    def clean(self):
        data = super().clean()
        if data.get("test_types") and not data.get("no_sample_reason"):
            if not data.get("specimen_site") and "specimen_site" not in self.errors:
                self.add_error("specimen_site", _("Choose the site the sample was taken from."))
            if not data.get("collected_at") and "collected_at" not in self.errors:
                self.add_error("collected_at", _("Enter when the sample was taken."))
        return data


class ResultForm(forms.ModelForm):
    class Meta:
        model = TestResult
        fields = [
            "interpretation",
            "cellularity",
            "maturation",
            "iron_stores",
            "infection_signs",
            "malignant_cells",
            "malignancy_type",
            "fibrosis",
            "other_findings",
            "report_text",
            "report_pdf",
            "is_final",
        ]
        widgets = {
            "interpretation": forms.RadioSelect,
            "report_text": forms.Textarea(attrs={"rows": 6}),
            "other_findings": forms.Textarea(attrs={"rows": 2}),
            "report_pdf": forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
        }

    # The latest result on the page when it was opened (0: none): a result logged since
    # (another tab, a colleague) refuses this one instead of amending it unseen.
    seen_result = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A radio group needs no "---------" choice: nothing checked means not chosen.
        self.fields["interpretation"].choices = TestResult.Interpretation.choices
        for name in ("cellularity", "maturation", "iron_stores", "infection_signs"):
            self.fields[name].choices = [("", _("Not assessed")), *self.fields[name].choices[1:]]
        for name in ("malignant_cells", "malignancy_type", "fibrosis"):
            self.fields[name].choices = [("", _("Not assessed")), *self.fields[name].choices[1:]]
        limit = settings.RESULTS_PDF_MAX_BYTES // (1024 * 1024)
        self.fields["report_pdf"].help_text = _("A PDF of at most %(mb)s MB.") % {"mb": limit}
        self.fields["is_final"].initial = False
        self.helper = FormHelper()
        self.helper.layout = Layout(
            "interpretation",
            Fieldset(
                _("Findings"),
                Row(Column("cellularity"), Column("maturation"), Column("iron_stores")),
                Row(
                    Column("infection_signs"), Column("malignant_cells"), Column("malignancy_type")
                ),
                Row(Column("fibrosis")),
                "other_findings",
            ),
            "report_text",
            "report_pdf",
            "is_final",
            "seen_result",
            Submit("submit", _("Log result")),
        )

    def clean_report_text(self) -> str:
        text = self.cleaned_data["report_text"].strip()
        if not text:
            raise forms.ValidationError(_("Enter the report text."))
        return text

    def clean_report_pdf(self):
        upload = self.cleaned_data.get("report_pdf")
        if not upload:
            return upload
        if upload.size > settings.RESULTS_PDF_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s MB; a report may be at most %(max)s MB.")
                % {
                    "size": round(upload.size / (1024 * 1024), 1),
                    "max": settings.RESULTS_PDF_MAX_BYTES // (1024 * 1024),
                }
            )
        head = upload.read(len(PDF_MAGIC))
        upload.seek(0)
        if head != PDF_MAGIC:
            raise forms.ValidationError(
                _("This file is not a PDF. Upload the lab's report as a PDF.")
            )
        try:
            pdf_check(upload)  # parsed: encrypted, script-bearing, unreadable refused
        except PdfRefused as exc:
            raise forms.ValidationError(str(exc)) from exc
        return upload

    def clean(self):
        data = super().clean()
        if data.get("malignancy_type") and data.get("malignant_cells") != "present":
            self.add_error(
                "malignancy_type",
                _("A type of malignant cells needs malignant cells present."),
            )
        return data


class SeenResultForm(forms.Form):
    """A form about the result on the page: it carries the latest result there when it
    was opened, so that a review or a telling is of the result the person read
    (invariant 34; the service refuses when a newer one was logged since)."""

    seen_result = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def clean(self):
        data = super().clean()
        if data.get("seen_result") is None:
            # A page from before this field, or a hand-made request: which result was
            # read is unknown, so nothing can be signed off. (Said once, in words: a
            # hidden field's own error would name a field nobody sees.)
            self.errors.pop("seen_result", None)
            self.add_error(
                None, _("Read the result on this page, then submit again. Nothing was changed.")
            )
        return data


class ReviewForm(SeenResultForm):
    action_planned = forms.CharField(
        label=_("Action planned"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("e.g. discuss at clinic, refer to haematology, repeat in 3 months."),
    )
    tell_by = forms.ChoiceField(
        label=_("How the patient hears"),
        choices=[
            ("", _("As usual: I call for an abnormal or genetic result, else the email")),
            ("email", _("Email: \u201cyour results are ready, please contact us\u201d")),
            ("call", _("I will call the patient (a dated call task, no email)")),
        ],
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_action_planned(self) -> str:
        text = self.cleaned_data["action_planned"].strip()
        if not text:
            raise forms.ValidationError(_("Say what happens next."))
        return text


class CommunicateForm(SeenResultForm):
    how = forms.ChoiceField(
        label=_("How the patient was told"),
        choices=TestOrder.CommunicatedHow.choices,
        widget=forms.RadioSelect,
    )
    at = datetime_field(_("When"))

    def __init__(self, *args, **kwargs):
        kwargs["initial"] = {"at": timezone.now(), **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)

    def clean_at(self):
        value = self.cleaned_data["at"]
        if value > timezone.now():
            raise forms.ValidationError(_("The time the patient was told is in the future."))
        return value


class SentForm(forms.Form):
    sent_at = datetime_field(_("Sent to lab at"))
    accession_number = forms.CharField(
        label=_("Lab accession number"), max_length=40, required=False
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"sent_at": timezone.now()})
        super().__init__(*args, **kwargs)


class ReassignForm(forms.Form):
    responsible = forms.ModelChoiceField(
        label=_("Responsible physician"),
        queryset=Provider.objects.filter(is_active=True),
        empty_label=_("Choose a physician"),
    )


def _reason_field():
    return forms.ChoiceField(
        label=_("Why"),
        choices=[("", _("Choose a reason")), *TestOrder.CancelReason.choices],
        error_messages={"required": _("Choose why the test is cancelled.")},
    )


class CancelForm(forms.Form):
    """Cancel a test that will not be run, with its reason."""

    reason = _reason_field()
    note = forms.CharField(label=_("Note (optional)"), max_length=200, required=False)


class ReplaceForm(forms.Form):
    """Cancel a test and open its replacement: the lab runs it again, or a new sample
    is taken (the front desk books the patient)."""

    reason = _reason_field()
    recollect = forms.BooleanField(
        label=_("A new sample must be taken (the front desk books the patient)"), required=False
    )
    collect_by = BoundedDateField(
        label=_("New sample expected by"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Leave empty for two working days from today."),
    )
    note = forms.CharField(label=_("Note (optional)"), max_length=200, required=False)

    def clean(self):
        data = super().clean()
        if data.get("collect_by") and not data.get("recollect"):
            self.add_error("collect_by", _("A date is only needed when a new sample is taken."))
        return data


class WorklistFilterForm(forms.Form):
    """The worklist's filters: ids and codes only, never anything about a patient.

    The tests, labs and physicians are plain choices read with two small queries (the
    test types give the labs too), so a filter is an id and the page renders no model
    objects for them."""

    SCOPES = [("mine", _("My results")), ("all", _("All results"))]
    STATES = [
        ("", _("Any state")),
        ("pending", _("Waiting for the result")),
        ("overdue", _("Overdue")),
        ("final", _("Final, not reviewed")),
        ("reviewed", _("Reviewed, patient not told")),
    ]
    scope = forms.ChoiceField(label=_("Show"), choices=SCOPES, required=False)
    test_type = forms.TypedChoiceField(
        label=_("Test"), coerce=int, empty_value=None, required=False
    )
    lab = forms.ChoiceField(label=_("Lab"), required=False)
    physician = forms.TypedChoiceField(
        label=_("Physician"), coerce=int, empty_value=None, required=False
    )
    state = forms.ChoiceField(label=_("State"), choices=STATES, required=False)

    def __init__(self, *args, site_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        tests = list(TestType.objects.values_list("pk", "name", "lab"))
        self._choice_field("test_type").choices = [("", _("Any test"))] + [
            (pk, name) for pk, name, _lab in tests
        ]
        self._choice_field("lab").choices = [("", _("Any lab"))] + [
            (lab, lab) for lab in sorted({lab for _pk, _name, lab in tests if lab})
        ]
        # The physicians of the site the page shows (every one on "All sites"): a
        # network has hundreds, a site tens.
        physicians = Provider.objects.filter(works_at(site_id)).values_list("pk", "display_name")
        self._choice_field("physician").choices = [("", _("Any physician")), *physicians]
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select"

    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        if not isinstance(field, forms.ChoiceField):  # never: all of them are
            raise TypeError(name)
        return field


class AnalyticsForm(forms.Form):
    """The analytics' period, from the query string's `start` and `end` only: either
    left out (or blank) is the page's own default, the DEFAULT_DAYS to today, so a link
    that names neither, or a parameter of another page (?site=1), is not an error."""

    DEFAULT_DAYS = 90

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

    def clean(self):
        data = super().clean()
        if "start" in self.errors or "end" in self.errors:
            return data
        data["end"] = data.get("end") or clinic_today()
        data["start"] = data.get("start") or data["end"] - timedelta(days=self.DEFAULT_DAYS)
        if data["end"] < data["start"]:
            self.add_error("end", _("The end date must not be before the start date."))
        return data
