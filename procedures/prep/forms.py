"""Forms of the prep page. Validation of shape only; the rules live in the services."""

from datetime import time
from zoneinfo import ZoneInfo

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row, Submit
from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField
from patients.models import Medication
from procedures.catalog.choices import ProcedureSide, ProcedureSite, SedationLevel, TransportMode
from procedures.catalog.clock import clinic_instant, clock_change_refusal
from procedures.prep.models import MedicationHold


def _helper(action: str, submit: str | Promise, *fields, form_id: str) -> FormHelper:
    helper = FormHelper()
    helper.form_action = action
    helper.form_id = form_id
    helper.layout = Layout(*fields, Submit("submit", submit, css_class="mt-2"))
    return helper


class MedicationForm(forms.Form):
    prefix = "med"
    name = forms.CharField(label=_("Medicine"), max_length=120)
    dose = forms.CharField(label=_("Dose and how often"), max_length=120, required=False)
    med_class = forms.ChoiceField(
        label=_("Kind of medicine"), choices=[("", _("Choose…")), *Medication.Class.choices]
    )

    def __init__(self, *args, action: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            action,
            _("Add to the list"),
            Row(Column("name"), Column("dose"), Column("med_class")),
            form_id="medication-form",
        )


class HoldForm(forms.Form):
    prefix = "hold"
    medication = forms.ModelChoiceField(
        label=_("Medicine"), queryset=Medication.objects.none(), empty_label=_("Choose…")
    )
    action = forms.ChoiceField(
        label=_("Decision"), choices=MedicationHold.Action.choices, widget=forms.RadioSelect
    )
    stop_date = BoundedDateField(
        label=_("Last dose on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only when stopping."),
    )
    stop_time = forms.TimeField(
        label=_("at"),
        required=False,
        initial=time(20, 0),
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    resume_guidance = forms.CharField(
        label=_("When to start again"),
        max_length=200,
        required=False,
        help_text=_("For example: the evening after the procedure, unless told otherwise."),
    )

    def __init__(self, *args, patient=None, action: str = "", tz: ZoneInfo | None = None, **kwargs):
        """`tz`: the visit's site's zone, in which the page shows its times and the last
        dose typed is read (QA 3, #7); the page's current zone without it."""
        super().__init__(*args, **kwargs)
        self.tz = tz
        medication = self.fields["medication"]
        if not isinstance(medication, forms.ModelChoiceField):  # never: declared above
            raise TypeError("medication")
        if patient is not None:
            medication.queryset = patient.medications.filter(is_active=True)
        # An instance attribute in place of the method, as Django calls it: label(obj).
        medication.label_from_instance = lambda m: f"{m.name} {m.dose}".strip()  # type: ignore[method-assign,assignment]
        self.helper = _helper(
            action,
            _("Save decision"),
            Row(Column("medication"), Column("action")),
            Row(Column("stop_date"), Column("stop_time"), Column("resume_guidance")),
            form_id="hold-form",
        )

    def clean(self):
        data = super().clean()
        if data.get("action") == MedicationHold.Action.STOP:
            if not data.get("stop_date"):
                self.add_error("stop_date", _("Enter the day of the last dose."))
            else:
                at = data.get("stop_time") or time(20, 0)
                # A time the clocks skip or repeat is asked again (QA 1, #2); the others
                # are real instants.
                if skipped := clock_change_refusal(data["stop_date"], at, self.tz):
                    self.add_error("stop_time", skipped)
                else:
                    data["stop_at"] = clinic_instant(data["stop_date"], at, self.tz)
        data.setdefault("stop_at", None)
        return data


class SedationForm(forms.Form):
    prefix = "sed"
    sedation_level = forms.ChoiceField(label=_("Sedation"), choices=SedationLevel.choices)
    food_fast_hours = forms.IntegerField(label=_("No food for (hours before)"))
    clear_fluid_fast_hours = forms.IntegerField(label=_("No clear fluids for (hours before)"))

    def __init__(self, *args, action: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            action,
            _("Save sedation plan"),
            Row(
                Column("sedation_level"),
                Column("food_fast_hours"),
                Column("clear_fluid_fast_hours"),
            ),
            form_id="sedation-form",
        )


class TransportForm(forms.Form):
    """Getting home: the one place where the escort is entered, changed and confirmed.

    The booking forms no longer ask for the escort, and the appointment page, the day
    sheet and the today board show it read-only with a link here.
    """

    prefix = "tr"
    transport_mode = forms.ChoiceField(
        label=_("How the patient gets home"), choices=TransportMode.choices
    )
    escort_name = forms.CharField(label=_("Escort's name"), max_length=100, required=False)
    escort_phone = forms.CharField(label=_("Escort's phone"), max_length=30, required=False)
    escort_confirmed = forms.BooleanField(
        label=_("The escort has confirmed they will take the patient home"),
        required=False,
        help_text=_("Tick once you have spoken to them (or the patient has confirmed)."),
    )
    escort_take_back = forms.BooleanField(
        label=_("Take the confirmation back: the escort can no longer come"),
        required=False,
    )
    needs_wheelchair = forms.BooleanField(label=_("Needs a wheelchair"), required=False)
    needs_interpreter = forms.BooleanField(label=_("Needs an interpreter"), required=False)
    interpreter_language = forms.CharField(
        label=_("Interpreter language"), max_length=50, required=False
    )

    def __init__(self, *args, action: str = "", confirmed: bool = False, **kwargs):
        """`confirmed`: the stored escort has confirmed. The tick is never pre-filled
        (QA 3, #4): a ticked box that came with the page, posted with a new name or
        phone, would confirm someone nobody spoke to. The confirmation is shown as
        text above the form, an untouched box keeps it, and taking it back is a box
        of its own."""
        super().__init__(*args, **kwargs)
        self.fields["escort_phone"].widget.attrs["autocomplete"] = "off"
        self.fields["escort_phone"].widget.input_type = "tel"
        ticks: list = ["escort_confirmed"]
        if confirmed:
            self.fields["escort_confirmed"].label = _(
                "A new escort has confirmed they will take the patient home"
            )
            self.fields["escort_confirmed"].help_text = _(
                "The escort above is confirmed and stays so. A new name or phone is not "
                "confirmed unless you tick this once you have spoken to them."
            )
            ticks.append("escort_take_back")
        else:
            del self.fields["escort_take_back"]
        self.helper = _helper(
            action,
            _("Save getting home"),
            Row(Column("transport_mode"), Column("escort_name"), Column("escort_phone")),
            *ticks,
            Row(
                Column("needs_wheelchair"),
                Column("needs_interpreter"),
                Column("interpreter_language"),
            ),
            form_id="transport-form",
        )

    def clean(self):
        data = super().clean()
        if data.get("escort_confirmed") and data.get("escort_take_back"):
            self.add_error(
                "escort_take_back",
                _("Either confirm the escort or take the confirmation back, not both."),
            )
        if data.get("escort_confirmed"):
            if not (data.get("escort_name") or "").strip():
                self.add_error("escort_name", _("Enter the escort's name to confirm them."))
            if not (data.get("escort_phone") or "").strip():
                self.add_error("escort_phone", _("Enter the escort's phone to confirm them."))
        return data


class SiteForm(forms.Form):
    prefix = "site"
    site = forms.ChoiceField(label=_("Site"), choices=[("", _("Choose…")), *ProcedureSite.choices])
    side = forms.ChoiceField(label=_("Side"), choices=[("", _("Choose…")), *ProcedureSide.choices])
    active_infection = forms.BooleanField(label=_("Active infection"), required=False)
    cancer = forms.BooleanField(label=_("Cancer"), required=False)
    override_reason = forms.CharField(
        label=_("Reason to go ahead despite a rule"),
        max_length=300,
        required=False,
        help_text=_("Only when a rule asks for one. Recorded with your name."),
    )

    def __init__(self, *args, action: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            action,
            _("Save site and side"),
            Row(Column("site"), Column("side")),
            Row(Column("active_infection"), Column("cancer")),
            "override_reason",
            form_id="site-form",
        )
