"""When a provider and a room can be booked, and the slot finder.

Availability is loaded once for a set of providers and rooms over a range of
days (a fixed handful of queries), then asked in memory: the booking rules ask
it about one slot, the slot finder about thousands.
"""

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import accumulate
from operator import attrgetter
from zoneinfo import ZoneInfo

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import FloatField, Func, Q, QuerySet
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.clock import clinic_datetime, clinic_now, clinic_tz
from procedures.catalog.hours import DEFAULT_OPENING_HOURS, Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday, ProcedureType
from procedures.catalog.resources import Provider, Room, works_at
from procedures.catalog.sites import at_site
from procedures.scheduling.models import Appointment

SLOT_STEP = timedelta(minutes=15)
# Longer than any procedure with its buffers: bounds the slot finder's read of a day.
LONGEST_BLOCK = timedelta(days=1)
MORNING_ENDS = time(12, 0)
TIMES_OF_DAY = ("any", "morning", "afternoon")


def _weekday_name(day: date) -> str:
    return formats.date_format(day, "l")


def hhmm(moment: datetime) -> str:
    return f"{moment.astimezone(clinic_tz()):%H:%M}"


def clinic_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Midnight to midnight of a clinic day, as aware datetimes (23 or 25 hours at DST)."""
    return clinic_datetime(day, time.min), clinic_datetime(day + timedelta(days=1), time.min)


Sessions = tuple[tuple[datetime, datetime], ...]


@dataclass
class Availability:
    """Working hours, absences and clinic holidays for some resources and days.

    It answers in the zone current when it is asked: a physician's 09:00 is 09:00 in
    New York for a visit there (invariant 19), whatever zone it was loaded in."""

    # Keyed by ("provider", id) or ("room", id).
    hours: dict[tuple[str, int | None], dict[int, list[tuple[time, time]]]] = field(
        default_factory=dict
    )
    absences: dict[tuple[str, int | None], list[Unavailability]] = field(default_factory=dict)
    holidays: dict[date, str] = field(default_factory=dict)
    # A day's sessions by its hours, date and zone: most of a site's physicians and
    # rooms keep the same hours, and a page asks for thousands (a month of thirty rooms).
    _days: dict[tuple[tuple[tuple[time, time], ...], date, ZoneInfo], Sessions] = field(
        default_factory=dict, repr=False
    )

    def sessions(
        self, kind: str, resource_id: int, day: date, tz: ZoneInfo | None = None
    ) -> Sessions:
        """The resource's working sessions on a clinic day, as aware datetimes, in `tz`
        (the current zone: a caller asking thousands of times passes it, read once)."""
        if day in self.holidays:
            return ()
        weekly = self.hours.get((kind, resource_id)) or DEFAULT_OPENING_HOURS
        tz = tz or clinic_tz()
        key = (tuple(weekly.get(day.weekday(), ())), day, tz)
        sessions = self._days.get(key)
        if sessions is None:
            sessions = self._days[key] = tuple(
                (clinic_datetime(day, starts, tz), clinic_datetime(day, ends, tz))
                for starts, ends in key[0]
            )
        return sessions

    def within_hours(self, kind: str, resource_id: int, start: datetime, end: datetime) -> bool:
        tz = clinic_tz()
        day = start.astimezone(tz).date()
        return any(s <= start and end <= e for s, e in self.sessions(kind, resource_id, day, tz))

    def absence(
        self, kind: str, resource_id: int, start: datetime, end: datetime
    ) -> Unavailability | None:
        for absence in self.absences.get((kind, resource_id), ()):
            if absence.starts_at < end and absence.ends_at > start:
                return absence
        return None


def availability_load(
    *,
    providers: Iterable[Provider],
    rooms: Iterable[Room],
    first_day: date,
    last_day: date,
    site_ids: Iterable[int | None] | None = None,
) -> Availability:
    """Hours, absences and holidays for these resources from first_day to last_day; the
    holidays of sites `site_ids` (by default, these rooms' sites)."""
    provider_ids = [p.pk for p in providers]
    rooms = list(rooms)
    room_ids = [r.pk for r in rooms]
    start, _end = clinic_day_bounds(first_day)
    _start, end = clinic_day_bounds(last_day)
    availability = Availability()
    rows = WorkingHours.objects.filter(provider__in=provider_ids) | WorkingHours.objects.filter(
        room__in=room_ids
    )
    for row in rows:
        key = ("provider", row.provider_id) if row.provider_id else ("room", row.room_id)
        availability.hours.setdefault(key, defaultdict(list))[row.weekday].append(
            (row.starts, row.ends)
        )
    absences = Unavailability.objects.filter(starts_at__lt=end, ends_at__gt=start).filter(
        provider__in=provider_ids
    ) | Unavailability.objects.filter(starts_at__lt=end, ends_at__gt=start, room__in=room_ids)
    for absence in absences:
        key = (
            ("provider", absence.provider_id) if absence.provider_id else ("room", absence.room_id)
        )
        availability.absences.setdefault(key, []).append(absence)
    # Closures of every site (no site) and of these rooms' sites (issue 18).
    sites = set(site_ids) if site_ids is not None else {r.site_id for r in rooms}
    availability.holidays = dict(
        ClinicHoliday.objects.filter(date__gte=first_day, date__lte=last_day)
        .filter(Q(site__isnull=True) | Q(site__in=sites))
        .values_list("date", "name")
    )
    return availability


def _hours_text(sessions: Sessions) -> str:
    return ", ".join(f"{hhmm(s)}-{hhmm(e)}" for s, e in sessions)


def _absence_text(absence: Unavailability) -> str:
    tz = clinic_tz()
    start, end = absence.starts_at.astimezone(tz), absence.ends_at.astimezone(tz)
    return _("%(reason)s, %(start)s to %(end)s") % {
        "reason": absence.get_reason_display().lower(),
        "start": formats.date_format(start, "j M H:i"),
        "end": formats.date_format(end, "j M H:i"),
    }


def availability_problems(
    *,
    procedure_type: ProcedureType,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    sedation_level: str,
    blocked_from: datetime,
    blocked_until: datetime,
) -> dict[str, str]:
    """Field -> message for each rule of hours, leave, holidays and room capability that
    this slot breaks (clashes with other bookings are checked separately).

    In the zone of the room's site, whoever asks (invariant 19): the room's hours and
    the physician's for this booking are wall-clock times there."""
    with timezone.override(room.site.tz):
        problems: dict[str, str] = {}
        tz = clinic_tz()
        day = start_at.astimezone(tz).date()
        availability = availability_load(
            providers=[provider],
            rooms=[room],
            first_day=blocked_from.astimezone(tz).date(),
            last_day=blocked_until.astimezone(tz).date(),
        )
        if not room.can_host(sedation_level):
            problems["room"] = _(
                "%(room)s has no monitoring, so it cannot host this sedation level."
            ) % {"room": room.name}
        elif not room.can_do(procedure_type):
            problems["room"] = _("%(room)s is not set up for %(procedure)s.") % {
                "room": room.name,
                "procedure": procedure_type.name,
            }
        if day in availability.holidays:
            problems["date"] = _("The clinic is closed on %(day)s (%(holiday)s).") % {
                "day": formats.date_format(day, "l j F Y"),
                "holiday": availability.holidays[day],
            }
            return problems
        absence = availability.absence("provider", provider.pk, start_at, end_at)
        if absence:
            problems["provider"] = _("%(who)s is away then (%(why)s).") % {
                "who": provider.display_name,
                "why": _absence_text(absence),
            }
        elif not availability.within_hours("provider", provider.pk, start_at, end_at):
            sessions = availability.sessions("provider", provider.pk, day)
            if sessions:
                problems["provider"] = _(
                    "%(who)s works %(hours)s on %(weekday)s; %(span)s is outside those hours."
                ) % {
                    "who": provider.display_name,
                    "hours": _hours_text(sessions),
                    "weekday": _weekday_name(day),
                    "span": f"{hhmm(start_at)}-{hhmm(end_at)}",
                }
            else:
                problems["provider"] = _("%(who)s does not work on %(weekday)s.") % {
                    "who": provider.display_name,
                    "weekday": _weekday_name(day),
                }
        if "room" not in problems:
            absence = availability.absence("room", room.pk, blocked_from, blocked_until)
            if absence:
                problems["room"] = _("%(room)s is unavailable then (%(why)s).") % {
                    "room": room.name,
                    "why": _absence_text(absence),
                }
            elif not availability.within_hours("room", room.pk, blocked_from, blocked_until):
                sessions = availability.sessions("room", room.pk, day)
                if not sessions:
                    problems["room"] = _("%(room)s is closed on %(weekday)s.") % {
                        "room": room.name,
                        "weekday": _weekday_name(day),
                    }
                else:
                    problems["room"] = _(
                        "%(room)s is open %(hours)s on %(weekday)s; with set-up, turnover and "
                        "recovery this booking holds it %(span)s."
                    ) % {
                        "room": room.name,
                        "hours": _hours_text(sessions),
                        "weekday": _weekday_name(day),
                        "span": f"{hhmm(blocked_from)}-{hhmm(blocked_until)}",
                    }
        return problems


# --- The slot finder ---------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    start_at: datetime
    end_at: datetime
    provider: Provider
    room: Room

    @property
    def key(self) -> str:
        """What the one-click booking form posts back: start (UTC ISO), provider, room."""
        return f"{self.start_at.astimezone(UTC).isoformat()}|{self.provider.pk}|{self.room.pk}"


class EpochSeconds(Func):
    """Seconds since 1970-01-01 UTC of a timestamp, as a float (PostgreSQL).

    Django reads every timestamptz through a pure-Python loader (it sets the time
    zone); a float is read in C, several times faster. That parsing was most of
    the slot finder's time, which reads a month of a whole network's bookings.
    `date_part` gives the float itself (`EXTRACT` computes a numeric since
    PostgreSQL 14, which a cast then turns into a float).
    """

    template = "date_part('epoch', %(expressions)s)"
    output_field = FloatField()


class Busy:
    """The busy intervals of one provider, room or patient (epoch seconds), answering
    "does [start, end) meet any of them?" with one bisection instead of a scan (the
    slot finder's walk, and the calendar grid's suggestion of a free room or
    physician).

    Sorted by start when first asked after a change; `reach[i]` is the latest end
    among the first i + 1: the intervals that start before `end` are a prefix, and
    one of them runs past `start` exactly when the latest end of that prefix does (so
    overlapping intervals are answered right too).
    """

    __slots__ = ("reach", "spans", "starts")

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self.starts: list[float] | None = []
        self.reach: list[float] = []

    def add(self, start: float, end: float) -> None:
        self.spans.append((start, end))
        self.starts = None  # sorted again when next asked

    def meets(self, start: datetime, end: datetime) -> bool:
        if self.starts is None:
            self.spans.sort()
            self.starts = [s for s, _e in self.spans]
            self.reach = list(accumulate((e for _s, e in self.spans), max))
        before_end = bisect_left(self.starts, end.timestamp())
        return before_end > 0 and self.reach[before_end - 1] > start.timestamp()


class _Bookings:
    """The active bookings of the days the walk reaches, as busy intervals: providers
    over [start, end), rooms and the patient with the buffers. Read a few working days
    at a time, as the walk reaches them: a search that finds its slots in the first
    days reads those days, not the month (69,475 rows at a network's volume, sorted
    on disk, when it read the whole window at once)."""

    def __init__(
        self,
        *,
        providers: Iterable[Provider],
        rooms: Iterable[Room],
        patient: Patient | None,
    ) -> None:
        self.providers = {p.pk: Busy() for p in providers}
        self.rooms = {r.pk: Busy() for r in rooms}
        self.patient = Busy()
        self._patient_id = patient.pk if patient is not None else None
        self._all = [*self.providers.values(), *self.rooms.values(), self.patient]

    def take(self, rows: Iterable[tuple]) -> None:
        """Take in the bookings `rows` (a booking read twice, over midnight, changes
        nothing: the intervals are only asked whether they meet a slot)."""
        providers, rooms = self.providers, self.rooms
        for provider_id, room_id, patient_id, before, after, b_from, b_until in rows:
            if (busy := providers.get(provider_id)) is not None:
                # [start_at, end_at): the buffers off again, as Appointment.save() adds them.
                busy.spans.append((b_from + 60 * before, b_until - 60 * after))
            if (busy := rooms.get(room_id)) is not None:
                busy.spans.append((b_from, b_until))
            if patient_id == self._patient_id:
                self.patient.spans.append((b_from, b_until))
        for busy in self._all:
            busy.starts = None  # sorted again when next asked

    def forget_until(self, moment: float) -> None:
        """Drop the intervals over by `moment` (the walk has moved past them)."""
        for busy in self._all:
            busy.spans = [span for span in busy.spans if span[1] > moment]
            busy.starts = None


@contextmanager
def epoch_rows(
    queryset: QuerySet, values: tuple[str, ...], times: tuple[str, ...]
) -> Iterator[Iterator[tuple]]:
    """The `values` (numbers and text) then the `times` (timestamps, as epoch seconds)
    of each row of `queryset`, in no particular order. One query."""
    queryset = queryset.order_by()
    if connection.vendor == "postgresql":
        # The ORM writes the query; a plain cursor reads the rows, without a Python
        # converter call per value (thousands of rows, all plain numbers and text).
        try:
            sql, params = queryset.values_list(
                *values, *(EpochSeconds(name) for name in times)
            ).query.sql_with_params()
        except EmptyResultSet:  # e.g. `provider__in=[]`: nothing to ask the database
            yield iter(())
            return
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            yield (row for chunk in iter(partial(cursor.fetchmany, 500), []) for row in chunk)
    else:
        split = len(values)
        yield (
            (*row[:split], *(moment.timestamp() for moment in row[split:]))
            for row in queryset.values_list(*values, *times).iterator()
        )


def _booked_rows(
    booked: QuerySet[Appointment],
) -> AbstractContextManager[Iterator[tuple]]:
    """(provider, room, patient, buffer before, buffer after, blocked from, blocked
    until) of each booking; the times in epoch seconds. One query."""
    ids = ("provider_id", "room_id", "patient_id", "buffer_before_minutes", "buffer_after_minutes")
    return epoch_rows(booked, ids, ("blocked_from", "blocked_until"))


def physician_rooms(provider: Provider, *, site_id: int | None) -> QuerySet[Room]:
    """The active rooms of site `site_id` (None: every site) that a visit with
    `provider` may take: those at the physician's sites (none listed: every site;
    invariant 17). One query, for the physician's sites."""
    rooms = at_site(Room.objects.filter(is_active=True), site_id)
    theirs = list(provider.sites.values_list("pk", flat=True))
    return rooms.filter(site__in=theirs) if theirs else rooms


def slots_find(
    *,
    procedure_type: ProcedureType,
    sedation_level: str,
    patient: Patient | None = None,
    provider: Provider | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
    time_of_day: str = "any",
    limit: int = 12,
    per_day: int = 4,
    site_id: int | None = None,
    not_before: datetime | None = None,
) -> list[Slot]:
    """The next free slots: a provider working and free, a capable room open and free
    for the procedure with its buffers, the patient free, nobody away, no holiday.

    At most `per_day` slots a day, so the list reaches across several days. Walks the
    days in order and stops at the `limit`-th slot; the bookings are read as the walk
    reaches them, in one query for as many working days as could hold the slots still
    wanted (usually one query). `site_id`: the rooms of that site and the physicians
    who work there.

    Days and hours are those of the rooms' site (invariant 19); rooms of sites in
    several zones (no site chosen) are searched in the current zone. `not_before`: no
    slot starts at or before it (a sedated visit's fast must not have begun).
    """
    if provider is not None and not provider.is_active:
        return []  # an inactive physician is offered nowhere (invariant 31)
    providers = (
        [provider]
        if provider
        else list(Provider.objects.filter(works_at(site_id), is_active=True).order_by("pk"))
    )
    site_rooms = (
        physician_rooms(provider, site_id=site_id)
        if provider
        else at_site(Room.objects.filter(is_active=True), site_id)
    )
    rooms = [
        room
        for room in site_rooms.select_related("site").prefetch_related("procedure_types")
        if room.can_host(sedation_level) and room.can_do(procedure_type)
    ]
    if not providers or not rooms:
        return []
    zones = {room.site.time_zone for room in rooms}
    with timezone.override(zones.pop()) if len(zones) == 1 else nullcontext():
        return _slots_walk(
            procedure_type=procedure_type,
            sedation_level=sedation_level,
            patient=patient,
            providers=providers,
            rooms=rooms,
            first_day=first_day,
            last_day=last_day,
            time_of_day=time_of_day,
            limit=limit,
            per_day=per_day,
            not_before=not_before,
        )


def _slots_walk(
    *,
    procedure_type: ProcedureType,
    sedation_level: str,
    patient: Patient | None,
    providers: list[Provider],
    rooms: list[Room],
    first_day: date | None,
    last_day: date | None,
    time_of_day: str,
    limit: int,
    per_day: int,
    not_before: datetime | None = None,
) -> list[Slot]:
    """`slots_find`'s walk over the days, in the current zone."""
    now = clinic_now()
    first_day = max(first_day or now.date(), now.date())
    earliest = max(now, not_before) if not_before else now
    last_day = last_day or first_day + timedelta(days=27)
    if last_day < first_day:
        return []
    duration = timedelta(minutes=procedure_type.default_duration_minutes)
    before_min, after_min = procedure_type.buffers(sedation_level)
    before, after = timedelta(minutes=before_min), timedelta(minutes=after_min)
    availability = availability_load(
        providers=providers, rooms=rooms, first_day=first_day, last_day=last_day
    )
    booked = Appointment.objects.active()
    # The physicians and rooms in the running (a site's: some dozens of ids).
    provider_ids = [p.pk for p in providers]
    room_ids = [r.pk for r in rooms]
    tz = clinic_tz()

    def room_open(room: Room, b_from: datetime, b_until: datetime) -> bool:
        """`Availability.within_hours` for a room."""
        sessions = availability.sessions("room", room.pk, b_from.astimezone(tz).date(), tz)
        return any(s <= b_from and b_until <= e for s, e in sessions)

    def free_room(b_from: datetime, b_until: datetime) -> Room | None:
        """The first room (in their order) open, present and free over the range."""
        for room in rooms:
            if (
                room_open(room, b_from, b_until)
                and not availability.absence("room", room.pk, b_from, b_until)
                and not bookings.rooms[room.pk].meets(b_from, b_until)
            ):
                return room
        return None

    def day_starts(day: date) -> dict[datetime, list[Provider]]:
        """The day's possible starts still to come (after `earliest`), each with the
        providers who work then: a day already over has none, and its bookings are not
        read. Most providers share the clinic's hours: step through each distinct
        session once."""
        by_session: dict[tuple[datetime, datetime], list[Provider]] = defaultdict(list)
        for prov in providers:
            for session in availability.sessions("provider", prov.pk, day, tz):
                by_session[session].append(prov)
        starts: dict[datetime, list[Provider]] = defaultdict(list)
        for (s_start, s_end), working in by_session.items():
            moment = s_start
            while moment + duration <= s_end:
                if moment > earliest:
                    starts[moment].extend(working)
                moment += SLOT_STEP
        return starts

    def load(first: date, last: date) -> None:
        """Every booking the candidates of days `first` to `last` could meet, for the
        physicians and rooms in the running and the patient, in one query. Each part
        is bounded on the column its index has after the id (the physician's time,
        the room's hold), with a lower bound as no booking is blocked for longer than
        a day: a site's bookings of those days, not the network's."""
        reach_from = clinic_day_bounds(first)[0] - before - timedelta(hours=1)
        reach_until = clinic_day_bounds(last)[1] + duration + after + timedelta(hours=1)
        earliest = reach_from - LONGEST_BLOCK
        with _booked_rows(
            booked.filter(
                Q(
                    provider__in=provider_ids,
                    start_at__lt=reach_until,
                    start_at__gte=earliest,
                    end_at__gt=reach_from,
                )
                | Q(
                    room__in=room_ids,
                    blocked_from__lt=reach_until,
                    blocked_from__gte=earliest,
                    blocked_until__gt=reach_from,
                )
                | Q(patient=patient, blocked_from__lt=reach_until, blocked_until__gt=reach_from)
            )
        ) as rows:
            bookings.take(rows)

    found: list[Slot] = []
    bookings = _Bookings(providers=providers, rooms=rooms, patient=patient)
    starts_of: dict[date, dict[datetime, list[Provider]]] = {}
    loaded_until: date | None = None
    day = first_day
    while day <= last_day and len(found) < limit:
        starts = starts_of.pop(day, None)
        if starts is None:
            starts = day_starts(day)
        if not starts:
            day += timedelta(days=1)
            continue
        if loaded_until is None or day > loaded_until:
            # This working day's bookings, and those of the next working days that
            # could hold the slots still wanted (`per_day` a day): one query for the
            # usual search, reading no day it does not need when the days have room.
            days_wanted = -(-(limit - len(found)) // per_day)
            if day == now.date():
                # Today is partly gone and its free times the most taken: it seldom
                # holds a full day's slots, so a day more is read with it rather than
                # in a second query (at a three-room site, nearly always).
                days_wanted += 1
            loaded_until = ahead = day
            while days_wanted > 1 and ahead < last_day:
                ahead += timedelta(days=1)
                starts_of[ahead] = day_starts(ahead)
                if starts_of[ahead]:
                    loaded_until = ahead
                    days_wanted -= 1
            # None of the intervals over before this day's candidates (an hour's
            # margin either side for a change of clocks), before the next days' are
            # taken in: the walk sorts only what it can still meet, once a read.
            day_start, _day_end = clinic_day_bounds(day)
            bookings.forget_until((day_start - before).timestamp() - 3600)
            load(day, loaded_until)
        today_count = 0
        for start in sorted(starts):
            if today_count >= per_day or len(found) >= limit:
                break
            if start <= earliest:
                continue
            local_start = start.astimezone(tz).time()
            if time_of_day == "morning" and local_start >= MORNING_ENDS:
                continue
            if time_of_day == "afternoon" and local_start < MORNING_ENDS:
                continue
            end = start + duration
            b_from, b_until = start - before, end + after
            if bookings.patient.meets(b_from, b_until):
                continue
            # The room does not depend on the provider: find it once for this start.
            room = free_room(b_from, b_until)
            if room is None:
                continue
            for prov in sorted(starts[start], key=attrgetter("pk")):
                if bookings.providers[prov.pk].meets(start, end):
                    continue
                if availability.absence("provider", prov.pk, start, end):
                    continue
                found.append(Slot(start_at=start, end_at=end, provider=prov, room=room))
                today_count += 1
                break
        day += timedelta(days=1)
    return found
