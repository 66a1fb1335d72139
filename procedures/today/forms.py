"""The today board's filters: one physician, one room, a status, or only the arrivals
with something to fix. The choices are the site's physicians and rooms (every site's on
"All sites"), read from their own tables, so they cost the same however busy the day;
a value that is not one of them is ignored, not an error."""

from collections.abc import Collection
from html import escape

from django import forms
from django.db.models import QuerySet
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from procedures.catalog.resources import Provider, Room, works_at
from procedures.catalog.sites import at_site
from procedures.scheduling.models import Appointment
from procedures.today.board import EXPECTED, room_at_site

EXPECTED_CHOICE = "expected"
TO_FIX_CHOICE = "to_fix"


class TodayBoardFilterForm(forms.Form):
    provider = forms.TypedChoiceField(
        label=_("Physician"), required=False, coerce=int, empty_value=None
    )
    room = forms.TypedChoiceField(label=_("Room"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label=_("Show"), required=False)

    def __init__(self, data=None, *, site_id: int | None, site_names: dict[int, str] | None = None):
        """`site_id`: the site shown (None: every site, each room then named with its
        site from `site_names`)."""
        super().__init__(data)
        providers = Provider.objects.filter(works_at(site_id)).order_by("display_name")
        rooms = at_site(Room.objects.all(), site_id).values_list("pk", "name", "site_id")
        if site_names:  # "All sites": two sites may each have a "Room 1"
            room_choices = sorted(
                (room_at_site(name, site, site_names), pk) for pk, name, site in rooms
            )
        else:
            room_choices = sorted((name, pk) for pk, name, _site in rooms)
        self._choice_field("provider").choices = [
            ("", _("All physicians")),
            *providers.values_list("pk", "display_name"),
        ]
        self._choice_field("room").choices = [
            ("", _("All rooms")),
            *((pk, name) for name, pk in room_choices),
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

    def apply(
        self, visits: QuerySet[Appointment], *, flagged: Collection[int] = ()
    ) -> QuerySet[Appointment]:
        """The arrivals chosen among `visits`; "something to fix" keeps those in
        `flagged` (the primary keys of the day's arrivals with a flag)."""
        chosen = self.chosen()
        provider, room, status = chosen.get("provider"), chosen.get("room"), chosen.get("status")
        if provider is not None:
            visits = visits.filter(provider_id=provider)
        if room is not None:
            visits = visits.filter(room_id=room)
        if status == EXPECTED_CHOICE:
            visits = visits.filter(status__in=EXPECTED)
        elif status == TO_FIX_CHOICE:
            visits = visits.filter(pk__in=flagged)
        elif status is not None:
            visits = visits.filter(status=status)
        return visits

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
