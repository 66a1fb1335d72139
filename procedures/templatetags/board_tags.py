"""The today board's rows, written here rather than by the template engine for the
same reason as the calendar's cards (calendar_tags.py): fifty rows of a dozen values
each cost the template engine more than the page's SQL. Every value is escaped with
`html.escape` before it is written; procedures/tests/test_today.py checks the markup."""

from html import escape

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from procedures.today.board import Arrival

register = template.Library()


@register.simple_tag
def board_rows(rows: list[Arrival], *, can_check_in: bool):
    """A table row per arrival: time, patient, procedure and sedation, status, what to
    fix (each a link to where it is fixed) and, for whoever may check in, "Check in"."""
    nothing, check_in = escape(_("Nothing")), escape(_("Check in"))
    html = []
    for a in rows:
        patient = escape(a.patient)
        if a.flags:
            fixes = "".join(
                f'<li><a class="today-flag flag-{escape(f.code)}" href="{escape(f.url)}">'
                f'{escape(f.text)}<span class="visually-hidden"> ({escape(a.patient)})'
                "</span></a></li>"
                for f in a.flags
            )
            fixes = f'<ul class="list-unstyled mb-0">{fixes}</ul>'
        else:
            fixes = f'<span class="text-body-secondary">{nothing}</span>'
        action = ""
        if can_check_in and a.check_in_url:
            # Each button submits the page's one shared form to its own appointment.
            action = (
                f'<button type="submit" form="board-check-in" '
                f'formaction="{escape(a.check_in_url)}" class="btn btn-sm btn-primary">'
                f'{check_in}<span class="visually-hidden"> {patient}</span></button>'
            )
        html.append(
            f'<tr><td class="appt-time">{escape(a.time)}</td>'
            f'<td><a href="{escape(a.url)}">{patient}</a>'
            f'<div class="small">{escape(a.provider)} · {escape(a.room)}</div></td>'
            f"<td>{escape(a.procedure)}<div>"
            f'<span class="badge sedation-badge sedation-{escape(a.sedation)}">'
            f"{escape(a.sedation_label)}</span></div></td>"
            f'<td><span class="badge status-badge {escape(a.status_badge)}">'
            f"{escape(a.status_label)}</span></td>"
            f"<td>{fixes}</td><td>{action}</td></tr>"
        )
    return mark_safe("".join(html))  # noqa: S308 (every value above is escaped)
