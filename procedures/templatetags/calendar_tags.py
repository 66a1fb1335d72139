"""A calendar column's cards, written here rather than by the template engine: a page
of the whole clinic's day or a physician's week holds about a hundred cards, and the
template engine costs ~50 µs a card (a dozen lookups, each escaped one by one), more
than the page's SQL. Here a card costs ~3 µs. Every value is escaped with
`html.escape` before it is written, as the template engine would; the markup is what
`_calendar.html` used to write and procedures/tests/test_calendar.py checks it."""

from html import escape

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from procedures.scheduling.calendars import Card

register = template.Library()


@register.simple_tag
def calendar_cards(cards: list[Card], *, can_move: bool, show_provider: bool, show_room: bool):
    """The cards of one column, or a note that it has none."""
    if not cards:
        return format_html('<p class="small text-body-secondary mb-0">{}</p>', _("No appointments"))
    room_held, reschedule = escape(_("Room held")), escape(_("Reschedule"))
    html = []
    for card in cards:
        patient, start = escape(card.patient), escape(card.start)
        where = escape(card.procedure)
        if show_provider:
            where += f" · {escape(card.provider)}"
        if show_room:
            where += f" · {escape(card.room)}"
        held = move = ""
        if card.held:
            held = f'<div class="small text-body-secondary">{room_held} {escape(card.held)}</div>'
        if can_move and card.reschedule_url:
            move = (
                f'<a class="small" href="{escape(card.reschedule_url)}">{reschedule}'
                f'<span class="visually-hidden"> {patient} {start}</span></a>'
            )
        html.append(
            f'<div class="appt appt-{escape(card.status)}'
            f'{" appt-sedated" if card.sedated else ""}">'
            f'<a class="appt-link" href="{escape(card.url)}"><span class="appt-time">'
            f"{start}\u2013{escape(card.end)}</span> <strong>{patient}</strong></a>"
            f'<div class="small">{where}</div>'
            f'<div class="small"><span class="badge status-badge {escape(card.status_badge)}">'
            f"{escape(card.status_label)}</span> "
            f'<span class="badge sedation-badge sedation-{escape(card.sedation)}">'
            f"{escape(card.sedation_label)}</span></div>"
            f"{held}{move}</div>"
        )
    return mark_safe("".join(html))  # noqa: S308 (every value above is escaped)


@register.simple_tag
def resource_options(resources, selected=None):
    """The <option>s of a physician or room select (fifty physicians are fifty
    templates' worth of lookups otherwise), the one shown selected."""
    html = "".join(
        f'<option value="{r.pk}"{" selected" if r.pk == selected else ""}>{escape(str(r))}</option>'
        for r in resources
    )
    return mark_safe(html)  # noqa: S308 (names are escaped; pks are integers)
