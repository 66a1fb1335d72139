"""Booking a slot and moving it: the clash checks, the locks and the writes.

The lifecycle (confirm, check in, start, complete, cancel, no-show) is
`lifecycle.py`; what a booking sets off in prep and patient emails is
`procedures.workflows.visits`.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.clock import clinic_tz, zone_city
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room, staff_name
from procedures.scheduling.lifecycle import locked_for, record_transition
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.rules import (
    child_booking_refusal,
    horizon_refusal,
    length_refusal,
    notes_refusal,
)
from procedures.scheduling.slots import availability_problems

EXCLUSION_VIOLATION = "23P01"


@dataclass(frozen=True)
class Rescheduled:
    appointment: Appointment
    moved_from: datetime  # the start before the move
    site_changed: bool = False  # into a room at another site: its emails follow it


def _span(
    start: datetime, end: datetime, other: Appointment | None = None, room: Room | None = None
) -> str:
    """A clashing visit's times: on its own site's clock, that site named when it is not
    the room's being booked (a physician who works at two sites; invariant 19)."""
    tz = other.site.tz if other is not None else clinic_tz()
    span = f"{start.astimezone(tz):%H:%M}-{end.astimezone(tz):%H:%M}"
    if other is not None and room is not None and other.site_id != room.site_id:
        if other.site.time_zone != room.site.time_zone:
            where = _("%(site)s, %(city)s time") % {
                "site": other.site.name,
                "city": zone_city(other.site.time_zone),
            }
        else:
            where = other.site.name
        span = f"{span} ({where})"
    return span


def booking_clashes(
    *,
    patient: Patient,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    blocked_from: datetime | None = None,
    blocked_until: datetime | None = None,
    exclude_pk: int | None = None,
) -> dict[str, str]:
    """Field -> message for each resource already booked: the provider over
    [start_at, end_at), the room and the patient over the range with buffers.

    Messages never name the other patient.
    """
    blocked_from = blocked_from or start_at
    blocked_until = blocked_until or end_at
    active = Appointment.objects.active().select_related("provider", "site")
    if exclude_pk:
        active = active.exclude(pk=exclude_pk)
    # One query for the three questions; the first answer to each, in start order,
    # is the one named. Every clash ends after blocked_from (a provider's too: its
    # end is after start_at), which lets the partial index on active bookings'
    # blocked_until answer: the future only, never the years of history.
    others = list(
        active.filter(blocked_until__gt=blocked_from).filter(
            Q(provider=provider, start_at__lt=end_at, end_at__gt=start_at)
            | Q(room=room, blocked_from__lt=blocked_until, blocked_until__gt=blocked_from)
            | Q(patient=patient, blocked_from__lt=blocked_until, blocked_until__gt=blocked_from)
        )
    )
    clashes: dict[str, str] = {}
    for other in others:
        if other.patient_id == patient.pk:
            # The patient's own visit: one message naming it, not also "with another
            # patient" for its physician or room.
            if other.blocked_from < blocked_until and other.blocked_until > blocked_from:
                clashes.setdefault(
                    "patient",
                    _("This patient already has an appointment %(span)s with %(who)s.")
                    % {
                        "span": _span(other.start_at, other.end_at, other, room),
                        "who": other.provider.display_name,
                    },
                )
            continue
        if other.provider_id == provider.pk and other.start_at < end_at and other.end_at > start_at:
            clashes.setdefault(
                "provider",
                _("%(who)s is booked %(span)s with another patient.")
                % {
                    "who": provider.display_name,
                    "span": _span(other.start_at, other.end_at, other, room),
                },
            )
        held = other.blocked_from < blocked_until and other.blocked_until > blocked_from
        if held and other.room_id == room.pk:
            clashes.setdefault(
                "room",
                _("%(room)s is in use %(span)s by another appointment.")
                % {
                    "room": room.name,
                    "span": _span(other.blocked_from, other.blocked_until, other, room),
                },
            )
    return {field: clashes[field] for field in ("provider", "room", "patient") if field in clashes}


def _check_slot(
    *,
    patient: Patient,
    procedure_type: ProcedureType,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    sedation_level: str,
    exclude_pk: int | None = None,
    resources: bool = True,
) -> tuple[int, int]:
    """Refuse a slot that breaks a booking rule; return the (before, after) buffers.

    Order matters for the message: impossible times first, then what the
    resources can do and when they work, then clashes with other bookings
    (unless `resources` is off: the caller checks those two in its write
    transaction, with `_check_resources`, behind the resources' locks).
    """
    if start_at <= timezone.now():
        raise ValidationError({"start_time": _("The appointment must start in the future.")})
    # Real instants: two times on one zone's clock compare by wall clock in Python, and
    # the database's check would refuse what that lets through on a DST night (QA 1, #2).
    start_at, end_at = start_at.astimezone(UTC), end_at.astimezone(UTC)
    if end_at <= start_at:
        raise ValidationError({"end_time": _("The end time must be after the start time.")})
    if too_far := horizon_refusal(start_at):
        raise ValidationError({"date": too_far})
    if too_short := length_refusal(procedure_type=procedure_type, start_at=start_at, end_at=end_at):
        raise ValidationError({"end_time": too_short})
    # The day of the room's site, whoever books it (invariant 19).
    tz = room.site.tz
    if start_at.astimezone(tz).date() != (end_at - timedelta(microseconds=1)).astimezone(tz).date():
        raise ValidationError({"end_time": _("The appointment must end on the day it starts.")})
    with timezone.override(tz):
        refusal = child_booking_refusal(
            patient=patient, procedure_type=procedure_type, start_at=start_at
        )
    if refusal:
        raise ValidationError({"procedure_type": refusal})
    # Issue 18: a visit's room and physician are at the same site.
    elsewhere = provider.site_refusal(room)
    if elsewhere:
        raise ValidationError({"room": elsewhere})
    before, after = procedure_type.buffers(sedation_level)
    if not resources:
        return before, after
    _check_resources(
        patient=patient,
        procedure_type=procedure_type,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at,
        sedation_level=sedation_level,
        before=before,
        after=after,
        exclude_pk=exclude_pk,
    )
    return before, after


def _check_resources(
    *,
    patient: Patient,
    procedure_type: ProcedureType,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    sedation_level: str,
    before: int,
    after: int,
    exclude_pk: int | None = None,
) -> None:
    """What the physician and room can do and when they work, then clashes. A write
    runs it inside its transaction behind `_queue_behind_other_writes`, which a change
    of hours or leave (hours_admin) takes too: a booking never passes a change of the
    hours it was checked against (invariant 16)."""
    blocked_from = start_at - timedelta(minutes=before)
    blocked_until = end_at + timedelta(minutes=after)
    problems = availability_problems(
        procedure_type=procedure_type,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at,
        sedation_level=sedation_level,
        blocked_from=blocked_from,
        blocked_until=blocked_until,
    )
    if problems:
        raise ValidationError(problems)
    found = booking_clashes(
        patient=patient,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at,
        blocked_from=blocked_from,
        blocked_until=blocked_until,
        exclude_pk=exclude_pk,
    )
    if found:
        raise ValidationError(found)


def appointment_buffers_for(appointment: Appointment, *, sedation_level: str) -> None:
    """Hold the room around `appointment` for as long as `sedation_level` needs (the
    recovery grows with sedation), or refuse the change, keyed `sedation_level`, when
    the longer hold runs into another booking or past the room's hours.

    Call inside the caller's transaction, after `queue_behind_booking_writes` and then
    the appointment's row lock (the order the booking writes take them); sets the
    buffers on `appointment` for the caller to save (with blocked_from/until).
    """
    before, after = appointment.procedure_type.buffers(sedation_level)
    if (before, after) == (appointment.buffer_before_minutes, appointment.buffer_after_minutes):
        return
    slot: dict[str, Any] = {
        "patient": appointment.patient,
        "provider": appointment.provider,
        "room": appointment.room,
        "start_at": appointment.start_at,
        "end_at": appointment.end_at,
        "blocked_from": appointment.start_at - timedelta(minutes=before),
        "blocked_until": appointment.end_at + timedelta(minutes=after),
    }
    problems = availability_problems(
        procedure_type=appointment.procedure_type,
        sedation_level=sedation_level,
        **{key: value for key, value in slot.items() if key != "patient"},
    )
    problems.update(booking_clashes(**slot, exclude_pk=appointment.pk))
    if problems:
        until = formats.time_format(slot["blocked_until"].astimezone(appointment.site_tz), "H:i")
        raise ValidationError(
            {
                "sedation_level": [
                    _(
                        "With this sedation the room is held until %(until)s for recovery, "
                        "which does not fit:"
                    )
                    % {"until": until},
                    *problems.values(),
                    _("Reschedule the appointment first."),
                ]
            }
        )
    appointment.buffer_before_minutes, appointment.buffer_after_minutes = before, after


def queue_behind_booking_writes(appointment_id: int) -> None:
    """`_queue_behind_other_writes` for a change to an existing appointment's hold on
    its resources, before the caller locks its row (the bookings' lock order)."""
    ids = Appointment.objects.filter(pk=appointment_id).values("patient", "provider", "room")
    row = ids.first()
    if row is None:
        return  # the caller's row lock reports it
    _queue_behind_other_writes(
        patient=Patient(pk=row["patient"]),
        provider=Provider(pk=row["provider"]),
        room=Room(pk=row["room"]),
    )


def _queue_behind_other_writes(*, patient: Patient, provider: Provider, room: Room) -> None:
    """Wait, inside the write transaction, for any other booking write on the same
    provider, room or patient to finish.

    PostgreSQL checks an exclusion constraint after inserting the row, so two
    desks inserting clashing rows at the same instant each wait for the other's
    unfinished row: a deadlock, which would reach the desk as an error page. A
    transaction-scoped advisory lock per resource, always taken in the same order
    (provider, room, patient), makes them queue instead; the one that waited then
    sees the winner's row in its clash check and gets the friendly message. The
    constraints stay the last word. SQLite's IMMEDIATE transactions already queue.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s), pg_advisory_xact_lock(%s, %s),"
            " pg_advisory_xact_lock(%s, %s)",
            [
                _LOCK_PROVIDER,
                provider.pk,
                _LOCK_ROOM,
                room.pk,
                _LOCK_PATIENT,
                patient.pk,
            ],
        )


def queue_behind_resource_writes(resource: Provider | Room) -> None:
    """For a change of a physician's or a room's hours or leave (hours_admin): wait
    for the bookings being written on it, and make new ones wait, until the change
    commits. The bookings' advisory lock, taken before any row lock (as they do)."""
    if connection.vendor != "postgresql":
        return
    namespace = _LOCK_PROVIDER if isinstance(resource, Provider) else _LOCK_ROOM
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, resource.pk])


# Advisory lock namespaces (the first key of pg_advisory_xact_lock(int, int)).
_LOCK_PROVIDER, _LOCK_ROOM, _LOCK_PATIENT = 1001, 1002, 1003


def _race_lost(exc: IntegrityError, **slot: Any) -> ValidationError:
    """Another booking won the race between our check and our write; the exclusion
    constraint refused ours. Say which resource, in words."""
    if getattr(exc.__cause__, "sqlstate", None) != EXCLUSION_VIOLATION:
        raise exc
    clashes = booking_clashes(**slot)
    return ValidationError(
        clashes or {"start_time": _("That slot was just taken. Choose another time.")}
    )


def appointment_book(
    *,
    patient: Patient,
    procedure_type: ProcedureType,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    sedation_level: str,
    transport_mode: str = "",
    escort_name: str = "",
    escort_phone: str = "",
    notes: str = "",
    by: User | None,
) -> Appointment:
    """Book a procedure into a provider's and a room's calendar (the slot alone: the
    visit's preparation and emails are planned by `workflows.visits.appointment_book`).

    Raises ValidationError (keyed by form field) for a slot in the past, a zero or
    negative length, a room that cannot host the sedation level or procedure, a
    provider or room outside working hours or away, a clinic holiday, or any clash.
    Nothing is saved then.
    """
    if too_long := notes_refusal(notes):
        raise ValidationError({"notes": too_long})
    before, after = _check_slot(
        patient=patient,
        procedure_type=procedure_type,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at,
        sedation_level=sedation_level,
        # Hours and clashes are checked once, inside the write transaction below.
        resources=False,
    )
    try:
        with transaction.atomic():
            _queue_behind_other_writes(patient=patient, provider=provider, room=room)
            # Behind any other write on the same resources, a booking or a change of
            # hours (on SQLite, IMMEDIATE serialises the writes).
            _check_resources(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                room=room,
                start_at=start_at,
                end_at=end_at,
                sedation_level=sedation_level,
                before=before,
                after=after,
            )
            appointment = Appointment.objects.create(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                room=room,
                start_at=start_at,
                end_at=end_at,
                buffer_before_minutes=before,
                buffer_after_minutes=after,
                sedation_level=sedation_level,
                transport_mode=transport_mode,
                escort_name=escort_name,
                escort_phone=escort_phone,
                notes=notes,
                created_by=by,
            )
            AppointmentEvent.objects.create(
                appointment=appointment,
                kind=AppointmentEvent.Kind.BOOKED,
                to_status=appointment.status,
                by=by,
            )
    except IntegrityError as exc:
        raise _race_lost(
            exc,
            patient=patient,
            provider=provider,
            room=room,
            start_at=start_at,
            end_at=end_at,
            blocked_from=start_at - timedelta(minutes=before),
            blocked_until=end_at + timedelta(minutes=after),
        ) from exc
    return appointment


def moved_since(
    appointment: Appointment, seen_version: int | None, *, then: str = ""
) -> ValidationError | None:
    """The refusal of a step (a move, a cancellation: `then` says what to do) chosen on a
    page older than the visit's last move, naming where it is now and who moved it
    (None: the page was current, or not checked)."""
    if seen_version is None or appointment.version == seen_version:
        return None
    last = (
        appointment.events.filter(kind=AppointmentEvent.Kind.RESCHEDULED)
        .select_related("by")
        .order_by("-at", "-pk")
        .first()
    )
    room = Room.objects.select_related("site").get(pk=appointment.room_id)
    said = _(
        "This visit was moved by %(who)s since you opened this page: it is now "
        "%(when)s, %(room)s. Nothing was changed;"
    ) % {
        "who": staff_name(last.by if last else None),
        "when": formats.date_format(appointment.start_at.astimezone(room.site.tz), "D j M Y H:i"),
        "room": room.name,
    }
    return ValidationError(f"{said} {then or _('move it again if it still needs it.')}")


def appointment_reschedule(
    *,
    appointment_id: int,
    start_at: datetime,
    end_at: datetime | None = None,
    provider: Provider | None = None,
    room: Room | None = None,
    by: User | None,
    seen_version: int | None = None,
) -> "Rescheduled":
    """Move an appointment to a new slot (and optionally another provider or room).

    The same appointment keeps its history: its version goes up and the old slot frees
    in the same transaction (the workflow replans the visit's prep and emails in it).
    A confirmed appointment goes back to scheduled: the new time is not confirmed yet.
    Refused with the booking rules' messages, changing nothing; and refused when nothing
    would move (the same time, physician and room).

    `seen_version`: the version on the page the person opened. When the visit has been
    moved since (a second tab, a colleague), nothing moves: the move was chosen against
    a time that is no longer the visit's, and the patient would get two "new time"
    emails (QA 1, #7). None: not checked.
    """
    current = Appointment.objects.select_related("procedure_type", "provider", "room").get(
        pk=appointment_id
    )
    if moved := moved_since(current, seen_version):
        raise moved
    if not current.can_reschedule:
        raise ValidationError(
            _("An appointment that is %(status)s cannot be rescheduled.")
            % {"status": current.get_status_display().lower()}
        )
    provider = provider or current.provider
    room = room or current.room
    end_at = end_at or start_at + (current.end_at - current.start_at)
    if (start_at, end_at, provider.pk, room.pk) == (
        current.start_at,
        current.end_at,
        current.provider_id,
        current.room_id,
    ):
        # Nothing would move, yet the patient would be sent "a new time" and asked to
        # confirm again.
        raise ValidationError(
            {
                "start_time": _(
                    "The appointment is already at that time, with that physician and room: "
                    "choose another time, physician or room."
                )
            }
        )
    slot: dict[str, Any] = {
        "patient": current.patient,
        "provider": provider,
        "room": room,
        "start_at": start_at,
        "end_at": end_at,
    }
    before, after = _check_slot(
        **slot,
        procedure_type=current.procedure_type,
        sedation_level=current.sedation_level,
        exclude_pk=current.pk,
        resources=False,
    )
    blocked: dict[str, Any] = {
        "blocked_from": start_at - timedelta(minutes=before),
        "blocked_until": end_at + timedelta(minutes=after),
    }
    try:
        with transaction.atomic():
            _queue_behind_other_writes(patient=current.patient, provider=provider, room=room)
            appointment = locked_for(appointment_id, "reschedule")
            if moved := moved_since(appointment, seen_version):
                raise moved
            _check_resources(
                **slot,
                procedure_type=current.procedure_type,
                sedation_level=current.sedation_level,
                before=before,
                after=after,
                exclude_pk=appointment.pk,
            )
            tz = current.room.site.tz  # the old slot's site, on the visit's history
            note = _("From %(old)s with %(old_who)s, %(old_room)s") % {
                "old": formats.date_format(appointment.start_at.astimezone(tz), "D j M Y H:i"),
                "old_who": current.provider.display_name,
                "old_room": current.room.name,
            }
            record_transition(
                appointment,
                to=Appointment.Status.SCHEDULED,
                by=by,
                kind=AppointmentEvent.Kind.RESCHEDULED,
                note=note,
            )
            appointment.start_at, appointment.end_at = start_at, end_at
            appointment.provider, appointment.room = provider, room
            appointment.buffer_before_minutes, appointment.buffer_after_minutes = before, after
            appointment.version += 1
            appointment.save()
    except IntegrityError as exc:
        raise _race_lost(exc, **slot, **blocked, exclude_pk=appointment_id) from exc
    return Rescheduled(
        appointment=appointment,
        moved_from=current.start_at,
        site_changed=appointment.site_id != current.site_id,
    )
