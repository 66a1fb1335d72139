"""The front desk's task queue: every open front-desk task and phone call in one list,
soonest due first, each marked done from its row.

The list names patients: it records one read of the patients on the page shown
(`record_list_read`), as the today board does.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from clinic import policy
from clinic.audit import record_list_read
from clinic.bounds import query_id
from procedures.catalog.sites import current_site_id
from procedures.scheduling.views.lifecycle import back_to
from procedures.today import tasks

TASKS_PER_PAGE = 50
SHOW_CHOICES = (
    (tasks.SHOW_ALL, gettext_lazy("Everything")),
    (tasks.SHOW_CALLS, gettext_lazy("Phone calls")),
    (tasks.SHOW_DESK, gettext_lazy("Front-desk tasks")),
)


@policy.allowed("task_list")
@require_GET
def task_list(request):
    """Open tasks and calls, soonest due first; filter by kind and to overdue only."""
    show = request.GET.get("show", tasks.SHOW_ALL)
    if show not in dict(SHOW_CHOICES):
        show = tasks.SHOW_ALL
    overdue_only = request.GET.get("overdue") == "1"
    keys = tasks.open_task_keys(
        show=show, overdue_only=overdue_only, site_id=current_site_id(request)
    )
    page = Paginator(keys, TASKS_PER_PAGE).get_page(request.GET.get("page"))
    rows = tasks.queue_rows(list(page.object_list))
    record_list_read(request, [row.task.appointment.patient_id for row in rows])
    return render(
        request,
        "procedures/tasks.html",
        {
            "page": page,
            "rows": rows,
            "show": show,
            "show_choices": SHOW_CHOICES,
            "overdue_only": overdue_only,
            "filtered": show != tasks.SHOW_ALL or overdue_only,
            "CALL": tasks.CALL,
        },
    )


@policy.allowed("task_done")
@require_POST
def task_done_view(request):
    """Mark one row done; back to the list as it was (filters and page kept)."""
    back = back_to(request, reverse("procedures:tasks"))
    kind = request.POST.get("kind", "")
    task_id = query_id(request.POST.get("task", ""))
    if task_id is None:
        messages.error(request, _("That task is not on the list any more."))
        return redirect(back)
    try:
        done = tasks.task_done(
            kind=kind, task_id=task_id, by=request.user, note=request.POST.get("note", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(back)
    name = done.task.appointment.patient.full_name
    if done.changed:
        messages.success(
            request, _("Done: %(what)s, for %(name)s.") % {"what": done.what, "name": name}
        )
    else:
        messages.info(
            request,
            _("Already closed, nothing changed: %(what)s, for %(name)s.")
            % {"what": done.what, "name": name},
        )
    return redirect(back)


@policy.allowed("task_overdue_count")
@require_GET
def task_overdue_count(request):
    """The overdue count next to "Tasks" in the navigation (loaded by htmx: one query)."""
    return render(
        request,
        "procedures/_tasks_overdue.html",
        {"count": tasks.overdue_count(site_id=current_site_id(request))},
    )
