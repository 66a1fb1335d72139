"""The nurses' day-of page: each tick saves through htmx (the row alone comes back), or,
without script, posts and returns to the page."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clinic import policy
from clinic.audit import record_list_read, record_read
from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import current_site_id
from procedures.prep.checklist import checklist_tick
from procedures.prep.models import ChecklistItem
from procedures.scheduling.models import Appointment
from procedures.today import paging
from procedures.today.checklists import checklist_row, checklist_rows_of, day_checklist_visits


@policy.allowed("day_checklists")
@require_GET
def day_checklists_view(request):
    """A page of the day at a time (a network site's day is hundreds of visits), opening
    on the visits due now, as the Today board; each row's checklist read for the page's
    visits only."""
    # Counted, paged and named in the database, as the Today board's day.
    visits = paging.PageEnds(day_checklist_visits(site_id=current_site_id(request)))
    paginator = Paginator(visits, paging.PER_PAGE)
    page = paginator.get_page(request.GET.get("page") or paging.current_page(visits))
    rows = checklist_rows_of(list(page.object_list))
    record_list_read(request, [row.appointment.patient_id for row in rows])
    return render(
        request,
        "procedures/today/checklists.html",
        {
            "rows": rows,
            "today": clinic_today(),
            "page": page,
            "pages": paging.page_links(visits, page),
        },
    )


@policy.allowed("prep_checklist_tick")
@require_POST
def day_checklist_tick(request, pk: int):
    appointment = get_object_or_404(Appointment, pk=pk)
    item = request.POST.get("item", "")
    error = ""
    if item not in ChecklistItem.values:
        error = _("Choose a checklist item.")
    else:
        try:
            checklist_tick(appointment_id=appointment.pk, item=item, by=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if request.htmx:
        appointment = get_object_or_404(Appointment.objects.with_related(), pk=pk)
        record_read(request, appointment)
        return render(
            request,
            "procedures/today/_checklist_row.html",
            {"row": checklist_row(appointment), "error": error},
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("Ticked: %(item)s.") % {"item": ChecklistItem(item).label})
    return redirect("procedures:day_checklists")
