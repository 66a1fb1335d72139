"""Booking rules beyond clashes: working hours, absences, holidays, room capabilities
and buffers. Each refusal names the problem and saves nothing."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
)
from procedures.workflows.visits import appointment_book

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday
DAY = dt.date(2025, 3, 10)  # the Monday after
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@pytest.fixture
def procedure():
    return ProcedureTypeFactory(
        name="Bone marrow aspiration and biopsy",
        default_duration_minutes=60,
        setup_minutes=10,
        turnover_minutes=15,
        recovery_minutes_oral=15,
        recovery_minutes_iv=30,
        recovery_minutes_general=60,
    )


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def room():
    return RoomFactory(name="Procedure room 1", is_monitored=True)


def book(procedure, provider, room, start_at, end_at=None, patient=None, **extra):
    extra.setdefault("sedation_level", SedationLevel.LOCAL)
    return appointment_book(
        patient=patient or PatientFactory(),
        procedure_type=procedure,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at or start_at + dt.timedelta(hours=1),
        by=None,
        **extra,
    )


def refused(*args, **kwargs) -> dict[str, list[str]]:
    before = (Appointment.objects.count(), Reminder.objects.count())
    with pytest.raises(ValidationError) as error:
        book(*args, **kwargs)
    assert (Appointment.objects.count(), Reminder.objects.count()) == before
    return error.value.message_dict


# --- Working hours -------------------------------------------------------------------


def test_it_uses_the_clinics_opening_hours_when_a_provider_has_none(procedure, lee, room):
    assert book(procedure, lee, room, at(8, 10)).start_at == at(8, 10)
    assert refused(procedure, lee, room, at(17, 30)) == {
        "provider": ["Dr Lee works 08:00-18:00 on Monday; 17:30-18:30 is outside those hours."],
        "room": [
            "Procedure room 1 is open 08:00-18:00 on Monday; with set-up, turnover and "
            "recovery this booking holds it 17:20-18:45."
        ],
    }


def test_it_refuses_a_weekend_when_nobody_works_then(procedure, lee, room):
    saturday = dt.date(2025, 3, 8)
    errors = refused(procedure, lee, room, at(10, day=saturday))
    assert errors["provider"] == ["Dr Lee does not work on Saturday."]
    assert errors["room"] == ["Procedure room 1 is closed on Saturday."]


def test_it_books_within_a_providers_own_sessions_only(procedure, lee, room):
    WorkingHours.objects.create(provider=lee, weekday=0, starts=dt.time(9), ends=dt.time(12))
    WorkingHours.objects.create(provider=lee, weekday=0, starts=dt.time(14), ends=dt.time(17))

    assert book(procedure, lee, room, at(14)).provider == lee
    assert refused(procedure, lee, room, at(11, 30)) == {
        "provider": [
            "Dr Lee works 09:00-12:00, 14:00-17:00 on Monday; 11:30-12:30 is outside those hours."
        ]
    }


def test_it_needs_the_room_open_for_set_up_turnover_and_recovery(procedure, lee, room):
    WorkingHours.objects.create(room=room, weekday=0, starts=dt.time(9), ends=dt.time(17))

    # 09:00-10:00 under IV sedation holds the room 08:50-10:45 (set-up 10, turnover
    # 15, recovery 30): the room opens at 09:00.
    errors = refused(procedure, lee, room, at(9), sedation_level=SedationLevel.IV_MODERATE)
    assert errors == {
        "room": [
            "Procedure room 1 is open 09:00-17:00 on Monday; with set-up, turnover and "
            "recovery this booking holds it 08:50-10:45."
        ]
    }
    assert book(procedure, lee, room, at(9, 10), sedation_level=SedationLevel.IV_MODERATE)


# --- Absences and holidays -----------------------------------------------------------


def test_it_refuses_a_provider_on_leave(procedure, lee, room):
    Unavailability.objects.create(
        provider=lee,
        starts_at=at(0, day=DAY),
        ends_at=at(0, day=DAY + dt.timedelta(days=5)),
        reason=Unavailability.Reason.LEAVE,
    )

    assert refused(procedure, lee, room, at(9)) == {
        "provider": ["Dr Lee is away then (leave, 10 Mar 00:00 to 15 Mar 00:00)."]
    }
    # Another physician is bookable meanwhile.
    assert book(procedure, ProviderFactory(), room, at(9))


def test_it_refuses_a_room_closed_for_maintenance(procedure, lee, room):
    Unavailability.objects.create(
        room=room, starts_at=at(12), ends_at=at(13), reason=Unavailability.Reason.MAINTENANCE
    )

    assert refused(procedure, lee, room, at(11, 30)) == {
        "room": [
            "Procedure room 1 is unavailable then (maintenance, 10 Mar 12:00 to 10 Mar 13:00)."
        ]
    }
    assert book(procedure, lee, room, at(13, 10))  # set-up from 13:00


def test_it_refuses_a_clinic_holiday(procedure, lee, room):
    ClinicHoliday.objects.create(date=DAY, name="Staff training day")

    assert refused(procedure, lee, room, at(9)) == {
        "date": ["The clinic is closed on Monday 10 March 2025 (Staff training day)."]
    }


# --- Room capabilities ---------------------------------------------------------------


def test_it_refuses_a_room_not_set_up_for_the_procedure(procedure, lee):
    bmac = ProcedureTypeFactory(code="bmac", name="BMAC")
    room = RoomFactory(name="Theatre")
    room.procedure_types.set([bmac])

    assert refused(procedure, lee, room, at(9)) == {
        "room": ["Theatre is not set up for Bone marrow aspiration and biopsy."]
    }
    assert book(bmac, lee, room, at(9)).room == room


@pytest.mark.parametrize("level", [SedationLevel.IV_MODERATE, SedationLevel.GENERAL])
def test_it_needs_a_monitored_room_for_iv_sedation_and_general(procedure, lee, level):
    plain = RoomFactory(name="Room 2", is_monitored=False)

    assert refused(procedure, lee, plain, at(9), sedation_level=level) == {
        "room": ["Room 2 has no monitoring, so it cannot host this sedation level."]
    }


def test_it_refuses_an_appointment_running_past_midnight(procedure, lee, room):
    errors = refused(procedure, lee, room, at(23), end_at=at(1, day=DAY + dt.timedelta(days=1)))
    assert errors == {"end_time": ["The appointment must end on the day it starts."]}


# --- Buffers -------------------------------------------------------------------------


def test_it_holds_the_room_for_buffers_but_frees_the_physician_at_the_end(procedure, lee, room):
    first = book(procedure, lee, room, at(9), sedation_level=SedationLevel.IV_MODERATE)
    assert (first.blocked_from, first.blocked_until) == (at(8, 50), at(10, 45))
    assert (first.buffer_before_minutes, first.buffer_after_minutes) == (10, 45)

    # The room is turned over and the patient recovers until 10:45: another booking
    # whose set-up starts before then is refused, with the room's held span...
    errors = refused(procedure, ProviderFactory(), room, at(10, 30))
    assert errors == {"room": ["Procedure room 1 is in use 08:50-10:45 by another appointment."]}
    # ...while Dr Lee can start in another room at 10:00.
    other = book(procedure, lee, RoomFactory(name="Procedure room 2"), at(10))
    assert other.start_at == at(10)
    # Back to back in the room once set-up can start at 10:45.
    assert book(procedure, ProviderFactory(), room, at(10, 55)).blocked_from == at(10, 45)


def test_recovery_grows_with_sedation(procedure):
    assert procedure.buffers(SedationLevel.LOCAL) == (10, 15)
    assert procedure.buffers(SedationLevel.ORAL) == (10, 30)
    assert procedure.buffers(SedationLevel.IV_MODERATE) == (10, 45)
    assert procedure.buffers(SedationLevel.GENERAL) == (10, 75)


def test_the_patient_is_held_through_recovery(procedure, lee, room):
    patient = PatientFactory()
    book(procedure, lee, room, at(9), patient=patient, sedation_level=SedationLevel.GENERAL)

    errors = refused(procedure, ProviderFactory(), RoomFactory(), at(10, 30), patient=patient)
    assert errors == {
        "patient": ["This patient already has an appointment 09:00-10:00 with Dr Lee."]
    }


def test_blocked_columns_follow_the_times_whoever_saves(lee, room):
    appointment = AppointmentFactory(
        start_at=at(9), end_at=at(10), buffer_before_minutes=5, buffer_after_minutes=20
    )
    appointment.start_at, appointment.end_at = at(11), at(12)
    appointment.save(update_fields=["start_at", "end_at"])

    appointment.refresh_from_db()
    assert (appointment.blocked_from, appointment.blocked_until) == (at(10, 55), at(12, 20))


# --- The booking page shows each rule against its field ------------------------------


def manual_form(patient, procedure, provider, room, **overrides) -> dict:
    data = {
        "patient_mrn": patient.mrn,
        "procedure_type": procedure.pk,
        "provider": provider.pk,
        "room": room.pk,
        "date": DAY.isoformat(),
        "start_time": "09:00",
        "end_time": "",
        "sedation_level": "local",
        "transport_mode": "self",
        "escort_name": "",
        "escort_phone": "",
        "notes": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"start_time": "19:00"},
            "provider",
            "Dr Lee works 08:00-18:00 on Monday; 19:00-20:00 is outside those hours.",
        ),
        ({"date": "2025-03-08"}, "provider", "Dr Lee does not work on Saturday."),
        (
            {"date": "2025-03-11"},
            "date",
            "The clinic is closed on Tuesday 11 March 2025 (Clinic closed for training).",
        ),
    ],
    ids=["evening", "saturday", "holiday"],
)
def test_the_booking_page_names_the_rule_broken_and_saves_nothing(
    frontdesk_client, procedure, lee, room, overrides, field, message
):
    ClinicHoliday.objects.create(date=dt.date(2025, 3, 11), name="Clinic closed for training")
    patient = PatientFactory()

    response = frontdesk_client.post(
        "/appointments/book/", manual_form(patient, procedure, lee, room, **overrides)
    )

    assert response.status_code == 200
    assert response.context["form"].errors[field] == [message]
    assert message in response.content.decode()
    assert not Appointment.objects.exists()


def test_the_reschedule_page_is_audited_as_a_read(frontdesk_client, procedure, lee, room):
    from clinic.models import ReadAccess

    appointment = book(procedure, lee, room, at(9))

    frontdesk_client.get(f"/appointments/{appointment.pk}/reschedule/")

    assert ReadAccess.objects.filter(object_id=str(appointment.pk)).exists()


# --- Young children ------------------------------------------------------------------


def test_a_young_child_is_booked_for_aspiration_only(procedure, lee, room):
    toddler = PatientFactory(date_of_birth=dt.date(2024, 6, 1))  # 9 months old on the day
    procedure.kind = ProcedureKind.ASPIRATION_BIOPSY
    procedure.save()

    assert refused(procedure, lee, room, at(9), patient=toddler) == {
        "procedure_type": [
            "For children under 2, only aspiration from the tibia is offered: "
            "Bone marrow aspiration and biopsy includes more than that."
        ]
    }

    aspiration = ProcedureTypeFactory(
        code="bm-aspiration", name="Bone marrow aspiration", kind=ProcedureKind.ASPIRATION
    )
    assert book(aspiration, lee, room, at(9), patient=toddler).patient == toddler


def test_the_child_rule_goes_by_age_on_the_day_of_the_procedure(procedure, lee, room):
    # Two on Sunday 9 March 2025, the day before the procedure: no longer a young child.
    two = PatientFactory(date_of_birth=dt.date(2023, 3, 9))
    procedure.kind = ProcedureKind.ASPIRATION_BIOPSY
    procedure.save()

    assert book(procedure, lee, room, at(9), patient=two).patient == two
