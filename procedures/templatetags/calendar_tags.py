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
from django.utils.translation import gettext_lazy

from procedures.scheduling.calendars import Card
from procedures.scheduling.timegrid import Block, TimeGrid

register = template.Library()


@register.simple_tag
def calendar_cards(cards: list[Card], *, can_move: bool, show_provider: bool, show_room: bool):
    """The cards of one column, or a note that it has none."""
    if not cards:
        return format_html('<p class="small text-body-secondary mb-0">{}</p>', _("No appointments"))
    html, words = [], _words()
    for card in cards:
        patient, start = escape(card.patient), escape(card.start)
        where, held, move = _card_parts(
            card,
            show_provider=show_provider,
            show_room=show_room,
            can_move=can_move,
            held_tag=("div", "small text-body-secondary"),
            move_class="small",
            words=words,
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


def _card_parts(
    card: Card,
    *,
    show_provider: bool,
    show_room: bool,
    can_move: bool,
    held_tag: tuple[str, str],
    move_class: str,
    words: dict[str, str],
) -> tuple[str, str, str]:
    """A visit's escaped "where" line, its "Room held" note and its Reschedule link,
    shared by the list's cards and the time grid's blocks (each with its own markup)."""
    where = escape(card.procedure)
    if show_provider:
        where += f" · {escape(card.provider)}"
    if show_room:
        where += f" · {escape(card.room)}"
    held = move = ""
    if card.held:
        tag, css = held_tag
        held = f'<{tag} class="{css}">{words["held"]} {escape(card.held)}</{tag}>'
    if can_move and card.reschedule_url:
        move = (
            f'<a class="{move_class}" href="{escape(card.reschedule_url)}">'
            f"{words['reschedule']}"
            f'<span class="visually-hidden"> {escape(card.patient)} {escape(card.start)}</span></a>'
        )
    return where, held, move


def _words() -> dict[str, str]:
    """The fixed words of cards, blocks and cells in the active language, escaped: looked
    up once per grid or column (a grid has hundreds of cells; a lookup for each costs as
    much as writing the cell)."""
    return {
        "held": escape(_("Room held")),
        "reschedule": escape(_("Reschedule")),
        "book": escape(_("Book")),
        **{state: escape(str(said)) for state, said in CELL_WORDS.items()},
    }


@register.simple_tag
def resource_options(resources, selected=None, prefix=""):
    """The <option>s of a physician or room select (fifty physicians are fifty
    templates' worth of lookups otherwise), the one shown selected."""
    html = "".join(
        f'<option value="{prefix}{r.pk}"{" selected" if r.pk == selected else ""}>'
        f"{escape(str(r))}</option>"
        for r in resources
    )
    return mark_safe(html)  # noqa: S308 (names are escaped; pks are integers)


def _block(
    block: Block, *, show_provider: bool, show_room: bool, can_move: bool, words: dict[str, str]
) -> str:
    size = f"tg-off-{block.offset} tg-len-{block.length}"
    if block.kind != "visit":
        label = escape(block.label)
        return f'<div class="tg-block tg-{block.kind} {size}" title="{label}">{label}</div>'
    card = block.card
    if card is None:
        return ""
    patient, start = escape(card.patient), escape(card.start)
    where, held, move = _card_parts(
        card,
        show_provider=show_provider,
        show_room=show_room,
        can_move=can_move,
        held_tag=("span", "tg-held"),
        move_class="tg-move",
        words=words,
    )
    return (
        f'<div class="tg-block tg-visit appt-{escape(card.status)}'
        f'{" appt-sedated" if card.sedated else ""} {size}">'
        f'<a class="tg-visit-link" href="{escape(card.url)}">'
        f'<span class="appt-time">{start}\u2013{escape(card.end)}</span> '
        f"<strong>{patient}</strong> <span>{where}</span> "
        f'<span class="badge status-badge {escape(card.status_badge)}">'
        f"{escape(card.status_label)}</span> "
        f'<span class="badge sedation-badge sedation-{escape(card.sedation)}">'
        f"{escape(card.sedation_label)}</span>{held}</a>{move}</div>"
    )


CELL_WORDS = {
    "busy": gettext_lazy("Booked"),
    "off": gettext_lazy("Not working"),
    "closed": gettext_lazy("Clinic closed"),
    "past": gettext_lazy("Past"),
    "open": gettext_lazy("Free"),
}


@register.simple_tag
def time_grid(
    grid: TimeGrid, *, show_provider: bool, show_room: bool, can_move: bool, label_id: str
):
    """The calendar as an ARIA grid laid out by CSS grid: a header row of columns, then a
    row per 15 minutes with its time as the row header. Arrow keys move between the
    cells and Enter opens the visit or books the gap (static/js/calendar.js)."""
    words = _words()
    book = words["book"]
    html = [
        f'<div class="tg tg-cols-{len(grid.columns)}" role="grid" data-timegrid '
        f'aria-labelledby="{escape(label_id)}" aria-describedby="tg-help" '
        f'aria-rowcount="{len(grid.times) + 1}" aria-colcount="{len(grid.columns) + 1}">'
        f'<div role="row" class="tg-row"><div role="columnheader" class="tg-head tg-corner">'
        f"{escape(_('Time'))}</div>"
    ]
    for column in grid.columns:
        if column.closed:
            note = f"{_('Closed')}: {column.closed}"
        elif column.away:
            note = f"{_('Away')}: {column.away}"
            if column.hours and column.away[:1].isdigit():  # away for part of the day
                note = f"{column.hours}; {note}"
        elif column.hours:
            note = column.hours
        else:
            note = _("Not working")
        today = ""
        if column.is_today:
            today = f' <span class="badge text-bg-primary">{escape(_("today"))}</span>'
        html.append(
            f'<div role="columnheader" class="tg-head{" tg-today" if column.is_today else ""}">'
            f'<span class="tg-title">{escape(column.title)}</span>{today}'
            f'<span class="tg-note">{escape(note)}</span></div>'
        )
    html.append("</div>")
    for r, (hhmm, cells) in enumerate(zip(grid.times, grid.rows, strict=True)):
        hour = " tg-h" if hhmm.endswith(":00") else ""
        html.append(
            f'<div role="row" class="tg-row"><div role="rowheader" class="tg-time{hour}">'
            f"{escape(hhmm)}</div>"
        )
        for c, cell in enumerate(cells):
            column = grid.columns[c]
            inner = []
            if cell.state == "free":
                inner.append(
                    f'<a class="tg-gap" href="{escape(cell.href)}">'
                    f'<span class="tg-gap-label">{book} {escape(hhmm)}</span>'
                    f'<span class="visually-hidden"> \u00b7 {escape(column.title)}</span></a>'
                )
            else:
                said = (
                    escape(cell.label) if cell.state in ("away", "elsewhere") else words[cell.state]
                )
                inner.append(f'<span class="visually-hidden">{said}</span>')
            for block in cell.blocks:
                inner.append(
                    _block(
                        block,
                        show_provider=show_provider,
                        show_room=show_room,
                        can_move=can_move,
                        words=words,
                    )
                )
            if cell.now is not None:
                inner.append(f'<div class="tg-now tg-off-{cell.now}" aria-hidden="true"></div>')
            href = f' data-href="{escape(cell.href)}"' if cell.href else ""
            html.append(
                f'<div role="gridcell" class="tg-cell tg-{cell.state}{hour}"{href} '
                f'data-row="{r}" data-col="{c}">{"".join(inner)}</div>'
            )
        html.append("</div>")
    html.append("</div>")
    return mark_safe("".join(html))  # noqa: S308 (every value above is escaped)
