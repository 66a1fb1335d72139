"""A small clinic over two weeks with figures worked out by hand (see each test).

Period: Monday 2 March to Sunday 15 March 2026; Friday 6 March is a clinic holiday;
the clock stands at Monday 16 March, 09:00, so every visit in the period is past.
"""

import datetime as dt
from dataclasses import dataclass

from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday, ProcedureType, TestType
from procedures.catalog.resources import Room
from procedures.reports.scope import ReportScope
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment
from procedures.tests import factories

START, END = dt.date(2026, 3, 2), dt.date(2026, 3, 15)
NOW = "2026-03-16T09:00:00+00:00"
Status = Appointment.Status


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@dataclass
class World:
    room_a: Room
    room_b: Room
    biopsy: ProcedureType
    aspiration: ProcedureType
    flow: TestType
    cytogenetics: TestType
    visits: dict[int, Appointment]

    def scope(self, **kwargs) -> ReportScope:
        return ReportScope(start=START, end=END, **kwargs)


def visit(number, room, procedure, day, hour, minutes, status, booked_on, **extra):
    appointment = factories.AppointmentFactory(
        room=room,
        procedure_type=procedure,
        start_at=at(day, hour),
        end_at=at(day, hour) + dt.timedelta(minutes=minutes),
        status=status,
        **extra,
    )
    Appointment.objects.filter(pk=appointment.pk).update(created_at=at(booked_on, 12))
    return number, appointment


def final(test_type, appointment, collected: dt.date, final_on: dt.date) -> TestOrder:
    return factories.TestOrderFactory(
        appointment=appointment,
        test_type=test_type,
        status=TestOrder.Status.FINAL,
        collected_at=at(collected, 9),
        final_at=at(final_on, 15),
    )


def build_world() -> World:
    ClinicHoliday.objects.create(date=dt.date(2026, 3, 6), name="Clinic closed")
    # Room A keeps the default hours (Mon-Fri 08:00-18:00) and is closed for four
    # hours on Tuesday 3 March; room B opens on Mondays 09:00-13:00 only; room C is
    # retired (not counted).
    room_a = factories.RoomFactory(name="Room A")
    room_b = factories.RoomFactory(name="Room B")
    factories.RoomFactory(name="Room C", is_active=False)
    WorkingHours.objects.create(room=room_b, weekday=0, starts=dt.time(9), ends=dt.time(13))
    Unavailability.objects.create(
        room=room_a,
        starts_at=at(dt.date(2026, 3, 3), 8),
        ends_at=at(dt.date(2026, 3, 3), 12),
        reason=Unavailability.Reason.MAINTENANCE,
    )
    biopsy = factories.ProcedureTypeFactory(code="bm-biopsy", name="Biopsy")
    aspiration = factories.ProcedureTypeFactory(code="bm-aspiration", name="Aspiration")
    d = dt.date
    visits = dict(
        [
            # Completed, held 15 min before and 30 after: 105 minutes; booked 10 days ahead.
            visit(
                1,
                room_a,
                biopsy,
                d(2026, 3, 2),
                9,
                60,
                Status.COMPLETED,
                d(2026, 2, 20),
                buffer_before_minutes=15,
                buffer_after_minutes=30,
            ),
            visit(2, room_a, biopsy, d(2026, 3, 3), 13, 60, Status.NO_SHOW, d(2026, 3, 1)),
            visit(
                3,
                room_a,
                biopsy,
                d(2026, 3, 4),
                10,
                60,
                Status.CANCELLED,
                d(2026, 2, 25),
                cancel_reason_code=Appointment.CancelReason.PREP_NOT_DONE,
            ),
            visit(
                4,
                room_a,
                biopsy,
                d(2026, 3, 5),
                10,
                60,
                Status.CANCELLED,
                d(2026, 2, 25),
                cancel_reason_code=Appointment.CancelReason.NO_ESCORT,
            ),
            visit(5, room_a, biopsy, d(2026, 3, 9), 14, 60, Status.CANCELLED, d(2026, 2, 25)),
            # Booked and done on the same day: 120 minutes.
            visit(6, room_a, aspiration, d(2026, 3, 10), 9, 120, Status.COMPLETED, d(2026, 3, 10)),
            # Past, never marked arrived or no-show: 60 minutes, booked 9 days ahead.
            visit(7, room_a, biopsy, d(2026, 3, 11), 9, 60, Status.SCHEDULED, d(2026, 3, 2)),
            # Room B: 180 minutes, booked 67 days ahead.
            visit(8, room_b, biopsy, d(2026, 3, 9), 9, 180, Status.COMPLETED, d(2026, 1, 1)),
            # After the period: not counted anywhere.
            visit(9, room_a, biopsy, d(2026, 3, 16), 8, 60, Status.COMPLETED, d(2026, 3, 1)),
        ]
    )
    flow = factories.TestTypeFactory(
        code="flow", name="Flow cytometry", lab="Haematology lab", turnaround_target_days=2
    )
    cytogenetics = factories.TestTypeFactory(
        code="cyto",
        name="Cytogenetics",
        lab="Genetics lab",
        turnaround_target_days=5,
        turnaround_max_days=21,
    )
    # Flow cytometry: 2, 1 and 3 working days.
    final(flow, visits[1], d(2026, 3, 2), d(2026, 3, 4))
    final(flow, visits[8], d(2026, 3, 9), d(2026, 3, 10))
    final(flow, visits[6], d(2026, 3, 10), d(2026, 3, 13))
    # Cytogenetics: 8 working days over the holiday, against a target of 5.
    final(cytogenetics, visits[1], d(2026, 3, 2), d(2026, 3, 13))
    # A final result after the period: not counted.
    final(flow, visits[7], d(2026, 3, 11), d(2026, 3, 17))
    return World(room_a, room_b, biopsy, aspiration, flow, cytogenetics, visits)
