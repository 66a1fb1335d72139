"""The results worklist's rows: what each row of a page shows (due date and how late,
patient, test, lab, physician, state, the links and the action's name), read with one
query and worked out here once per request, so the template only prints strings.

Fifty rows a page: a template lookup through related objects, a `get_FOO_display`, a
`{% blocktranslate count %}` and two `{% url %}` per row cost more than the SQL (as on
the today board, `procedures/today/board.py`)."""

from dataclasses import dataclass
from datetime import date

from django.db.models import QuerySet
from django.utils.formats import date_format, localize
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from clinic.http import url_maker
from procedures.results.models import TestOrder
from procedures.scheduling.calendars import choice_labels

S = TestOrder.Status


@dataclass(slots=True)
class WorklistRow:
    """One open order on the worklist, as shown."""

    pk: int
    expected_by: date
    status: str
    test: str
    lab: str
    patient_id: int  # for the audit of the read (clinic.audit), never shown
    appointment_id: int
    family_name: str
    given_name: str
    mrn: str
    responsible: str | None
    expected: str = ""  # the due date as shown ("Mon 7 Dec 2026")
    url: str = ""  # the order's page
    visit_url: str = ""
    status_label: str = ""
    needs_action: bool = False  # final or reviewed: someone must act, shown in bold
    action: str = ""
    due: str = ""  # how late or how soon, pending orders only
    due_class: str = ""


def worklist_rows(
    orders: QuerySet[TestOrder], *, today: date, may_enter: bool
) -> list[WorklistRow]:
    """The rows of `orders` (a page of the worklist, in its order), in one query.
    `may_enter`: the user may log results (their action on a pending order)."""
    rows = [
        WorklistRow(*values)
        for values in orders.values_list(
            "pk",
            "expected_by",
            "status",
            "test_type__name",
            "test_type__lab",
            "appointment__patient_id",
            "appointment_id",
            "appointment__patient__family_name",
            "appointment__patient__given_name",
            "appointment__patient__mrn",
            "responsible__display_name",
        )
    ]
    order_url = url_maker("procedures:result_log")
    visit_url = url_maker("procedures:appointment_detail")
    labels = choice_labels(S)
    pending_action = _("Log result") if may_enter else _("Open")
    # A page's fifty rows fall due on a few days: each day written once.
    days: dict[date, str] = {}
    for row in rows:
        if row.expected_by not in days:
            days[row.expected_by] = date_format(row.expected_by, "D j M Y")
        row.expected = days[row.expected_by]
        row.url = order_url(row.pk)
        row.visit_url = visit_url(row.appointment_id)
        if row.status == S.FINAL:
            row.status_label, row.action = _("Final: needs review"), _("Review")
            row.needs_action = True
        elif row.status == S.REVIEWED:
            row.status_label, row.action = _("Reviewed: tell the patient"), _("Record telling")
            row.needs_action = True
        else:
            row.status_label, row.action = labels.get(row.status, row.status), pending_action
        if row.status in TestOrder.PENDING_STATUSES:
            row.due, row.due_class = _due(row.expected_by, today)
    return rows


def _due(expected_by: date, today: date) -> tuple[str, str]:
    """How late (or how soon) a pending result is, in words, and its style."""
    days = (expected_by - today).days
    if days < 0:
        late = -days
        text = ngettext("Overdue by %(days)s day", "Overdue by %(days)s days", late)
        return text % {"days": localize(late)}, "status-overdue"
    if days == 0:
        return _("Due today"), "status-due-soon"
    text = ngettext("%(days)s day left", "%(days)s days left", days)
    return text % {"days": localize(days)}, ""
