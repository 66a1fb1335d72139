"""Forms of the scheduling screens: slot finder, reschedule, cancel, waitlist, calendars."""

from datetime import UTC, datetime, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField
from patients.models import Patient
from procedures.catalog.choices import SedationLevel, TransportMode
from procedures.catalog.clock import clinic_instant, clinic_today, clock_change_refusal
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room, narrow_to_site, works_at
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import NOTES_MAX, START_REASON_MAX_CHARS


class PatientChoiceField(forms.ModelChoiceField):
    """A patient picked from the search results, posted as a hidden id (never in a URL)."""

    widget = forms.HiddenInput

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"].setdefault(
            "required", _("Search for the patient and choose them from the results.")
        )
        kwargs["error_messages"].setdefault(
            "invalid_choice", _("Search for the patient and choose them from the results.")
        )
        super().__init__(queryset=Patient.objects.all(), label=_("Patient"), **kwargs)


class PatientSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find the patient"),
        max_length=100,
        help_text=_("Part of a name, an MRN or a date of birth (e.g. 12/04/1961)."),
    )


TIME_OF_DAY_CHOICES = [
    ("any", _("Any time")),
    ("morning", _("Morning (before 12:00)")),
    ("afternoon", _("Afternoon (from 12:00)")),
]


class SlotSearchForm(forms.Form):
    patient = PatientChoiceField()
    procedure_type = forms.ModelChoiceField(
        label=_("Procedure"),
        queryset=ProcedureType.objects.filter(is_active=True),
        empty_label=_("Choose a procedure"),
    )
    sedation_level = forms.ChoiceField(
        label=_("Sedation"),
        choices=[("", _("The procedure's usual sedation")), *SedationLevel.choices],
        required=False,
    )
    provider = forms.ModelChoiceField(
        label=_("Physician"),
        queryset=Provider.objects.filter(is_active=True),
        empty_label=_("Any physician"),
        required=False,
    )
    date_from = BoundedDateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = BoundedDateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    time_of_day = forms.ChoiceField(
        label=_("Time of day"), choices=TIME_OF_DAY_CHOICES, required=False, initial="any"
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

    def __init__(self, *args, site_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # A slot pairs a room and a physician of the site searched: its physicians only.
        self.fields["provider"].queryset = Provider.objects.filter(  # type: ignore[attr-defined]
            works_at(site_id), is_active=True
        )

    def clean(self):
        data = super().clean()
        procedure = data.get("procedure_type")
        if procedure and not data.get("sedation_level"):
            data["sedation_level"] = procedure.default_sedation_level
        today = clinic_today()
        first, last = data.get("date_from") or today, data.get("date_to")
        if first < today:
            self.add_error("date_from", _("Search from today or later."))
        if last and last < first:
            self.add_error("date_to", _("The end of the range must not be before its start."))
        if last and (last - first).days > 90:
            self.add_error("date_to", _("Search at most 90 days at a time."))
        data["date_from"], data["date_to"] = first, last or first + timedelta(days=27)
        data["time_of_day"] = data.get("time_of_day") or "any"
        return data


def parse_slot(value: str) -> tuple[datetime, int, int] | None:
    """'<UTC ISO start>|<provider id>|<room id>' as posted by a slot button."""
    try:
        start, provider_id, room_id = value.split("|")
        start_at = datetime.fromisoformat(start)
        if start_at.tzinfo is None:
            return None
        return start_at.astimezone(UTC), int(provider_id), int(room_id)
    except ValueError:
        return None


class SlotBookForm(SlotSearchForm):
    """The slot search again (hidden), plus the slot picked and how the patient gets home."""

    slot = forms.CharField(widget=forms.HiddenInput)

    def clean_slot(self):
        parsed = parse_slot(self.cleaned_data["slot"])
        if parsed is None:
            raise forms.ValidationError(_("Choose one of the slots offered."))
        start_at, provider_id, room_id = parsed
        provider = Provider.objects.filter(pk=provider_id, is_active=True).first()
        room = Room.objects.filter(pk=room_id, is_active=True).first()
        if not provider or not room:
            raise forms.ValidationError(_("Choose one of the slots offered."))
        return {"start_at": start_at, "provider": provider, "room": room}


class RescheduleForm(forms.Form):
    date = BoundedDateField(label=_("New date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(
        label=_("New start"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    provider = forms.ModelChoiceField(
        label=_("Physician"), queryset=Provider.objects.filter(is_active=True)
    )
    room = forms.ModelChoiceField(
        label=_("Room"), queryset=Room.objects.filter(is_active=True).select_related("site")
    )
    # The visit's version when the page was opened: a move from a page older than the
    # visit's last move is refused (QA 1, #7). Not required: a page opened before it was.
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)

    def __init__(
        self,
        *args,
        site_id: int | None = None,
        appointment=None,
        slot_start: datetime | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        # A slot picked is its exact instant (its date and time fill the form for the
        # page): even one in the hour repeated when the clocks go back.
        self.slot_start = slot_start
        # The site's physicians and rooms, and those of the visit's own site (it may be
        # at another): a suggested slot there is one the form accepts.
        if appointment is not None:
            narrow_to_site(
                self,
                site_id,
                keep=(appointment.provider, appointment.room),
                also_site_id=appointment.site_id,
            )
        else:
            narrow_to_site(self, site_id)

    def clean(self):
        data = super().clean()
        if self.slot_start is not None:
            data["start_at"] = self.slot_start
        elif data.get("date") and data.get("start_time"):
            # The new time is the chosen room's wall clock (its site's zone).
            room_tz = data["room"].site.tz if data.get("room") else None
            if skipped := clock_change_refusal(data["date"], data["start_time"], room_tz):
                self.add_error("start_time", skipped)
            else:
                data["start_at"] = clinic_instant(data["date"], data["start_time"], room_tz)
        return data


class StartForm(forms.Form):
    """The appointment page's "Start procedure": the reason, when readiness items are
    missing, is refused when too long (never cut), next to the field."""

    reason = forms.CharField(
        label=_("Reason, if starting with readiness items missing"),
        max_length=START_REASON_MAX_CHARS,
        required=False,
        error_messages={
            "max_length": _(
                "The reason may be at most %(limit_value)d characters (this one has "
                "%(show_value)d): say briefly what was checked instead. Nothing was changed."
            )
        },
    )


class CancelReasonForm(forms.Form):
    reason_code = forms.ChoiceField(
        label=_("Reason for cancelling"),
        choices=[("", _("Choose a reason")), *Appointment.CancelReason.choices],
        error_messages={"required": _("Choose a reason for cancelling.")},
    )
    note = forms.CharField(label=_("Note (optional)"), max_length=150, required=False)

    def clean(self):
        data = super().clean()
        # "Other" alone tells the cancellations report (and whoever reads the visit)
        # nothing: the note says what it was.
        if (
            data.get("reason_code") == Appointment.CancelReason.OTHER
            and not (data.get("note") or "").strip()
        ):
            self.add_error("note", _("Say in the note why, when the reason is Other."))
        return data


class WaitlistForm(forms.Form):
    patient = PatientChoiceField()
    procedure_type = forms.ModelChoiceField(
        label=_("Procedure"),
        queryset=ProcedureType.objects.filter(is_active=True),
        empty_label=_("Choose a procedure"),
    )
    provider = forms.ModelChoiceField(
        label=_("Physician"),
        queryset=Provider.objects.filter(is_active=True),
        empty_label=_("Any physician"),
        required=False,
    )
    earliest = BoundedDateField(
        label=_("Available from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    latest = BoundedDateField(
        label=_("Needed by"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(label=_("Note for the front desk"), max_length=200, required=False)

    def __init__(self, *args, site_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        narrow_to_site(self, site_id)  # a physician of the site, or any

    def clean(self):
        data = super().clean()
        if data.get("earliest") and data.get("latest") and data["latest"] < data["earliest"]:
            self.add_error("latest", _("'Needed by' must not be before 'available from'."))
        return data
