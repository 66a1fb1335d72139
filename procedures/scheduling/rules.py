"""Booking rules about the patient: who may be booked for what."""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_datetime, clinic_today, clinic_tz, visit_span_text
from procedures.catalog.models import ProcedureType
from procedures.scheduling.models import Appointment

# What a young child may be booked for: aspiration only (from the tibia), or a talk.
CHILD_KINDS = frozenset({ProcedureKind.ASPIRATION, ProcedureKind.RESULTS_DISCUSSION})


def child_max_age_years() -> int:
    """Patients younger than this many years count as young children."""
    return getattr(settings, "PREP_CHILD_MAX_AGE_YEARS", 2)


def age_in_years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def child_procedure_message(procedure_name: str) -> str:
    return _(
        "For children under %(age)s, only aspiration from the tibia is offered: "
        "%(procedure)s includes more than that."
    ) % {"age": child_max_age_years(), "procedure": procedure_name}


def child_booking_refusal(
    *, patient: Patient, procedure_type: ProcedureType, start_at: datetime
) -> str | None:
    """Why a young child cannot be booked for this procedure (None: they can), so the
    rule "under 2: aspiration only" is never found only on the day."""
    if procedure_type.kind in CHILD_KINDS:
        return None
    day = start_at.astimezone(clinic_tz()).date()
    if age_in_years(patient.date_of_birth, day) >= child_max_age_years():
        return None
    return child_procedure_message(procedure_type.name)


# Review with your clinical team: a visit shorter than this share of its procedure's
# usual length is a typing slip (an end time one minute after the start), not a plan.
SHORTEST_SHARE_OF_USUAL = 0.5
# The longest notes for the team a visit keeps (form, service and a database check).
NOTES_MAX = 2000
# The longest reason to start a procedure while not ready (form and service): a sentence
# on what was checked instead. It is kept whole, beside the whole list of what was
# missing (QA pass 1 found a long reason cutting that list off the record).
START_REASON_MAX_CHARS = 200


def booking_horizon_days() -> int:
    """How far ahead a visit may be booked (settings CLINIC_BOOKING_HORIZON_DAYS): a
    date years away is a typing slip, and the hours, leave and staff it is checked
    against are not planned that far."""
    return getattr(settings, "CLINIC_BOOKING_HORIZON_DAYS", 365)


def horizon_refusal(start_at: datetime) -> str | None:
    """Why a visit starting at `start_at` is too far ahead to book (None: it is not)."""
    days = booking_horizon_days()
    last = timezone.now() + timedelta(days=days)
    if start_at <= last:
        return None
    return _(
        "Visits can be booked at most %(days)s days ahead (until %(last)s). Choose an earlier date."
    ) % {"days": days, "last": formats.date_format(last.astimezone(clinic_tz()), "j F Y")}


def shortest_minutes(procedure_type: ProcedureType) -> int:
    """The shortest visit `procedure_type` may be booked for, in whole minutes."""
    return max(1, math.ceil(procedure_type.default_duration_minutes * SHORTEST_SHARE_OF_USUAL))


def length_refusal(
    *, procedure_type: ProcedureType, start_at: datetime, end_at: datetime
) -> str | None:
    """Why [start_at, end_at) is too short for `procedure_type` (None: it is not)."""
    shortest = shortest_minutes(procedure_type)
    # In real minutes (UTC): one zone's wall clock would count a DST night's hour wrong.
    if end_at.astimezone(UTC) - start_at.astimezone(UTC) >= timedelta(minutes=shortest):
        return None
    return _(
        "%(procedure)s needs at least %(min)s minutes (its usual length is %(usual)s "
        "minutes). Choose a later end, or leave End empty for the usual length."
    ) % {
        "procedure": procedure_type.name,
        "min": shortest,
        "usual": procedure_type.default_duration_minutes,
    }


def notes_refusal(notes: str) -> str | None:
    if len(notes) <= NOTES_MAX:
        return None
    return _("Keep the notes to %(max)s characters (they have %(n)s).") % {
        "max": NOTES_MAX,
        "n": len(notes),
    }


# A booking this close to another of the same patient's is probably a mistake (booked
# twice), or needs thought (an aspiration the day after a biopsy): asked, not refused.
NEARBY_DAYS = 3


@dataclass(frozen=True)
class OwnBooking:
    """One of the patient's own active bookings, as the front desk sees it."""

    pk: int
    start_at: datetime
    end_at: datetime
    procedure: str
    provider: str
    status: str
    site_name: str = ""
    zone_name: str = ""

    @property
    def url(self) -> str:
        return reverse("procedures:appointment_detail", args=[self.pk])

    @property
    def when(self) -> str:
        """Its time on its own site's clock, the site named (it may be at another)."""
        return visit_span_text(
            self.start_at, self.end_at, site_name=self.site_name, zone_name=self.zone_name
        )


# What an OwnBooking is read from (one query of plain values).
_OWN_VALUES = (
    "pk",
    "start_at",
    "end_at",
    "procedure_type__name",
    "provider__display_name",
    "status",
    "site__name",
    "site__time_zone",
)


def _own(rows: Iterable[tuple]) -> list[OwnBooking]:
    labels = dict(Appointment.Status.choices)
    return [
        OwnBooking(pk, s, e, proc, prov, str(labels.get(st, st)), site, zone)
        for pk, s, e, proc, prov, st, site, zone in rows
    ]


def patient_bookings(*, patient: Patient, limit: int = 10) -> list[OwnBooking]:
    """The patient's active bookings from today on, soonest first (one query)."""
    today_start = clinic_datetime(clinic_today(), time.min)
    rows = (
        Appointment.objects.active()
        .filter(patient=patient, end_at__gt=today_start)
        .order_by("start_at")
        .values_list(*_OWN_VALUES)[:limit]
    )
    return _own(rows)


def nearby_bookings(
    *, patient: Patient, start_at: datetime, exclude_pk: int | None = None
) -> list[OwnBooking]:
    """The patient's other active bookings on the same clinic day or within
    NEARBY_DAYS days either side: a booking there is asked about, not refused."""
    day = start_at.astimezone(clinic_tz()).date()
    first = clinic_datetime(day - timedelta(days=NEARBY_DAYS), time.min)
    last = clinic_datetime(day + timedelta(days=NEARBY_DAYS + 1), time.min)
    qs = Appointment.objects.active().filter(patient=patient, start_at__lt=last, end_at__gt=first)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return _own(qs.order_by("start_at").values_list(*_OWN_VALUES))


def nearby_warning(bookings: list[OwnBooking]) -> str:
    """The question put before booking near the patient's other visits."""
    # Each on its own site's clock, the site named: a visit at another site is never
    # shown in this page's zone without saying so.
    visits = "; ".join(f"{b.when} {b.procedure} ({b.provider})" for b in bookings)
    return _(
        "This patient already has a visit that day or within %(days)s days: %(visits)s. "
        "Book this one as well?"
    ) % {"days": NEARBY_DAYS, "visits": visits}


def fast_answer(start_at: datetime) -> str:
    """What the button "the patient has not eaten since" posts: the start it answers
    for, so that an answer never carries over to another time chosen afterwards."""
    return str(int(start_at.timestamp()))
