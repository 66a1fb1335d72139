"""Forms of the hours and leave page (issue 16). Shape only; the rules (sessions that
end before they start, overlaps, overlapping leave, visits left outside hours) live in
`procedures.scheduling.hours_admin`."""

from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from clinic.bounds import BoundedDateField
from procedures.catalog.clock import clinic_instant, clinic_tz, clock_change_refusal
from procedures.catalog.hours import WEEKDAYS, Unavailability
from procedures.catalog.sites import holidays_refusal
from procedures.scheduling.hours_admin import Weekly, whole_days_span

SESSIONS_A_DAY = 2


def session_field(day: int, n: int, end: str) -> str:
    return f"d{day}_s{n}_{end}"


class HoursForm(forms.Form):
    """Clinic default, or own hours: up to two sessions on each weekday."""

    mode = forms.ChoiceField(
        label=_("Hours"),
        choices=[
            ("default", _("Clinic default (Monday to Friday 08:00-18:00)")),
            ("own", _("Own hours")),
        ],
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for day, name in WEEKDAYS:
            for n in range(1, SESSIONS_A_DAY + 1):
                for end, word in (("from", _("from")), ("until", _("until"))):
                    self.fields[session_field(day, n, end)] = forms.TimeField(
                        label=f"{name}, {_('session')} {n}, {word}",
                        required=False,
                        widget=forms.TimeInput(
                            attrs={"type": "time", "class": "form-control form-control-sm"},
                            format="%H:%M",
                        ),
                    )

    @classmethod
    def initial_for(cls, weekly: Weekly | None, *, mode: str) -> dict:
        initial: dict = {"mode": mode}
        for day, sessions in (weekly or {}).items():
            for n, (starts, ends) in enumerate(sessions[:SESSIONS_A_DAY], start=1):
                initial[session_field(day, n, "from")] = starts
                initial[session_field(day, n, "until")] = ends
        return initial

    def rows(self) -> list[tuple[str, list[tuple[forms.BoundField, forms.BoundField]]]]:
        """(weekday, [(from, until) per session]) for the template's table."""
        return [
            (
                str(name),
                [
                    (self[session_field(day, n, "from")], self[session_field(day, n, "until")])
                    for n in range(1, SESSIONS_A_DAY + 1)
                ],
            )
            for day, name in WEEKDAYS
        ]

    def clean(self):
        data = super().clean()
        weekly: Weekly = {}
        if data.get("mode") == "own":
            for day, _name in WEEKDAYS:
                for n in range(1, SESSIONS_A_DAY + 1):
                    start_name = session_field(day, n, "from")
                    end_name = session_field(day, n, "until")
                    starts, ends = data.get(start_name), data.get(end_name)
                    if starts is None and ends is None:
                        continue
                    if starts is None or ends is None:
                        missing = start_name if starts is None else end_name
                        if missing not in self.errors:
                            self.add_error(missing, _("Give both the start and the end."))
                        continue
                    weekly.setdefault(day, []).append((starts, ends))
        data["weekly"] = weekly if data.get("mode") == "own" else None
        return data


class LeaveForm(forms.Form):
    """Leave, training or a closure: dated, whole days unless times are given.

    `zones`: the resource's sites' zones, its home site's first. A time typed is on the
    home site's clock; a day without a time runs from its first midnight to its last at
    all of them (`hours_admin.whole_days_span`)."""

    prefix = "leave"
    starts_on = BoundedDateField(
        label=_("From (date)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    starts_time = forms.TimeField(
        label=_("From (time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Empty: from the start of the day."),
    )
    ends_on = BoundedDateField(
        label=_("Until (date)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    ends_time = forms.TimeField(
        label=_("Until (time)"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text=_("Empty: to the end of the day."),
    )
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", _("Choose…")), *Unavailability.Reason.choices]
    )
    note = forms.CharField(label=_("Note"), max_length=200, required=False)

    def __init__(self, *args, zones: list[ZoneInfo] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.zones = zones or []

    def clean(self):
        data = super().clean()
        starts_on, ends_on = data.get("starts_on"), data.get("ends_on")
        if starts_on and ends_on:
            home = self.zones[0] if self.zones else clinic_tz()
            day_starts, day_ends = whole_days_span(starts_on, ends_on, self.zones or [home])
            starts_time, ends_time = data.get("starts_time"), data.get("ends_time")
            # A time the clocks skip or repeat is asked again; the others are real
            # instants (UTC), so "ends after it starts" holds in the database too (QA 1, #3).
            refusals = {
                name: refusal
                for name, day, at in (
                    ("starts_time", starts_on, starts_time),
                    ("ends_time", ends_on, ends_time),
                )
                if at is not None and (refusal := clock_change_refusal(day, at, home))
            }
            for name, refusal in refusals.items():
                self.add_error(name, refusal)
            if refusals:
                return data
            data["starts_at"] = (
                day_starts if starts_time is None else clinic_instant(starts_on, starts_time, home)
            )
            data["ends_at"] = (
                day_ends if ends_time is None else clinic_instant(ends_on, ends_time, home)
            )
        return data


class ClosureForm(forms.Form):
    """A clinic holiday: one day, one site or every site (procedures.scheduling.closures)."""

    prefix = "closure"
    date = BoundedDateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(
        label=_("What it is"),
        max_length=100,
        help_text=_("As staff read it on calendars, e.g. Staff training."),
    )
    site = forms.ChoiceField(label=_("Closes"), required=False)

    def __init__(self, *args, sites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sites = {str(s.pk): s for s in sites}
        self.fields["site"].choices = [
            ("", _("Every site")),
            *((pk, site.name) for pk, site in self.sites.items()),
        ]

    def clean_site(self):
        return self.sites.get(self.cleaned_data["site"])


class PublicHolidaysForm(forms.Form):
    """A site's public holidays of one year, added as its closures."""

    prefix = "public"
    site = forms.ChoiceField(label=_("Site"))
    year = forms.TypedChoiceField(label=_("Year"), coerce=int)

    def __init__(self, *args, sites=(), years=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sites = {str(s.pk): s for s in sites if s.holidays_country}
        self.fields["site"].choices = [
            (
                pk,
                f"{site.name} ({site.holidays_country}"
                + (f"-{site.holidays_subdivision}" if site.holidays_subdivision else "")
                + ")",
            )
            for pk, site in self.sites.items()
        ]
        self.fields["year"].choices = [(y, str(y)) for y in years]

    def clean_site(self):
        site = self.sites[self.cleaned_data["site"]]
        # A site saved before the admin checked its codes (QA 1, #4): said, not a 500.
        if refusal := holidays_refusal(site.holidays_country, site.holidays_subdivision):
            raise forms.ValidationError(
                _("%(site)s's public holidays cannot be added: %(why)s Correct it in the admin.")
                % {"site": site.name, "why": refusal}
            )
        return site
