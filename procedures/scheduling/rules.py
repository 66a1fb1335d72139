"""Booking rules about the patient: who may be booked for what."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_datetime, clinic_today, clinic_tz
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

    @property
    def url(self) -> str:
        return reverse("procedures:appointment_detail", args=[self.pk])


def patient_bookings(*, patient: Patient, limit: int = 10) -> list[OwnBooking]:
    """The patient's active bookings from today on, soonest first (one query)."""
    today_start = clinic_datetime(clinic_today(), time.min)
    rows = (
        Appointment.objects.active()
        .filter(patient=patient, end_at__gt=today_start)
        .order_by("start_at")
        .values_list(
            "pk", "start_at", "end_at", "procedure_type__name", "provider__display_name", "status"
        )[:limit]
    )
    labels = dict(Appointment.Status.choices)
    return [
        OwnBooking(pk, s, e, proc, prov, str(labels.get(st, st)))
        for pk, s, e, proc, prov, st in rows
    ]


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
    labels = dict(Appointment.Status.choices)
    return [
        OwnBooking(pk, s, e, proc, prov, str(labels.get(st, st)))
        for pk, s, e, proc, prov, st in qs.order_by("start_at").values_list(
            "pk", "start_at", "end_at", "procedure_type__name", "provider__display_name", "status"
        )
    ]


def nearby_warning(bookings: list[OwnBooking]) -> str:
    """The question put before booking near the patient's other visits."""
    tz = clinic_tz()
    visits = "; ".join(
        f"{formats.date_format(b.start_at.astimezone(tz), 'D j M H:i')} {b.procedure} "
        f"({b.provider})"
        for b in bookings
    )
    return _(
        "This patient already has a visit that day or within %(days)s days: %(visits)s. "
        "Book this one as well?"
    ) % {"days": NEARBY_DAYS, "visits": visits}


def fast_answer(start_at: datetime) -> str:
    """What the button "the patient has not eaten since" posts: the start it answers
    for, so that an answer never carries over to another time chosen afterwards."""
    return str(int(start_at.timestamp()))
