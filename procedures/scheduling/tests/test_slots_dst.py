"""Time zones: booking across the clocks changing in Europe/London (last Sunday of
March and of October). Wall-clock times stay put; UTC moves."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import DEFAULT_OPENING_HOURS, WorkingHours
from procedures.scheduling.slots import availability_load, slots_find
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
FRI_GMT, MON_BST = dt.date(2025, 3, 28), dt.date(2025, 3, 31)  # clocks go forward on the 30th
FRI_BST, MON_GMT = dt.date(2025, 10, 24), dt.date(2025, 10, 27)  # and back on 26 October


@pytest.fixture(autouse=True)
def london(settings):
    settings.CLINIC_TIME_ZONE = settings.TIME_ZONE = "Europe/London"


@pytest.fixture
def lee():
    lee = ProviderFactory(display_name="Dr Lee")
    for weekday in range(5):
        WorkingHours.objects.create(
            provider=lee, weekday=weekday, starts=dt.time(9), ends=dt.time(12)
        )
    return lee


@pytest.fixture
def procedure():
    return ProcedureTypeFactory(default_duration_minutes=60, default_sedation_level="local")


@pytest.mark.parametrize(
    ("now", "before", "after", "utc_before", "utc_after"),
    [
        (dt.datetime(2025, 3, 27, 12, tzinfo=LONDON), FRI_GMT, MON_BST, 9, 8),
        (dt.datetime(2025, 10, 23, 12, tzinfo=LONDON), FRI_BST, MON_GMT, 8, 9),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_the_slot_finder_keeps_wall_clock_hours_across_the_change(
    time_machine, lee, procedure, now, before, after, utc_before, utc_after
):
    time_machine.move_to(now, tick=False)
    RoomFactory()

    slots = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        provider=lee,
        first_day=before,
        last_day=after,
        per_day=1,
    )

    by_day = {s.start_at.astimezone(LONDON).date(): s for s in slots}
    assert set(by_day) == {before, after}
    for slot in slots:
        assert slot.start_at.astimezone(LONDON).time() == dt.time(9)
        assert slot.end_at - slot.start_at == dt.timedelta(hours=1)
    assert by_day[before].start_at.astimezone(dt.UTC).hour == utc_before
    assert by_day[after].start_at.astimezone(dt.UTC).hour == utc_after


def test_a_booking_after_the_change_shows_and_reminds_in_clinic_time(
    time_machine, lee, procedure, frontdesk_client
):
    time_machine.move_to(dt.datetime(2025, 3, 26, 12, tzinfo=LONDON), tick=False)
    start = clinic_datetime(MON_BST, dt.time(9))
    appointment = appointment_book(
        patient=PatientFactory(),
        procedure_type=procedure,
        provider=lee,
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=None,
    )

    # Stored in UTC: 09:00 BST is 08:00 UTC.
    assert appointment.start_at.astimezone(dt.UTC) == dt.datetime(2025, 3, 31, 8, tzinfo=dt.UTC)
    # Shown in clinic time on the appointment page and the calendar.
    page = frontdesk_client.get(f"/appointments/{appointment.pk}/").content.decode()
    assert "Monday 31 March 2025, 09:00\u201310:00" in page
    week = frontdesk_client.get(
        f"/calendar/?view=week&by=provider&id={lee.pk}&date=2025-03-31"
    ).content.decode()
    assert "09:00\u201310:00" in week
    # Reminders before the change (GMT) and after it (BST) go out at the same
    # wall-clock time in the clinic, so their UTC hours differ by one.
    escort = appointment.reminders.get(kind="escort_request").due_at.astimezone(LONDON)
    day_before = appointment.reminders.get(kind="day_before").due_at.astimezone(LONDON)
    assert escort.date() == dt.date(2025, 3, 29) and day_before.date() == dt.date(2025, 3, 30)
    assert escort.time() == day_before.time()
    assert escort.utcoffset() == dt.timedelta(0)
    assert day_before.utcoffset() == dt.timedelta(hours=1)


def test_availability_answers_in_the_askers_zone_and_each_resource_in_its_own_hours(lee):
    """Loaded in one zone, it answers in the zone it is asked in (a visit is judged on
    its site's clock, invariant 19: the hours page checks visits at several sites with
    one load); a room on the clinic's default hours and a physician on their own each
    get theirs. It keeps a day's sessions by hours, day and zone, shared between
    resources: asked in London after New York, it must not answer New York's."""
    new_york = ZoneInfo("America/New_York")
    room, other_room = RoomFactory(), RoomFactory()
    with timezone.override(new_york):
        availability = availability_load(
            providers=[lee], rooms=[room, other_room], first_day=MON_BST, last_day=MON_BST
        )
    lee_hours = ((dt.time(9), dt.time(12)),)
    default_hours = DEFAULT_OPENING_HOURS[MON_BST.weekday()]
    for zone in (new_york, LONDON, new_york):
        with timezone.override(zone):
            for resource, hours in (
                (("provider", lee.pk), lee_hours),
                (("room", room.pk), default_hours),
                (("room", other_room.pk), default_hours),
            ):
                assert availability.sessions(*resource, MON_BST) == tuple(
                    (clinic_datetime(MON_BST, s, zone), clinic_datetime(MON_BST, e, zone))
                    for s, e in hours
                )
            nine = clinic_datetime(MON_BST, dt.time(9), zone)
            assert availability.within_hours("provider", lee.pk, nine, nine + dt.timedelta(hours=1))
