"""Invariant 17 when the admin changes where things are: a room moved to another site,
or a physician's sites changed, must not leave a visit whose room is at a site its
physician does not work at (docs/invariants.md). Booking and moving check the same
rule for one visit (`Provider.site_refusal`)."""

from collections.abc import Collection, Iterable

from django.db.models import F, OuterRef, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from procedures.catalog.resources import Provider, Room, works_at
from procedures.catalog.sites import Site
from procedures.scheduling.models import Appointment


def room_move_refusal(room: Room, site: Site) -> str:
    """Why `room` may not move to `site`, or "": visits in it with physicians who do
    not work there (every visit, past ones too: a visit is at its room's site)."""
    stranded = Appointment.objects.filter(room=room).exclude(
        provider__in=Provider.objects.filter(works_at(site.pk)).values("pk")
    )
    count = stranded.count()
    if not count:
        return ""
    names = sorted(set(stranded.values_list("provider__display_name", flat=True)[:50]))
    return _(
        "%(count)s visit(s) in %(room)s are with physicians who do not work at %(site)s "
        "(%(names)s). Add %(site)s to their sites first, or keep the room where it is."
    ) % {"count": count, "room": room.name, "site": site.name, "names": ", ".join(names[:5])}


def provider_sites_refusal(provider: Provider, sites: Collection[Site]) -> str:
    """Why `provider` may not work at only `sites` (none: every site), or "": their
    visits in rooms at other sites."""
    if not sites:
        return ""
    # Cancelled visits and no-shows hold no place: they do not keep a site ticked.
    stranded = (
        Appointment.objects.active()
        .filter(provider=provider)
        .exclude(site__in=[s.pk for s in sites])
    )
    count = stranded.count()
    if not count:
        return ""
    elsewhere = sorted(set(stranded.values_list("site__name", flat=True)[:50]))
    return _(
        "%(who)s has %(count)s visit(s) at %(sites)s: keep those sites ticked, or leave "
        "none ticked (every site)."
    ) % {"who": provider.display_name, "count": count, "sites": ", ".join(elsewhere)}


def visits_follow_rooms(*, room_ids: Iterable[int]) -> int:
    """After rooms moved to another site (the admin corrected where a room is), their
    visits carry the rooms' sites again, in the same transaction (docs/invariants.md,
    20; the orders follow too: `results.orders.orders_follow_rooms`). Returns how many
    visits moved."""
    site_of_room = Room.objects.filter(pk=OuterRef("room_id")).values("site_id")[:1]
    return (
        Appointment.objects.filter(room__in=list(room_ids))
        .exclude(site=F("room__site"))
        .update(site=Subquery(site_of_room))
    )


DATES_NAMED = 3


def deactivation_refusal(obj: Provider | Room | Site) -> str:
    """Why the physician, room or site `obj` may not be made inactive, or "": visits to
    come with it (not cancelled, not a no-show, not over). An inactive one is offered
    nowhere (calendars, the slot finder, the move page, the site switcher), so its
    visits would sit where nobody sees them: the admin moves or cancels them first
    (invariant 31). Names how many and the first few dates, each on its site's clock."""
    field = {Provider: "provider", Room: "room", Site: "site"}[type(obj)]
    coming = (
        Appointment.objects.active()
        .filter(**{field: obj}, end_at__gt=timezone.now())
        .exclude(status=Appointment.Status.COMPLETED)
        .select_related("site")
        .order_by("start_at")
    )
    count = coming.count()
    if not count:
        return ""
    dates = [
        formats.date_format(visit.start_at.astimezone(visit.site.tz), "D j M Y H:i")
        for visit in coming[:DATES_NAMED]
    ]
    return _(
        "%(name)s has %(count)s booked visit(s) to come (%(dates)s%(more)s). Move or "
        "cancel them first, then make it inactive."
    ) % {
        "name": str(obj),
        "count": count,
        "dates": ", ".join(dates),
        "more": ", …" if count > DATES_NAMED else "",
    }
