"""The today board's filters: one physician, one room, a status, or only the arrivals
with something to fix. The choices are the day's own physicians and rooms, so the
filters cost no query; a value that is not one of them is ignored, not an error."""

from html import escape
from typing import TypeVar

from django import forms
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from procedures.scheduling.models import Appointment
from procedures.today.board import EXPECTED, Arrival, Entry, room_at_site

EXPECTED_CHOICE = "expected"
TO_FIX_CHOICE = "to_fix"
E = TypeVar("E", bound=Entry)


class TodayBoardFilterForm(forms.Form):
    provider = forms.TypedChoiceField(
        label=_("Physician"), required=False, coerce=int, empty_value=None
    )
    room = forms.TypedChoiceField(label=_("Room"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label=_("Show"), required=False)

    def __init__(
        self, data=None, *, arrivals: list[Entry], site_names: dict[int, str] | None = None
    ):
        super().__init__(data)
        providers = sorted({(a.provider, a.provider_id) for a in arrivals})
        if site_names:  # "All sites": each room named with its site (once a room)
            in_use = {(a.room, a.room_id, a.site_id) for a in arrivals}
            rooms = sorted((room_at_site(name, site, site_names), pk) for name, pk, site in in_use)
        else:
            rooms = sorted({(a.room, a.room_id) for a in arrivals})
        self._choice_field("provider").choices = [
            ("", _("All physicians")),
            *((pk, name) for name, pk in providers),
        ]
        self._choice_field("room").choices = [
            ("", _("All rooms")),
            *((pk, name) for name, pk in rooms),
        ]
        self._choice_field("status").choices = [
            ("", _("Everyone")),
            (EXPECTED_CHOICE, _("Still expected")),
            (TO_FIX_CHOICE, _("Something to fix")),
            *(
                (value, label)
                for value, label in Appointment.Status.choices
                if value != Appointment.Status.CANCELLED
            ),
        ]

    def _choice_field(self, name: str) -> forms.ChoiceField:
        field = self.fields[name]
        if not isinstance(field, forms.ChoiceField):  # never: all three are
            raise TypeError(name)
        return field

    def chosen(self) -> dict:
        """The valid filters chosen (an unknown value is left out rather than refused)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}

    def wants_flags(self) -> bool:
        """Only the arrivals with something to fix: the day's flags are needed to choose."""
        return self.chosen().get("status") == TO_FIX_CHOICE

    def apply(self, arrivals: list[E]) -> list[E]:
        """The arrivals chosen (with "something to fix", `Arrival`s: their flags)."""
        chosen = self.chosen()
        provider, room, status = chosen.get("provider"), chosen.get("room"), chosen.get("status")
        return [
            a
            for a in arrivals
            if (provider is None or a.provider_id == provider)
            and (room is None or a.room_id == room)
            and (
                status is None
                or (status == EXPECTED_CHOICE and a.status in EXPECTED)
                or (status == TO_FIX_CHOICE and isinstance(a, Arrival) and a.flag_codes)
                or a.status == status
            )
        ]

    def options(self, name: str) -> str:
        """A select's <option>s, written here: a busy day's physicians and rooms are
        ~80 options, and the widget's own rendering costs a template per option."""
        chosen = self.chosen().get(name)
        current = "" if chosen is None else str(chosen)
        # The getter gives the normalised list; the stubs give it the setter's type.
        choices: list[tuple] = self._choice_field(name).choices  # type: ignore[assignment]
        html = "".join(
            f'<option value="{escape(str(value))}"'
            f"{' selected' if str(value) == current else ''}>{escape(str(label))}</option>"
            for value, label in choices
        )
        return mark_safe(html)  # noqa: S308 (values and labels are escaped)

    def provider_options(self) -> str:
        return self.options("provider")

    def room_options(self) -> str:
        return self.options("room")

    def status_options(self) -> str:
        return self.options("status")
