from datetime import timedelta

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Fieldset, Layout, Row, Submit
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField
from patients.models import Patient
from procedures.catalog.choices import SedationLevel, TransportMode
from procedures.catalog.clock import clinic_instant, clock_change_refusal
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room, narrow_to_site
from procedures.scheduling.rules import NOTES_MAX, horizon_refusal, length_refusal

# The escort is entered in one place: the prep plan's "Getting home" (issue 16).
ESCORT_ON_PREP = (
    "{% load i18n %}<p class='small text-body-secondary'>{% translate "
    "\"Who takes the patient home is recorded on the visit's prep plan (Getting home) "
    'once booked." %}</p>'
)


class BookingForm(forms.Form):
    patient_mrn = forms.CharField(label=_("Patient MRN"), max_length=20)
    procedure_type = forms.ModelChoiceField(
        label=_("Procedure"),
        queryset=ProcedureType.objects.filter(is_active=True),
        empty_label=_("Choose a procedure"),
    )
    provider = forms.ModelChoiceField(
        label=_("Physician"),
        queryset=Provider.objects.filter(is_active=True),
        empty_label=_("Choose a physician"),
    )
    room = forms.ModelChoiceField(
        label=_("Room"),
        # With its site: the booking rules are on the site's clock (invariant 19).
        queryset=Room.objects.filter(is_active=True).select_related("site"),
        empty_label=_("Choose a room"),
    )
    date = BoundedDateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(
        label=_("Start"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    end_time = forms.TimeField(
        label=_("End"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Leave empty for the procedure's usual length."),
    )
    sedation_level = forms.ChoiceField(
        label=_("Sedation"),
        choices=[("", _("The procedure's usual sedation")), *SedationLevel.choices],
        required=False,
    )
    transport_mode = forms.ChoiceField(
        label=_("Transport home"), choices=TransportMode.choices, required=False
    )
    notes = forms.CharField(
        label=_("Notes for the team"),
        required=False,
        max_length=NOTES_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    # "Book anyway" after the warning about the patient's other visits nearby.
    confirm_nearby = forms.BooleanField(required=False, widget=forms.HiddenInput)
    # "The patient has not eaten since": the start it answers for (`fast_answer`), after
    # the question about a sedated visit whose fast has begun. It answers the question
    # about visits nearby too, which is asked first.
    confirm_fast = forms.CharField(required=False, max_length=20, widget=forms.HiddenInput)

    def __init__(self, *args, site_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        narrow_to_site(self, site_id)
        self.helper = FormHelper()
        self.helper.form_id = "booking-form"
        self.helper.layout = Layout(
            Fieldset(
                _("Who and what"),
                Row(Column("patient_mrn"), Column("procedure_type")),
                Row(Column("provider"), Column("room")),
            ),
            Fieldset(
                _("When"),
                Row(Column("date"), Column("start_time"), Column("end_time")),
            ),
            Fieldset(
                _("Sedation and getting home"),
                Row(Column("sedation_level"), Column("transport_mode")),
                HTML(ESCORT_ON_PREP),
            ),
            "notes",
            Submit("submit", _("Book appointment")),
        )

    def clean_patient_mrn(self) -> Patient:
        mrn = self.cleaned_data["patient_mrn"].strip().upper()
        patient = Patient.objects.current(mrn=mrn)
        if patient is None:
            raise forms.ValidationError(
                _("No patient has the MRN %(mrn)s. Register the patient first."),
                params={"mrn": mrn},
            )
        return patient

    def clean(self):
        data = super().clean()
        day, start, end = data.get("date"), data.get("start_time"), data.get("end_time")
        procedure_type = data.get("procedure_type")
        # The times typed are the room's wall clock: its site's zone (invariant 19),
        # whichever site's page (or "All sites") the booking is made from.
        room_tz = data["room"].site.tz if data.get("room") else None
        skipped = day and start and clock_change_refusal(day, start, room_tz)
        if skipped:
            self.add_error("start_time", skipped)
        if day and end and (skipped_end := clock_change_refusal(day, end, room_tz)):
            if skipped_end != skipped:  # one gap, said once
                self.add_error("end_time", skipped_end)
            skipped = skipped or skipped_end
        if day and start and procedure_type and not skipped:
            # Real instants: compared and subtracted in UTC, so the day the clocks change
            # is measured as it is lived (QA 1, #2).
            start_at = clinic_instant(day, start, room_tz)
            if end:
                end_at = clinic_instant(day, end, room_tz)
            else:
                end_at = start_at + timedelta(minutes=procedure_type.default_duration_minutes)
            if start_at <= timezone.now():
                self.add_error("start_time", _("The appointment must start in the future."))
            if end and end_at <= start_at:
                self.add_error("end_time", _("The end time must be after the start time."))
            elif too_short := length_refusal(
                procedure_type=procedure_type, start_at=start_at, end_at=end_at
            ):
                self.add_error("end_time", too_short)
            if too_far := horizon_refusal(start_at):
                self.add_error("date", too_far)
            data["start_at"], data["end_at"] = start_at, end_at
        if procedure_type and not data.get("sedation_level"):
            data["sedation_level"] = procedure_type.default_sedation_level
        room, level = data.get("room"), data.get("sedation_level")
        if room and level and not room.can_host(level):
            self.add_error(
                "room",
                _("%(room)s has no monitoring, so it cannot host %(level)s.")
                % {"room": room.name, "level": SedationLevel(level).label},
            )
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason for cancelling"), max_length=200)
