"""Read models for the calendars, the today board and the day sheet: a fixed number of
queries whatever the number of appointments (everything is fetched in one query and
grouped here).

What each entry shows (times, labels, links, badge classes) is worked out here, once per
request, so the templates only print strings: at a network's scale (~765 arrivals a
day) a template lookup through related objects, a `get_FOO_display` or a `{% url %}`
per row costs more than the SQL."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter

from django.db.models import Choices, Q
from django.utils import formats

from clinic.http import url_maker
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_today, clinic_tz
from procedures.catalog.resources import Provider, Room, works_at
from procedures.catalog.sites import at_site
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import (
    Availability,
    availability_load,
    clinic_day_bounds,
    epoch_rows,
)
from procedures.scheduling.timegrid import TimeGrid, time_grid

VIEWS = ("day", "week")
# The whole clinic by physician or by room, or one physician or one room.
BY = ("clinic", "rooms", "provider", "room")


# --- What an entry shows ------------------------------------------------------------

# The colour repeats the status, which is always written in words next to it (the same
# classes as templates/procedures/_status.html).
STATUS_BADGES: dict[str, str] = {
    Appointment.Status.CANCELLED: "text-bg-secondary",
    Appointment.Status.NO_SHOW: "text-bg-secondary",
    Appointment.Status.COMPLETED: "text-bg-success",
    Appointment.Status.CHECKED_IN: "text-bg-info",
    Appointment.Status.IN_PROCEDURE: "text-bg-info",
}
OTHER_STATUS_BADGE = "text-bg-light border"


def choice_labels(choices: type[Choices]) -> dict[str, str]:
    """Value -> label in the active language (`get_FOO_display` is slow per row)."""
    return {value: str(label) for value, label in choices.choices}


@dataclass(slots=True)
class Card:
    """One appointment on a calendar, as shown."""

    pk: int
    day: date  # the clinic day it starts on
    provider_id: int
    url: str
    start: str
    end: str
    held: str  # the room's hold with buffers ("08:50-10:45") when it differs, else ""
    patient: str
    procedure: str
    provider: str
    room: str
    status: str
    status_label: str
    status_badge: str
    sedation: str
    sedation_label: str
    sedated: bool
    reschedule_url: str  # "" when the lifecycle does not allow it
    patient_id: int | None = None  # for the audit of the read (clinic.audit), never shown
    room_id: int = 0
    start_at: datetime | None = None
    end_at: datetime | None = None
    blocked_from: datetime | None = None
    blocked_until: datetime | None = None
    site_id: int = 0
    site_name: str = ""


def calendar_cards(
    *,
    days: list[date],
    provider: Provider | None = None,
    room: Room | None = None,
    providers: list[Provider] | None = None,
    rooms: list[Room] | None = None,
    site_id: int | None = None,
) -> list[Card]:
    """The cards of these clinic days (cancelled appointments too, shown as such), for one
    physician, one room or some physicians, in one query of plain values."""
    tz = clinic_tz()
    start, _end = clinic_day_bounds(days[0])
    _start, end = clinic_day_bounds(days[-1])
    qs = at_site(Appointment.objects.filter(start_at__gte=start, start_at__lt=end), site_id)
    if provider is not None:
        qs = qs.filter(provider=provider)
    if room is not None:
        qs = qs.filter(room=room)
    if providers is not None:
        qs = qs.filter(provider__in=[p.pk for p in providers])
    if rooms is not None:
        qs = qs.filter(room__in=[r.pk for r in rooms])
    values = (
        "pk",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "status",
        "sedation_level",
        "patient__family_name",
        "patient__given_name",
        "procedure_type__name",
        "provider_id",
        "provider__display_name",
        "room__name",
        "patient_id",
        "room_id",
        "site_id",
        "site__name",
    )
    with epoch_rows(qs, values, ("start_at", "end_at")) as read:
        # In time order (then by id), as the calendar shows them.
        rows = sorted(read, key=itemgetter(-2, 0))
    detail = url_maker("procedures:appointment_detail")
    reschedule = url_maker("procedures:appointment_reschedule")
    statuses = choice_labels(Appointment.Status)
    sedations = choice_labels(SedationLevel)
    sedated = SedationLevel.sedated()
    movable = Appointment.TRANSITIONS["reschedule"].sources
    # Bookings sit on a grid: the same few times recur across physicians and days.
    clock: dict[float, tuple[datetime, str, date]] = {}

    def wall(epoch: float) -> tuple[datetime, str, date]:
        """The moment (aware, UTC, as the ORM gives it), its clinic time and day."""
        if epoch not in clock:
            moment = datetime.fromtimestamp(epoch, UTC)
            local = moment.astimezone(tz)
            clock[epoch] = (moment, f"{local:%H:%M}", local.date())
        return clock[epoch]

    cards = []
    for (
        pk,
        before,
        after,
        status,
        sedation,
        family_name,
        given_name,
        procedure,
        provider_id,
        provider_name,
        room_name,
        patient_id,
        room_id,
        visit_site_id,
        site_name,
        start_epoch,
        end_epoch,
    ) in rows:
        start_at, starts, day = wall(start_epoch)
        end_at, ends, _day = wall(end_epoch)
        held = ""
        if before or after:  # the room is held for set-up and turnover too
            held_from = wall(start_epoch - 60 * before)[1]
            held = f"{held_from}\u2013{wall(end_epoch + 60 * after)[1]}"
        cards.append(
            Card(
                pk=pk,
                day=day,
                provider_id=provider_id,
                url=detail(pk),
                start=starts,
                end=ends,
                held=held,
                patient=f"{family_name}, {given_name}",
                procedure=procedure,
                provider=provider_name,
                room=room_name,
                status=status,
                status_label=statuses.get(status, status),
                status_badge=STATUS_BADGES.get(status, OTHER_STATUS_BADGE),
                sedation=sedation,
                sedation_label=sedations.get(sedation, sedation),
                sedated=sedation in sedated,
                reschedule_url=reschedule(pk) if status in movable else "",
                patient_id=patient_id,
                room_id=room_id,
                start_at=start_at,
                end_at=end_at,
                blocked_from=start_at - timedelta(minutes=before),
                blocked_until=end_at + timedelta(minutes=after),
                site_id=visit_site_id,
                site_name=site_name,
            )
        )
    return cards


# --- Calendars -----------------------------------------------------------------------


@dataclass
class Column:
    """One resource on one day: a physician or a room on the whole clinic's day, or one
    day of one physician's or room's week."""

    day: date
    title: str
    hours: str = ""
    closed: str = ""
    away: str = ""  # leave, training... for the whole day
    cards: list[Card] = field(default_factory=list)
    # A physician's visits at another site that day: shown as busy there, never with
    # the patient (the page is this site's).
    elsewhere: list[Card] = field(default_factory=list)
    kind: str = "provider"  # or "room"
    resource: Provider | Room | None = None
    is_today: bool = False


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def calendar_days(view: str, day: date) -> list[date]:
    if view == "week":
        monday = week_start(day)
        return [monday + timedelta(days=i) for i in range(7)]
    return [day]


def calendar_appointments(
    *,
    days: list[date],
    provider: Provider | None = None,
    room: Room | None = None,
    site_id: int | None = None,
) -> list[Appointment]:
    """Appointments on these clinic days (cancelled ones too), with their patient,
    procedure, physician and room, in one query (the day sheet shows all of it)."""
    start, _end = clinic_day_bounds(days[0])
    _start, end = clinic_day_bounds(days[-1])
    qs = (
        at_site(Appointment.objects.filter(start_at__gte=start, start_at__lt=end), site_id)
        .select_related("patient", "procedure_type", "provider", "room")
        .order_by("start_at", "pk")
    )
    if provider is not None:
        qs = qs.filter(provider=provider)
    if room is not None:
        qs = qs.filter(room=room)
    return list(qs)


def _hours_text(availability: Availability, kind: str, resource_id: int, day: date) -> str:
    sessions = availability.sessions(kind, resource_id, day)
    tz = clinic_tz()
    return ", ".join(f"{s.astimezone(tz):%H:%M}-{e.astimezone(tz):%H:%M}" for s, e in sessions)


def _absence_text(availability: Availability, kind: str, resource_id: int, day: date) -> str:
    """ "Training" for a whole working day away, "13:00-18:00 training" for part of it."""
    start, end = clinic_day_bounds(day)
    absence = availability.absence(kind, resource_id, start, end)
    if absence is None:
        return ""
    reason = absence.get_reason_display()
    sessions = availability.sessions(kind, resource_id, day)
    if sessions and (absence.starts_at > sessions[0][0] or absence.ends_at < sessions[-1][1]):
        tz = clinic_tz()
        away_from = max(absence.starts_at, start).astimezone(tz)
        away_until = min(absence.ends_at, end).astimezone(tz)
        return f"{away_from:%H:%M}-{away_until:%H:%M} {reason.lower()}"
    return reason


def clinic_day_providers(day: date, *, site_id: int | None = None) -> list[Provider]:
    """The physicians of the whole clinic's day, by name: the active ones (who work at
    site `site_id`), and any other with a booking there that day (still shown)."""
    start, end = clinic_day_bounds(day)
    day_visits = Appointment.objects.filter(start_at__gte=start, start_at__lt=end)
    booked = at_site(day_visits, site_id).values("provider_id")
    return list(Provider.objects.filter((Q(is_active=True) & works_at(site_id)) | Q(pk__in=booked)))


def clinic_day_rooms(day: date, *, site_id: int | None = None) -> list[Room]:
    """The rooms of the whole clinic's day (at site `site_id`): the active ones, and any
    other booked."""
    start, end = clinic_day_bounds(day)
    day_visits = Appointment.objects.filter(start_at__gte=start, start_at__lt=end)
    booked = at_site(day_visits, site_id).values("room_id")
    rooms = Room.objects.filter(Q(is_active=True) | Q(pk__in=booked))
    return list(at_site(rooms, site_id))


@dataclass
class CalendarData:
    """What a calendar shows, read in a fixed number of queries: its columns, and the
    time grid drawn from them."""

    columns: list[Column]
    grid: TimeGrid
    providers: list[Provider]  # every physician and room (the "Show" box offers them)
    rooms: list[Room]


def _grid(
    columns: list[Column],
    days: list[date],
    *,
    providers: list[Provider],
    rooms: list[Room],
    may_book: bool,
) -> CalendarData:
    """Availability of the physicians and rooms shown, and the grid."""
    # The hours and leave of the columns only (a page of twenty physicians is not the
    # network's five hundred and its three hundred rooms); the closures of every
    # room's site, as the columns'.
    shown = {(c.kind, c.resource.pk) for c in columns if c.resource is not None}
    availability = availability_load(
        providers=[p for p in providers if ("provider", p.pk) in shown],
        rooms=[r for r in rooms if ("room", r.pk) in shown],
        site_ids={r.site_id for r in rooms},
        first_day=days[0],
        last_day=days[-1],
    )
    today = clinic_today()
    for column in columns:
        if column.resource is None:
            continue
        kind, pk, day = column.kind, column.resource.pk, column.day
        column.is_today = day == today
        column.closed = availability.holidays.get(day, "")
        if column.resource.is_active:
            column.hours = _hours_text(availability, kind, pk, day)
        column.away = "" if column.closed else _absence_text(availability, kind, pk, day)
    grid = time_grid(columns=columns, availability=availability, may_book=may_book)
    return CalendarData(columns=columns, grid=grid, providers=providers, rooms=rooms)


def clinic_day_calendar(
    *,
    day: date,
    shown: list,
    everyone_providers: list[Provider],
    rooms: list[Room],
    by: str,
    may_book: bool,
    site_id: int | None = None,
) -> CalendarData:
    """The whole clinic's day, a column per physician or per room (those `shown`: a
    page of them); at site `site_id`, that site's visits only."""
    kind = "room" if by == "rooms" else "provider"
    if kind == "provider":
        # Every site's visits of the physicians shown, in the same one query: a physician
        # who works at two sites is busy here while booked at the other (shown as "at
        # Northgate", without the patient, and not offered for booking).
        cards = calendar_cards(days=[day], providers=shown)
        columns = {
            p.pk: Column(day=day, title=p.display_name, kind=kind, resource=p) for p in shown
        }
        for card in cards:
            column = columns[card.provider_id]
            if site_id is None or card.site_id == site_id:
                column.cards.append(card)
            elif card.status not in Appointment.RELEASED_STATUSES:
                column.elsewhere.append(card)
    else:
        cards = calendar_cards(days=[day], rooms=shown, site_id=site_id)
        columns = {r.pk: Column(day=day, title=r.name, kind=kind, resource=r) for r in shown}
        for card in cards:
            columns[card.room_id].cards.append(card)
    return _grid(
        list(columns.values()),
        [day],
        providers=everyone_providers,
        rooms=rooms,
        may_book=may_book,
    )


def resource_calendar(
    *,
    view: str,
    by: str,
    day: date,
    resource: Provider | Room,
    may_book: bool,
    site_id: int | None = None,
) -> CalendarData:
    """A column per day (one, or a week) for one physician or room. Every site's visits
    of that physician are shown (each card names its room); the "Show" box offers the
    physicians and rooms of site `site_id`."""
    days = calendar_days(view, day)
    kind = "provider" if by == "provider" else "room"
    cards = calendar_cards(
        days=days,
        provider=resource if isinstance(resource, Provider) else None,
        room=resource if isinstance(resource, Room) else None,
    )
    columns = [
        Column(day=d, title=formats.date_format(d, "D j M"), kind=kind, resource=resource)
        for d in days
    ]
    by_day = {c.day: c for c in columns}
    for card in cards:
        by_day[card.day].cards.append(card)
    providers = list(Provider.objects.filter(works_at(site_id), is_active=True))
    rooms = list(at_site(Room.objects.filter(is_active=True), site_id))
    if isinstance(resource, Provider) and resource not in providers:
        providers.append(resource)
    if isinstance(resource, Room) and resource not in rooms:
        rooms.append(resource)
    return _grid(columns, days, providers=providers, rooms=rooms, may_book=may_book)


def resources_for(by: str) -> list:
    if by == "provider":
        return list(Provider.objects.filter(is_active=True))
    if by == "room":
        return list(Room.objects.filter(is_active=True))
    return []
