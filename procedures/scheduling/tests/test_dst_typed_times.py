"""Times typed on the night the clocks change (QA 1, #2 and #3): a time the clocks skip
or pass twice is asked again in words, naming the change; the others are real instants,
so "ends after it starts" and a visit's length hold in UTC as in the database's checks.
Europe/London and America/New_York."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from clinic import roles
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.clock import clinic_datetime, clock_change_refusal
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.sites import StaffProfile, default_site
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
)

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
LONDON_SPRING, LONDON_AUTUMN = dt.date(2027, 3, 28), dt.date(2027, 10, 31)  # Sundays
NEW_YORK_SPRING = dt.date(2027, 3, 14)
LONDON_GAP = (
    "The clocks go forward at 01:00 on Sunday 28 March 2027: 01:00\u201302:00 does not exist."
)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.clock(dt.datetime(2027, 3, 1, 9, tzinfo=dt.UTC)),
]


@pytest.fixture
def london(settings):
    settings.CLINIC_TIME_ZONE = settings.TIME_ZONE = "Europe/London"
    site = default_site()
    site.time_zone = "Europe/London"
    site.save()
    return site


def around_the_clock(provider, room) -> None:
    """Sunday hours all day: the changes fall on a Sunday night, out of usual hours."""
    for resource in ({"provider": provider}, {"room": room}):
        WorkingHours.objects.create(**resource, weekday=6, starts=dt.time(0), ends=dt.time(23, 59))


@pytest.fixture
def lee(london):
    lee = ProviderFactory(display_name="Dr Lee")
    lee.sites.set([london])
    room = RoomFactory(name="Procedure room 1", site=london)
    around_the_clock(lee, room)
    return lee, room


def booking(provider, room, *, day: dt.date, start: str, end: str = "") -> dict:
    return {
        "patient_mrn": PatientFactory().mrn,
        "procedure_type": ProcedureTypeFactory(
            default_duration_minutes=60, default_sedation_level="local"
        ).pk,
        "provider": provider.pk,
        "room": room.pk,
        "date": day.isoformat(),
        "start_time": start,
        "end_time": end,
        "sedation_level": "",
        "transport_mode": "escort_driving",
        "notes": "",
    }


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_it_names_the_change_for_times_skipped_or_repeated_in_london_and_new_york():
    assert clock_change_refusal(LONDON_SPRING, dt.time(1, 30), LONDON) == (
        f"{LONDON_GAP} Choose another time."
    )
    assert clock_change_refusal(LONDON_AUTUMN, dt.time(1, 30), LONDON) == (
        "The clocks go back at 02:00 on Sunday 31 October 2027: 01:00\u201302:00 happens twice. "
        "Choose another time."
    )
    assert clock_change_refusal(NEW_YORK_SPRING, dt.time(2, 30), NEW_YORK) == (
        "The clocks go forward at 02:00 on Sunday 14 March 2027: 02:00\u201303:00 does not exist. "
        "Choose another time."
    )
    assert "The clocks go back at 02:00 on Sunday 7 November 2027: 01:00\u201302:00 happens" in (
        clock_change_refusal(dt.date(2027, 11, 7), dt.time(1, 15), NEW_YORK) or ""
    )
    # Either side of the change, and London's 01:30 in New York, are one time each.
    for day, at, zone in (
        (LONDON_SPRING, dt.time(0, 59), LONDON),
        (LONDON_SPRING, dt.time(2, 0), LONDON),
        (LONDON_AUTUMN, dt.time(2, 0), LONDON),
        (LONDON_SPRING, dt.time(1, 30), NEW_YORK),
    ):
        assert clock_change_refusal(day, at, zone) is None


def test_a_booking_in_the_spring_gap_is_refused_in_words_not_a_500(frontdesk_client, lee):
    provider, room = lee
    for start, end in (("01:30", "02:30"), ("00:30", "01:30")):
        response = frontdesk_client.post(
            "/appointments/book/", booking(provider, room, day=LONDON_SPRING, start=start, end=end)
        )

        assert response.status_code == 200
        assert LONDON_GAP in text(response)
    assert not Appointment.objects.exists()


def test_a_booking_across_the_spring_gap_is_measured_in_real_minutes(frontdesk_client, lee):
    provider, room = lee
    # 00:50-02:10 reads as 80 minutes on the clock but is 20 in fact: too short.
    short = frontdesk_client.post(
        "/appointments/book/",
        booking(provider, room, day=LONDON_SPRING, start="00:50", end="02:10"),
    )
    assert "needs at least" in text(short)
    assert not Appointment.objects.exists()

    # 00:30-02:30 is one real hour: 00:30 GMT to 01:30 UTC.
    booked = frontdesk_client.post(
        "/appointments/book/",
        booking(provider, room, day=LONDON_SPRING, start="00:30", end="02:30"),
    )
    assert booked.status_code == 302, booked.context["form"].errors
    visit = Appointment.objects.get()
    assert (visit.start_at, visit.end_at) == (
        dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 28, 1, 30, tzinfo=dt.UTC),
    )


def test_a_booking_in_the_autumn_hour_that_happens_twice_is_asked_again(frontdesk_client, lee):
    provider, room = lee
    response = frontdesk_client.post(
        "/appointments/book/", booking(provider, room, day=LONDON_AUTUMN, start="01:15")
    )

    assert "The clocks go back at 02:00 on Sunday 31 October 2027" in text(response)
    assert not Appointment.objects.exists()


def test_a_new_york_booking_in_its_own_gap_is_refused_on_its_clock(client, london):
    new_york = SiteFactory(code="nyc", name="Manhattan Clinic", time_zone="America/New_York")
    okafor = ProviderFactory(display_name="Dr Okafor")
    okafor.sites.set([new_york])
    room = RoomFactory(name="NY room 1", site=new_york)
    around_the_clock(okafor, room)
    desk = make_user("nyc-desk", roles.FRONT_DESK)
    StaffProfile.objects.create(user=desk, home_site=new_york)
    client.force_login(desk)

    response = client.post(
        "/appointments/book/", booking(okafor, room, day=NEW_YORK_SPRING, start="02:30")
    )

    assert (
        "The clocks go forward at 02:00 on Sunday 14 March 2027: 02:00\u201303:00 does not exist."
    ) in text(response)
    assert not Appointment.objects.exists()


def test_a_move_into_the_spring_gap_is_refused_and_the_visit_stays(frontdesk_client, lee):
    provider, room = lee
    start = clinic_datetime(LONDON_SPRING, dt.time(9))
    visit = AppointmentFactory(
        provider=provider, room=room, start_at=start, end_at=start + dt.timedelta(hours=1)
    )

    response = frontdesk_client.post(
        f"/appointments/{visit.pk}/reschedule/",
        {
            "date": LONDON_SPRING.isoformat(),
            "start_time": "01:30",
            "provider": provider.pk,
            "room": room.pk,
            "version": visit.version,
        },
    )

    assert response.status_code == 200
    assert LONDON_GAP in text(response)
    visit.refresh_from_db()
    assert visit.start_at == start


@pytest.mark.parametrize(
    ("day", "starts", "ends", "said"),
    [
        (LONDON_SPRING, "01:30", "02:30", LONDON_GAP),
        (LONDON_AUTUMN, "00:30", "01:30", "The clocks go back at 02:00 on Sunday 31 October 2027"),
    ],
    ids=["spring-gap", "autumn-twice"],
)
def test_leave_at_a_time_the_clocks_skip_or_repeat_is_refused_in_words(
    client, admin_user, lee, day, starts, ends, said
):
    provider, _room = lee
    client.force_login(admin_user)

    response = client.post(
        f"/hours/physician/{provider.pk}/leave/",
        {
            "leave-starts_on": day.isoformat(),
            "leave-starts_time": starts,
            "leave-ends_on": day.isoformat(),
            "leave-ends_time": ends,
            "leave-reason": "other",
        },
    )

    assert response.status_code == 400
    assert said in text(response)
    assert not Unavailability.objects.exists()


def test_leave_across_the_spring_gap_is_saved_as_the_hour_it_really_is(client, admin_user, lee):
    provider, _room = lee
    client.force_login(admin_user)

    response = client.post(
        f"/hours/physician/{provider.pk}/leave/",
        {
            "leave-starts_on": LONDON_SPRING.isoformat(),
            "leave-starts_time": "00:30",
            "leave-ends_on": LONDON_SPRING.isoformat(),
            "leave-ends_time": "02:30",
            "leave-reason": "other",
        },
    )

    assert response.status_code == 302
    leave = Unavailability.objects.get()
    assert leave.ends_at - leave.starts_at == dt.timedelta(hours=1)
