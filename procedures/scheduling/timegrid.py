"""The calendar's time grid: rows of 15 minutes (the slot finder's step), a column per
physician, per room or per day, and what each cell and block shows.

Everything is worked out here from data read once (the calendar's cards, the day's
holds on the physicians and rooms a gap may suggest, and availability: a fixed number
of queries), so the template tag only writes strings. A free cell carries the booking
form's address with the physician, a room and the start filled in; the booking itself
runs the same service and rules as every other booking.
"""

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _

from procedures.catalog.clock import clinic_datetime, clinic_now, clinic_tz
from procedures.catalog.resources import Provider, Room, works_at
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import (
    LONGEST_BLOCK,
    SLOT_STEP,
    Availability,
    Busy,
    availability_load,
    epoch_rows,
    physician_rooms,
)

if TYPE_CHECKING:  # typing only: calendars imports this module
    from procedures.scheduling.calendars import Card

UNIT = timedelta(minutes=5)  # blocks are drawn to the nearest 5 minutes
UNITS_PER_ROW = SLOT_STEP // UNIT
DEFAULT_FIRST, DEFAULT_LAST = time(8, 0), time(18, 0)
MAX_UNITS = 288  # a whole day; static/css/timegrid.css has a length class for each


@dataclass(slots=True)
class Hold:
    """One active booking's hold on a physician (the procedure) or on a room (with its
    set-up and turnover), as plain values (times in epoch seconds): for free/busy
    answers."""

    kind: str  # "provider" or "room"
    resource_id: int
    start: float
    end: float


def holds_load(
    *, start: datetime, end: datetime, providers: list[Provider], rooms: list[Room]
) -> list[Hold]:
    """The active bookings' holds that meet [start, end) on these physicians and rooms:
    which of them is free then, for the room or physician the booking form suggests
    (`suggest_free`). A read for each (none for an empty list: a suggestion is of
    physicians or of rooms), each bounded on the column its index has after the id,
    with a lower bound as no booking is blocked for longer than a day: the few holds
    around that time of the site's rooms, not the network's. The rooms' holds come from
    their index alone (`appt_room_active_idx` holds all three values)."""
    earliest = start - LONGEST_BLOCK
    active = Appointment.objects.active()
    by_provider = active.filter(
        provider__in=[p.pk for p in providers],
        start_at__lt=end,
        start_at__gte=earliest,
        end_at__gt=start,
    )
    by_room = active.filter(
        room__in=[r.pk for r in rooms],
        blocked_from__lt=end,
        blocked_from__gte=earliest,
        blocked_until__gt=start,
    )
    with epoch_rows(by_provider, ("provider_id",), ("start_at", "end_at")) as rows:
        holds = [Hold("provider", *row) for row in rows]
    with epoch_rows(by_room, ("room_id",), ("blocked_from", "blocked_until")) as rows:
        holds += [Hold("room", *row) for row in rows]
    return holds


def suggest_free(
    *, beside: Provider | Room, start: datetime, end: datetime, site_id: int | None
) -> Provider | Room | None:
    """What a free time on the calendar suggests for the booking form: beside a
    physician, the first room (in their order) of site `site_id` and of the physician's
    sites, open, not closed and free over [start, end); beside a room, the first
    physician who works at its site, at work, not away and free then (a booking
    refuses a room and a physician of different sites: invariant 17). Asked when the
    form opens, for the time clicked (fresh, and once), not for every free cell the
    grid draws (a site's day of thirty rooms read all their holds for it). A fixed
    number of queries."""
    day = start.astimezone(clinic_tz()).date()
    candidates: list
    if isinstance(beside, Provider):
        kind = "room"
        candidates = list(physician_rooms(beside, site_id=site_id))
    else:
        kind = "provider"
        candidates = list(Provider.objects.filter(works_at(beside.site_id), is_active=True))
    if not candidates:
        return None
    rooms_asked = candidates if kind == "room" else []
    providers_asked = candidates if kind == "provider" else []
    availability = availability_load(
        providers=providers_asked, rooms=rooms_asked, first_day=day, last_day=day
    )
    busy = {candidate.pk: Busy() for candidate in candidates}
    for hold in holds_load(start=start, end=end, providers=providers_asked, rooms=rooms_asked):
        busy[hold.resource_id].add(hold.start, hold.end)
    for candidate in candidates:
        if (
            _covers(availability.sessions(kind, candidate.pk, day), start, end)
            and not availability.absence(kind, candidate.pk, start, end)
            and not busy[candidate.pk].meets(start, end)
        ):
            return candidate
    return None


@dataclass(slots=True)
class Block:
    """A drawn block: a visit, or the room's set-up before it or turnover/recovery after."""

    kind: str  # "visit", "setup", "after", "elsewhere" (at another site)
    offset: int  # 5-minute units into the row it starts in
    length: int  # 5-minute units
    label: str  # in words, for everyone
    card: "Card | None" = None  # calendars.Card for a visit


@dataclass(slots=True)
class Cell:
    state: str  # free, busy, elsewhere (at another site), off (not working), away, closed, past
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


class _WallMinutes:
    """Minutes from a clinic day's midnight (wall clock) to a moment. Bookings sit on a
    grid, so a day's cards share a few dozen times: each is converted to clinic time
    once, not once per card (a site's day draws hundreds)."""

    def __init__(self) -> None:
        self.tz = clinic_tz()
        self.known: dict[tuple[datetime, date], int] = {}

    def __call__(self, moment: datetime, day: date) -> int:
        key = (moment, day)
        if key not in self.known:
            local = moment.astimezone(self.tz)
            self.known[key] = (local.date() - day).days * 1440 + local.hour * 60 + local.minute
        return self.known[key]


def _covers(spans, start: datetime, end: datetime) -> bool:
    return any(s <= start and end <= e for s, e in spans)


def time_grid(*, columns: list, availability: Availability, may_book: bool) -> TimeGrid:
    """The grid of these columns: the rows span every column's hours and bookings
    (08:00-18:00 at least), each cell says whether it is free, booked, outside hours,
    on leave or on a clinic holiday, and each visit is drawn with its buffers. A free
    cell links to the booking form with its physician (or room) and start; the form
    suggests the room (or physician) free then when it opens (`suggest_free`)."""
    now = clinic_now()
    wall_minutes = _WallMinutes()
    step = int(SLOT_STEP.total_seconds() // 60)
    first = DEFAULT_FIRST.hour * 60
    last = DEFAULT_LAST.hour * 60
    for column in columns:
        for s, e in availability.sessions(column.kind, column.resource.pk, column.day):
            first = min(first, wall_minutes(s, column.day))
            last = max(last, wall_minutes(e, column.day))
        for card in column.elsewhere:
            first = min(first, max(0, wall_minutes(card.start_at, column.day)))
            last = max(last, min(1440, wall_minutes(card.end_at, column.day)))
        for card in column.cards:
            if card.status == Appointment.Status.CANCELLED:
                continue
            first = min(first, max(0, wall_minutes(card.blocked_from, column.day)))
            last = max(last, min(1440, wall_minutes(card.blocked_until, column.day)))
    first, last = first - first % 60, last + (-last) % 60
    times = [f"{m // 60:02d}:{m % 60:02d}" for m in range(first, last, step)]

    book_url = reverse("procedures:appointment_book")

    # The words of the cells, translated once for the grid.
    booked_text, closed_text = _("%(where)s: booked, %(patient)s"), _("%(where)s: clinic closed")
    away_text, free_text = _("Away (%(why)s)"), _("%(where)s: free")
    off_text = {"provider": _("%(where)s: not working"), "room": _("%(where)s: room closed")}
    book_text = _("%(where)s: free, book")
    elsewhere_text = _("%(where)s: at %(site)s")
    # Each row's start on each day shown (a week's columns have a day each).
    row_starts: dict[date, list[datetime]] = {}
    for column in columns:
        if column.day not in row_starts:
            row_starts[column.day] = [
                clinic_datetime(column.day, time(m // 60, m % 60))
                for m in range(first, first + len(times) * step, step)
            ]
    in_order = {d: all(a < b for a, b in pairwise(s)) for d, s in row_starts.items()}
    book_at: dict[datetime, str] = {}
    rows: list[list[Cell]] = [[] for _t in times]
    cancelled = []
    for column in columns:
        kind, pk, day = column.kind, column.resource.pk, column.day
        sessions = availability.sessions(kind, pk, day)
        holiday = availability.holidays.get(day, "")
        starts = row_starts[day]
        row_ends = [start + SLOT_STEP for start in starts]
        # What holds this column: the physician over the procedure, the room with
        # buffers. A row shows the first visit (in the cards' order) that meets it.
        covering: list[Card | None] = [None] * len(times)
        for card in column.cards:
            if card.status in Appointment.RELEASED_STATUSES:
                continue
            if kind == "provider":
                held_from, held_until = card.start_at, card.end_at
            else:
                held_from, held_until = card.blocked_from, card.blocked_until
            if in_order[day]:  # the rows it meets, found by bisection
                met = range(bisect_right(row_ends, held_from), bisect_left(starts, held_until))
            else:  # a night's rows over a change of clocks: each row asked
                met = range(len(times))
            for r in met:
                if covering[r] is None and starts[r] < held_until and row_ends[r] > held_from:
                    covering[r] = card
        # The physician's visits at another site (`Column.elsewhere`): busy here.
        away_at: list[str] = [""] * len(times)
        for card in column.elsewhere:
            for r in range(len(times)):
                if not away_at[r] and starts[r] < card.end_at and row_ends[r] > card.start_at:
                    away_at[r] = card.site_name
        cells = []
        for r, hhmm in enumerate(times):
            start, end = starts[r], row_ends[r]
            where = f"{column.title}, {hhmm}"
            visit = covering[r]
            absence = availability.absence(kind, pk, start, end)
            if visit is not None:
                cell = Cell(
                    "busy", booked_text % {"where": where, "patient": visit.patient}, visit.url
                )
            elif away_at[r]:
                cell = Cell("elsewhere", elsewhere_text % {"where": where, "site": away_at[r]})
            elif holiday:
                cell = Cell("closed", closed_text % {"where": where})
            elif absence is not None:
                cell = Cell("away", away_text % {"why": absence.get_reason_display().lower()})
            elif not column.resource.is_active or not _covers(sessions, start, end):
                # An inactive physician or room (shown for the visits it still has)
                # is never offered for booking.
                cell = Cell("off", off_text[kind] % {"where": where})
            elif start < now or not may_book:
                state = "past" if start < now else "open"
                cell = Cell(state, free_text % {"where": where})
            else:
                # The booking form's address: the date and time (encoded once a row),
                # then the column's id (an integer, nothing to encode).
                if start not in book_at:
                    when = urlencode({"date": day.isoformat(), "time": hhmm})
                    book_at[start] = f"{book_url}?{when}"
                href = f"{book_at[start]}&{kind}={pk}"
                cell = Cell("free", book_text % {"where": where}, href)
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
                offset = wall_minutes(s, day) - first
                if offset < 0 or offset >= len(times) * step:
                    continue
                length = max(1, min(MAX_UNITS, -(-int((e - s).total_seconds()) // 300)))
                row, within = divmod(offset, step)
                block = Block(part, within // 5, length, label, card if part == "visit" else None)
                if part != "visit":
                    block.label = f"{label} {int((e - s).total_seconds() // 60)} min"
                cells[row].blocks.append(block)
        for card in column.elsewhere:
            offset = wall_minutes(card.start_at, day) - first
            if 0 <= offset < len(times) * step:
                length = max(
                    1, min(MAX_UNITS, -(-int((card.end_at - card.start_at).total_seconds()) // 300))
                )
                row, within = divmod(offset, step)
                label = _("At %(site)s") % {"site": card.site_name}
                cells[row].blocks.append(Block("elsewhere", within // 5, length, label))
        for r, cell in enumerate(cells):
            rows[r].append(cell)
    return TimeGrid(columns=columns, times=times, rows=rows, cancelled=cancelled)
