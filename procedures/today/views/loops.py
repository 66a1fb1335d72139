"""The daily open-loops report and its sign-off, and the alarm staff pages load when
an escalation has nobody to email."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from clinic import policy
from clinic.bounds import BoundedDateField
from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import covers_network, current_site_id
from procedures.today import loops


def _day(value: str | None):
    """The day asked for (?day=YYYY-MM-DD), or today; a bad value is today with a word."""
    if not value:
        return clinic_today(), ""
    try:
        return BoundedDateField().clean(value), ""
    except ValidationError as exc:
        return clinic_today(), " ".join(exc.messages)


@policy.allowed("open_loops")
@require_GET
def open_loops(request):
    """What the clinic still owes as seen on a day, and who signed that day off."""
    day, problem = _day(request.GET.get("day"))
    if problem:
        messages.error(request, _("That date could not be read: showing today. ") + problem)
    site_id = current_site_id(request)
    report = loops.open_loops_report(day=day, site_id=site_id)
    return render(
        request,
        "procedures/open_loops.html",
        {
            "report": report,
            "day": day,
            "is_today": day == clinic_today(),
            # The sign-off is the network's day: given where every site's loops show.
            "can_sign_off": covers_network(site_id),
        },
    )


@policy.allowed("open_loops_sign_off")
@require_POST
def open_loops_sign_off(request):
    """Sign a day's open loops off (who and when are recorded)."""
    day, problem = _day(request.POST.get("day"))
    back = reverse("procedures:open_loops") + f"?day={day.isoformat()}"
    if problem:
        messages.error(request, problem)
        return redirect(back)
    if not covers_network(current_site_id(request)):
        messages.error(request, _("Sign the day off from “All sites”: it covers every site."))
        return redirect(back)
    try:
        loops.open_loops_sign_off(
            day=day, by=request.user, note=request.POST.get("note", "").strip()
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Open loops signed off."))
    return redirect(back)


@policy.allowed("escalation_alarms")
@require_GET
def alarms(request):
    """The banner staff pages load by htmx: escalations with nobody to email."""
    return render(request, "procedures/_alarms.html", {"count": loops.alarm_count()})
