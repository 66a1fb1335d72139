"""No double booking, ever: desks racing for one slot on real PostgreSQL.

Each thread has its own database connection (transaction=True), and a barrier
releases them together, so the checks in the service run side by side and the
exclusion constraints decide.
"""

import datetime as dt
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from clinic.testing.processes import wait_until
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.hours import WorkingHours
from procedures.scheduling import booking
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

THREADS = 8


def next_monday() -> dt.date:
    day = clinic_today() + dt.timedelta(days=7)
    return day + dt.timedelta(days=(7 - day.weekday()) % 7)


def race(work: list) -> tuple[list, list[ValidationError]]:
    """Run each callable in its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(work))
    won, refused, crashed = [], [], []
    lock = threading.Lock()

    def run(job):
        try:
            barrier.wait(timeout=10)
            result = job()
            with lock:
                won.append(result)
        except ValidationError as exc:
            with lock:
                refused.append(exc)
        except Exception as exc:  # anything else is a bug: report it
            with lock:
                crashed.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert crashed == []
    return won, refused


def an_hour_with(lee, procedure, patient, room, start):
    """A desk's booking of an hour with Dr Lee, to run in a race."""
    return lambda: visits.appointment_book(
        patient=patient,
        procedure_type=procedure,
        provider=lee,
        room=room,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=None,
    )


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr(visits, "wake_dispatcher", lambda: None)


def test_eight_desks_booking_one_physician_at_once_make_one_booking(postgres):
    day = next_monday()
    procedure = ProcedureTypeFactory(default_duration_minutes=60)
    lee = ProviderFactory(display_name="Dr Lee")
    patients = [PatientFactory() for _ in range(THREADS)]
    rooms = [RoomFactory() for _ in range(THREADS)]

    def booker(i):
        # Overlapping, not identical: 10:00, 10:05, ... all meet Dr Lee's first hour.
        start = clinic_datetime(day, dt.time(10, 5 * i))
        return an_hour_with(lee, procedure, patients[i], rooms[i], start)

    won, refused = race([booker(i) for i in range(THREADS)])

    assert len(won) == 1
    assert len(refused) == THREADS - 1
    for exc in refused:
        [message] = exc.message_dict["provider"]
        assert message.startswith("Dr Lee is booked 10:")
        assert message.endswith("with another patient.")
    assert Appointment.objects.filter(provider=lee).count() == 1
    assert Appointment.objects.get().reminders.exists()


def test_eight_desks_racing_for_one_room_with_buffers_make_one_booking(postgres):
    day = next_monday()
    procedure = ProcedureTypeFactory(
        default_duration_minutes=30, setup_minutes=10, turnover_minutes=20
    )
    room = RoomFactory(name="Procedure room 1")

    def booker(i):
        # 10:00 and 10:50 do not overlap, but their buffers (09:50-10:50 and
        # 10:40-11:40) do: the room constraint compares the held ranges.
        start = clinic_datetime(day, dt.time(10, 0) if i % 2 else dt.time(10, 50))
        patient, provider = PatientFactory(), ProviderFactory()
        return lambda: visits.appointment_book(
            patient=patient,
            procedure_type=procedure,
            provider=provider,
            room=room,
            start_at=start,
            end_at=start + dt.timedelta(minutes=30),
            sedation_level=SedationLevel.LOCAL,
            by=None,
        )

    won, refused = race([booker(i) for i in range(THREADS)])

    assert len(won) == 1
    assert {tuple(exc.message_dict) for exc in refused} == {("room",)}
    assert Appointment.objects.filter(room=room).count() == 1


def test_two_reschedules_racing_into_one_slot_move_one_appointment(postgres):
    day = next_monday()
    procedure = ProcedureTypeFactory(default_duration_minutes=60)
    lee = ProviderFactory(display_name="Dr Lee")
    first, second = (
        visits.appointment_book(
            patient=PatientFactory(),
            procedure_type=procedure,
            provider=lee,
            room=RoomFactory(),
            start_at=clinic_datetime(day, dt.time(hour)),
            end_at=clinic_datetime(day, dt.time(hour + 1)),
            sedation_level=SedationLevel.LOCAL,
            by=None,
        )
        for hour in (9, 14)
    )
    target = clinic_datetime(day, dt.time(11))

    won, refused = race(
        [
            lambda pk=a.pk: visits.appointment_reschedule(
                appointment_id=pk, start_at=target, by=None
            )
            for a in (first, second)
        ]
    )

    assert len(won) == 1 and len(refused) == 1
    assert refused[0].message_dict == {
        "provider": ["Dr Lee is booked 11:00-12:00 with another patient."]
    }
    moved, stayed = (first, second) if won[0].pk == first.pk else (second, first)
    moved.refresh_from_db()
    stayed.refresh_from_db()
    assert (moved.start_at, moved.version) == (target, 2)
    assert stayed.version == 1 and stayed.start_at != target
    assert not stayed.events.filter(kind="rescheduled").exists()


def test_the_room_and_patient_constraints_compare_the_ranges_with_buffers(postgres):
    from django.db import IntegrityError, transaction

    from procedures.tests.factories import AppointmentFactory

    day = next_monday()
    first = AppointmentFactory(
        start_at=clinic_datetime(day, dt.time(9)),
        end_at=clinic_datetime(day, dt.time(10)),
        buffer_after_minutes=30,  # the room is held until 10:30
    )
    later = {"start_at": clinic_datetime(day, dt.time(10, 15))}
    later["end_at"] = later["start_at"] + dt.timedelta(hours=1)

    for shared in ("room", "patient"):
        with pytest.raises(IntegrityError, match=f"appt_no_overlap_{shared}"), transaction.atomic():
            AppointmentFactory(**later, **{shared: getattr(first, shared)})
    # The physician is free at 10:00: only the procedure itself holds them.
    assert AppointmentFactory(**later, provider=first.provider).pk


def test_desks_whose_checks_all_pass_at_once_queue_instead_of_deadlocking(postgres, monkeypatch):
    """The worst interleaving: every desk's clash check has passed before any
    insert lands, so only the exclusion constraints stand between them. Two
    inserts that each wait for the other's unfinished row are a deadlock in
    PostgreSQL; the service must queue them so each desk gets an answer."""
    day = next_monday()
    procedure = ProcedureTypeFactory(default_duration_minutes=60)
    lee = ProviderFactory(display_name="Dr Lee")
    patients = [PatientFactory() for _ in range(THREADS)]
    rooms = [RoomFactory() for _ in range(THREADS)]
    monkeypatch.setattr(booking, "_check_slot", lambda **slot: (0, 0))
    monkeypatch.setattr(booking, "booking_clashes", lambda **slot: {})

    def booker(i, week):
        start = clinic_datetime(day + dt.timedelta(weeks=week), dt.time(10, 5 * (i % 4)))
        return an_hour_with(lee, procedure, patients[i], rooms[i], start)

    for week in range(50):
        won, refused = race([booker(i, week) for i in range(THREADS)])
        assert len(won) == 1
        assert [exc.messages for exc in refused] == [
            ["That slot was just taken. Choose another time."]
        ] * (THREADS - 1)


def _advisory_lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0]


@pytest.fixture
def hours_race():
    """Dr Lee, a room and a patient for a 10:00 booking next Monday, and a clinic admin
    about to give Dr Lee afternoon hours only."""
    from types import SimpleNamespace

    from conftest import make_user
    from procedures.scheduling import hours_admin

    day = next_monday()
    lee = ProviderFactory(display_name="Dr Lee")
    procedure, room, patient = (
        ProcedureTypeFactory(default_duration_minutes=60),
        RoomFactory(),
        PatientFactory(),
    )
    admin = make_user("hours-admin", None)

    ten = clinic_datetime(day, dt.time(10))

    def book():
        return an_hour_with(lee, procedure, patient, room, ten)()

    def set_afternoons():
        return hours_admin.hours_set(
            resource=hours_admin.Resource("provider", lee),
            weekly={d: [(dt.time(13), dt.time(18))] for d in range(5)},
            confirmed=[],
            by=admin,
        )

    return SimpleNamespace(
        lee=lee,
        ten=ten,
        book=book,
        set_afternoons=set_afternoons,
        need=hours_admin.HoursNeedConfirmation,
    )


def test_a_booking_made_while_hours_change_is_checked_against_the_new_hours(postgres, hours_race):
    """Invariant 16 under a race: the admin's change of Dr Lee's hours is saved but not
    yet committed when a desk books Dr Lee's morning. The booking waits for the change
    and is refused with the new hours, instead of landing outside them unlisted."""
    w = hours_race
    saved, release, failures = threading.Event(), threading.Event(), []

    def change_hours():
        try:
            with transaction.atomic():  # held open until the desk is waiting
                w.set_afternoons()
                saved.set()
                release.wait(timeout=30)
        except Exception as exc:  # reported below
            failures.append(exc)
            saved.set()
        finally:
            connection.close()

    admin_thread = threading.Thread(target=change_hours)
    admin_thread.start()
    assert saved.wait(timeout=30) and failures == []
    booked, refused = [], []

    def book():
        try:
            booked.append(w.book())
        except ValidationError as exc:
            refused.append(exc)
        finally:
            connection.close()

    desk = threading.Thread(target=book)
    desk.start()
    try:
        wait_until(_advisory_lock_waiters, timeout=20, what="the booking waiting for the change")
    finally:
        release.set()
        admin_thread.join(timeout=30)
        desk.join(timeout=30)

    assert failures == [] and booked == []
    [exc] = refused
    assert "Dr Lee" in " ".join(exc.messages)
    assert not Appointment.objects.filter(provider=w.lee).exists()


def test_a_change_of_hours_made_while_a_booking_is_written_lists_that_visit(postgres, hours_race):
    """The other order: the desk's booking is written but not committed when the admin
    saves afternoon hours. The change waits for it and then asks to confirm that visit."""
    w = hours_race
    written, release, failures = threading.Event(), threading.Event(), []

    def book():
        try:
            with transaction.atomic():  # held open until the admin is waiting
                w.book()
                written.set()
                release.wait(timeout=30)
        except Exception as exc:  # reported below
            failures.append(exc)
            written.set()
        finally:
            connection.close()

    desk = threading.Thread(target=book)
    desk.start()
    assert written.wait(timeout=30) and failures == []
    outcome = []

    def change_hours():
        try:
            w.set_afternoons()
            outcome.append("saved")
        except w.need as need:
            outcome.append([a.appointment.start_at for a in need.affected])
        finally:
            connection.close()

    admin_thread = threading.Thread(target=change_hours)
    admin_thread.start()
    try:
        wait_until(_advisory_lock_waiters, timeout=20, what="the change waiting for the booking")
    finally:
        release.set()
        desk.join(timeout=30)
        admin_thread.join(timeout=30)

    assert failures == []
    assert outcome == [[w.ten]]
    assert not WorkingHours.objects.filter(provider=w.lee).exists()
