"""The calendar's time grid: rows of 15 minutes (the slot finder's step), a column per
physician, per room or per day, and what each cell and block shows.

Everything is worked out here from data read once (the calendar's cards, the day's
holds on every physician and room, and availability: a fixed number of queries), so
the template tag only writes strings. A free cell carries the booking form's address
with the physician, a room and the start filled in; the booking itself runs the same
service and rules as every other booking.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_datetime, clinic_now, clinic_tz
from procedures.catalog.resources import Provider, Room
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import SLOT_STEP, Availability, clinic_day_bounds

if TYPE_CHECKING:  # typing only: calendars imports this module
    from procedures.scheduling.calendars import Card

UNIT = timedelta(minutes=5)  # blocks are drawn to the nearest 5 minutes
UNITS_PER_ROW = SLOT_STEP // UNIT
DEFAULT_FIRST, DEFAULT_LAST = time(8, 0), time(18, 0)
MAX_UNITS = 288  # a whole day; static/css/timegrid.css has a length class for each


@dataclass(slots=True)
class Hold:
    """One active booking's hold, as plain values: for free/busy answers."""

    provider_id: int
    room_id: int
    start_at: datetime
    end_at: datetime
    blocked_from: datetime
    blocked_until: datetime


def holds_load(*, first_day: date, last_day: date) -> list[Hold]:
    """Every active booking's hold that meets these clinic days (one query): which
    physician and room is free where, for the room or physician a gap suggests."""
    start, _end = clinic_day_bounds(first_day)
    _start, end = clinic_day_bounds(last_day)
    rows = (
        Appointment.objects.active()
        .filter(blocked_from__lt=end, blocked_until__gt=start)
        .values_list(
            "provider_id", "room_id", "start_at", "end_at", "blocked_from", "blocked_until"
        )
    )
    return [Hold(*row) for row in rows]


@dataclass(slots=True)
class Block:
    """A drawn block: a visit, or the room's set-up before it or turnover/recovery after."""

    kind: str  # "visit", "setup", "after"
    offset: int  # 5-minute units into the row it starts in
    length: int  # 5-minute units
    label: str  # in words, for everyone
    card: "Card | None" = None  # calendars.Card for a visit


@dataclass(slots=True)
class Cell:
    state: str  # free, busy, off (not working), away, closed (holiday), past
    label: str  # what a screen reader hears for the cell
    href: str = ""  # free: the booking form; busy: the visit
    blocks: list[Block] = field(default_factory=list)
    now: int | None = None  # the current-time line, 5-minute units into the row


@dataclass
class TimeGrid:
    columns: list  # calendars.Column
    times: list[str]  # the row headers, "08:00", "08:15", ...
    rows: list[list[Cell]]  # rows[r][c]
    cancelled: list = field(default_factory=list)  # cancelled cards, listed below the grid


def _minutes(moment: datetime, day: date) -> int:
    """Minutes from the clinic day's midnight (wall clock) to `moment`."""
    local = moment.astimezone(clinic_tz())
    return (local.date() - day).days * 1440 + local.hour * 60 + local.minute


def _meets(spans, start: datetime, end: datetime) -> bool:
    return any(s < end and e > start for s, e in spans)


def _covers(spans, start: datetime, end: datetime) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def time_grid(
    *,
    columns: list,
    availability: Availability,
    holds: list[Hold],
    providers: list[Provider],
    rooms: list[Room],
    may_book: bool,
) -> TimeGrid:
    """The grid of these columns: the rows span every column's hours and bookings
    (08:00-18:00 at least), each cell says whether it is free, booked, outside hours,
    on leave or on a clinic holiday, and each visit is drawn with its buffers."""
    now = clinic_now()
    step = int(SLOT_STEP.total_seconds() // 60)
    first = DEFAULT_FIRST.hour * 60
    last = DEFAULT_LAST.hour * 60
    for column in columns:
        for s, e in availability.sessions(column.kind, column.resource.pk, column.day):
            first, last = min(first, _minutes(s, column.day)), max(last, _minutes(e, column.day))
        for card in column.cards:
            if card.status == Appointment.Status.CANCELLED:
                continue
            first = min(first, max(0, _minutes(card.blocked_from, column.day)))
            last = max(last, min(1440, _minutes(card.blocked_until, column.day)))
    first, last = first - first % 60, last + (-last) % 60
    times = [f"{m // 60:02d}:{m % 60:02d}" for m in range(first, last, step)]

    book_url = reverse("procedures:appointment_book")
    held_by_room: dict[int, list] = {}
    busy_provider: dict[int, list] = {}
    for hold in holds:
        held_by_room.setdefault(hold.room_id, []).append((hold.blocked_from, hold.blocked_until))
        busy_provider.setdefault(hold.provider_id, []).append((hold.start_at, hold.end_at))

    def present(kind: str, pk: int, day: date, start: datetime, end: datetime) -> bool:
        return _covers(availability.sessions(kind, pk, day), start, end) and not (
            availability.absence(kind, pk, start, end)
        )

    def suggest_room(day: date, start: datetime, end: datetime) -> Room | None:
        for room in rooms:
            if present("room", room.pk, day, start, end) and not _meets(
                held_by_room.get(room.pk, ()), start, end
            ):
                return room
        return None

    def suggest_provider(day: date, start: datetime, end: datetime) -> Provider | None:
        for provider in providers:
            if present("provider", provider.pk, day, start, end) and not _meets(
                busy_provider.get(provider.pk, ()), start, end
            ):
                return provider
        return None

    rows: list[list[Cell]] = [[] for _t in times]
    cancelled = []
    for column in columns:
        kind, pk, day = column.kind, column.resource.pk, column.day
        sessions = availability.sessions(kind, pk, day)
        holiday = availability.holidays.get(day, "")
        # What holds this column: the physician over the procedure, the room with buffers.
        active = [c for c in column.cards if c.status not in Appointment.RELEASED_STATUSES]
        if kind == "provider":
            spans = [(c.start_at, c.end_at, c) for c in active]
        else:
            spans = [(c.blocked_from, c.blocked_until, c) for c in active]
        cells = []
        for r, hhmm in enumerate(times):
            minutes = first + r * step
            start = clinic_datetime(day, time(minutes // 60, minutes % 60))
            end = start + SLOT_STEP
            where = f"{column.title}, {hhmm}"
            covering = next((c for s, e, c in spans if s < end and e > start), None)
            absence = availability.absence(kind, pk, start, end)
            if covering is not None:
                cell = Cell(
                    "busy",
                    _("%(where)s: booked, %(patient)s")
                    % {"where": where, "patient": covering.patient},
                    covering.url,
                )
            elif holiday:
                cell = Cell("closed", _("%(where)s: clinic closed") % {"where": where})
            elif absence is not None:
                cell = Cell(
                    "away",
                    _("Away (%(why)s)") % {"why": absence.get_reason_display().lower()},
                )
            elif not _covers(sessions, start, end):
                cell = Cell(
                    "off",
                    _("%(where)s: not working") % {"where": where}
                    if kind == "provider"
                    else _("%(where)s: room closed") % {"where": where},
                )
            elif start < now or not may_book:
                state = "past" if start < now else "open"
                cell = Cell(state, _("%(where)s: free") % {"where": where})
            else:
                if kind == "provider":
                    provider, room = column.resource, suggest_room(day, start, end)
                else:
                    provider, room = suggest_provider(day, start, end), column.resource
                query = {"date": day.isoformat(), "time": hhmm}
                if provider is not None:
                    query["provider"] = provider.pk
                if room is not None:
                    query["room"] = room.pk
                cell = Cell(
                    "free",
                    _("%(where)s: free, book") % {"where": where},
                    f"{book_url}?{urlencode(query)}",
                )
            if column.is_today and start <= now < end:
                cell.now = int((now - start) // UNIT)
            cells.append(cell)
        # The blocks, each in the cell where it starts.
        for card in column.cards:
            if card.status == Appointment.Status.CANCELLED:
                cancelled.append(card)
                continue
            parts = []
            if card.blocked_from < card.start_at:
                parts.append(("setup", card.blocked_from, card.start_at, _("Set-up")))
            parts.append(("visit", card.start_at, card.end_at, ""))
            if card.blocked_until > card.end_at:
                label = _("Turnover and recovery") if card.sedated else _("Turnover")
                parts.append(("after", card.end_at, card.blocked_until, label))
            for part, s, e, label in parts:
                offset = _minutes(s, day) - first
                if offset < 0 or offset >= len(times) * step:
                    continue
                length = max(1, min(MAX_UNITS, -(-int((e - s).total_seconds()) // 300)))
                row, within = divmod(offset, step)
                block = Block(part, within // 5, length, label, card if part == "visit" else None)
                if part != "visit":
                    block.label = f"{label} {int((e - s).total_seconds() // 60)} min"
                cells[row].blocks.append(block)
        for r, cell in enumerate(cells):
            rows[r].append(cell)
    return TimeGrid(columns=columns, times=times, rows=rows, cancelled=cancelled)
