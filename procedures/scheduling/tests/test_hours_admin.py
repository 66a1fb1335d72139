"""Hours and leave as a clinic admin changes them (procedures/scheduling/hours_admin.py):
the visits a change would leave outside hours, nothing saved until they are confirmed,
and bad input refused in words."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.scheduling import hours_admin as hours
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory, ProviderFactory, RoomFactory

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(7, 0))  # Monday
MONDAY = dt.date(2025, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]
T = dt.time


def at(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    return clinic_datetime(day, T(hour, minute))


@pytest.fixture
def lee():
    return hours.Resource("provider", ProviderFactory(display_name="Dr Lee"))


@pytest.fixture
def monday_visit(lee):
    return AppointmentFactory(provider=lee.obj, start_at=at(9), end_at=at(10))


def test_one_sunday_session_as_own_hours_would_leave_the_monday_visit_outside_hours(
    lee, monday_visit
):
    affected = hours.affected_visits(lee, weekly={6: [(T(9), T(12))]})

    assert [a.appointment for a in affected] == [monday_visit]
    assert affected[0].reason == "not working on Monday"


def test_own_hours_from_a_copy_of_the_default_plus_sunday_leave_the_week_as_it_was(
    lee, monday_visit, admin_user
):
    weekly = hours.default_copy()
    weekly[6] = [(T(9), T(12))]

    assert hours.affected_visits(lee, weekly=weekly) == []
    assert hours.hours_set(resource=lee, weekly=weekly, confirmed=[], by=admin_user) == []
    assert WorkingHours.objects.filter(provider=lee.obj).count() == 6
    assert hours.weekly_text(hours.weekly_of(lee)) == "Mon-Fri 08:00-18:00; Sun 09:00-12:00"


def test_nothing_is_saved_until_the_listed_visits_are_confirmed(lee, monday_visit, admin_user):
    afternoon = {d: [(T(13), T(18))] for d in range(5)}

    with pytest.raises(hours.HoursNeedConfirmation) as need:
        hours.hours_set(resource=lee, weekly=afternoon, confirmed=[], by=admin_user)

    [visit] = need.value.affected
    assert visit.appointment == monday_visit
    assert visit.reason == "works 13:00-18:00 on Monday; the visit needs 09:00-10:00"
    assert not WorkingHours.objects.exists()

    saved = hours.hours_set(
        resource=lee, weekly=afternoon, confirmed=[monday_visit.pk], by=admin_user
    )
    assert [a.appointment for a in saved] == [monday_visit]
    assert WorkingHours.objects.filter(provider=lee.obj).count() == 5
    # The visit is not moved or cancelled: the front desk moves it.
    monday_visit.refresh_from_db()
    assert monday_visit.status == Appointment.Status.SCHEDULED


def test_a_visit_booked_after_the_warning_must_be_confirmed_too(lee, monday_visit, admin_user):
    afternoon = {d: [(T(13), T(18))] for d in range(5)}
    later = AppointmentFactory(provider=lee.obj, start_at=at(10, 30), end_at=at(11, 30))

    with pytest.raises(hours.HoursNeedConfirmation) as need:
        hours.hours_set(resource=lee, weekly=afternoon, confirmed=[monday_visit.pk], by=admin_user)

    assert [a.appointment for a in need.value.affected] == [monday_visit, later]
    assert not WorkingHours.objects.exists()


def test_cancelled_and_past_visits_and_visits_already_outside_hours_are_not_listed(lee, admin_user):
    AppointmentFactory(
        provider=lee.obj, start_at=at(9), end_at=at(10), status=Appointment.Status.CANCELLED
    )
    # Saturday: outside the default already, so not this change's doing.
    AppointmentFactory(
        provider=lee.obj,
        start_at=at(9, day=dt.date(2025, 3, 8)),
        end_at=at(10, day=dt.date(2025, 3, 8)),
    )

    assert hours.affected_visits(lee, weekly={6: [(T(9), T(12))]}) == []


def test_back_to_the_clinic_default_lists_the_sunday_visits(lee, admin_user):
    WorkingHours.objects.create(provider=lee.obj, weekday=6, starts=T(9), ends=T(12))
    sunday = dt.date(2025, 3, 9)
    visit = AppointmentFactory(
        provider=lee.obj, start_at=at(9, day=sunday), end_at=at(10, day=sunday)
    )

    with pytest.raises(hours.HoursNeedConfirmation) as need:
        hours.hours_set(resource=lee, weekly=None, confirmed=[], by=admin_user)

    assert [a.appointment for a in need.value.affected] == [visit]
    assert need.value.affected[0].reason == "not working on Sunday"
    assert WorkingHours.objects.count() == 1


def test_a_room_is_judged_over_its_set_up_and_recovery(admin_user):
    room = hours.Resource("room", RoomFactory(name="Procedure room 1"))
    visit = AppointmentFactory(room=room.obj, start_at=at(9), end_at=at(10))
    visit.blocked_from, visit.blocked_until = at(8, 45), at(10, 30)
    Appointment.objects.filter(pk=visit.pk).update(blocked_from=at(8, 45), blocked_until=at(10, 30))

    # Open from 09:00: the procedure fits, its set-up does not.
    affected = hours.affected_visits(room, weekly={0: [(T(9), T(18))]})

    assert [a.appointment.pk for a in affected] == [visit.pk]
    assert affected[0].reason == "works 09:00-18:00 on Monday; the visit needs 08:45-10:30"


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({0: [(T(18), T(8))]}, "Monday: a session must end after it starts (18:00-08:00)."),
        (
            {2: [(T(8), T(13)), (T(12), T(17))]},
            "Wednesday: the sessions 08:00-13:00 and 12:00-17:00 overlap.",
        ),
        ({}, "Own hours need at least one session."),
    ],
    ids=["end-before-start", "overlapping-sessions", "no-session"],
)
def test_bad_hours_are_refused_in_words_and_nothing_is_saved(lee, admin_user, weekly, message):
    with pytest.raises(ValidationError) as refused:
        hours.hours_set(resource=lee, weekly=weekly, confirmed=[], by=admin_user)

    assert any(message in m for m in refused.value.messages)
    assert not WorkingHours.objects.exists()


def test_leave_over_a_visit_is_saved_only_once_confirmed(lee, monday_visit, admin_user):
    leave = {
        "starts_at": at(0),
        "ends_at": at(0, day=MONDAY + dt.timedelta(days=5)),
        "reason": "leave",
        "note": "Half term",
    }
    with pytest.raises(hours.HoursNeedConfirmation) as need:
        hours.leave_add(resource=lee, confirmed=[], by=admin_user, **leave)
    assert (
        need.value.affected[0].reason
        == "on leave then (Leave, Mon 10 Mar to Fri 14 Mar (whole days))"
    )
    assert not Unavailability.objects.exists()

    saved, affected = hours.leave_add(
        resource=lee, confirmed=[monday_visit.pk], by=admin_user, **leave
    )
    assert saved.pk and [a.appointment for a in affected] == [monday_visit]


@pytest.mark.parametrize(
    ("starts", "ends", "field", "message"),
    [
        (at(12), at(9), "ends_on", "The leave must end after it starts."),
        (
            at(0, day=dt.date(2025, 3, 20)),
            at(0, day=dt.date(2025, 3, 22)),
            "starts_on",
            "This overlaps leave already recorded (Training or conference, Fri 21 Mar "
            "(whole day)). Change or remove it first.",
        ),
    ],
    ids=["end-before-start", "overlapping-leave"],
)
def test_bad_leave_is_refused_in_words(lee, admin_user, starts, ends, field, message):
    Unavailability.objects.create(
        provider=lee.obj,
        starts_at=at(0, day=dt.date(2025, 3, 21)),
        ends_at=at(0, day=dt.date(2025, 3, 22)),
        reason="training",
    )
    with pytest.raises(ValidationError) as refused:
        hours.leave_add(
            resource=lee,
            starts_at=starts,
            ends_at=ends,
            reason="leave",
            confirmed=[],
            by=admin_user,
        )
    assert refused.value.message_dict[field] == [message]
    assert Unavailability.objects.count() == 1


def test_the_week_preview_shows_hours_leave_holidays_and_days_off(lee):
    ClinicHoliday.objects.create(date=dt.date(2025, 3, 12), name="Founders' day")
    Unavailability.objects.create(
        provider=lee.obj,
        starts_at=at(13, day=dt.date(2025, 3, 13)),
        ends_at=at(18, day=dt.date(2025, 3, 13)),
        reason="training",
    )
    weekly = hours.default_copy()
    weekly[6] = [(T(9), T(12))]

    days = hours.week_preview(lee, weekly=weekly, first_day=MONDAY)

    assert [(d.day.isoformat(), d.state, d.hours) for d in days] == [
        ("2025-03-10", "working", "08:00-18:00"),
        ("2025-03-11", "working", "08:00-18:00"),
        ("2025-03-12", "holiday", ""),
        ("2025-03-13", "leave", "08:00-18:00"),
        ("2025-03-14", "working", "08:00-18:00"),
        ("2025-03-15", "off", ""),
        ("2025-03-16", "working", "09:00-12:00"),
    ]
    assert days[2].note == "Founders' day"
    assert days[3].note == "Training or conference, Thu 13 Mar 13:00 to Thu 13 Mar 18:00"


def test_every_change_is_audited_with_who_made_it(lee, admin_user):
    hours.hours_set(resource=lee, weekly={6: [(T(9), T(12))]}, confirmed=[], by=admin_user)
    hours.hours_set(resource=lee, weekly=None, confirmed=[], by=admin_user)

    entries = LogEntry.objects.filter(additional_data__provider=lee.pk)
    assert [(e.action, e.actor) for e in entries.order_by("timestamp", "pk")] == [
        (LogEntry.Action.CREATE, admin_user),
        (LogEntry.Action.DELETE, admin_user),
    ]


def test_a_visit_at_a_site_in_another_zone_is_judged_on_its_sites_clock(lee):
    """One load of the physician's hours judges a London visit and a New York one, each
    on its own site's wall clock (invariant 19): 09:00-12:00 holds a 10:00-11:00 visit
    in New York (15:00 in London), and 09:00-10:30 would leave it outside."""
    from zoneinfo import ZoneInfo

    from procedures.tests.factories import SiteFactory

    new_york = ZoneInfo("America/New_York")
    north = SiteFactory(code="north", time_zone="America/New_York")
    lee.obj.sites.set([RoomFactory().site, north])
    mornings = {d: [(T(9), T(12))] for d in range(5)}
    hours.hours_set(resource=lee, weekly=mornings, confirmed=[], by=None)
    ny_visit = AppointmentFactory(
        provider=lee.obj,
        room=RoomFactory(site=north),
        start_at=clinic_datetime(MONDAY, T(10), new_york),
        end_at=clinic_datetime(MONDAY, T(11), new_york),
    )

    affected = hours.affected_visits(lee, weekly={d: [(T(9), T(10, 30))] for d in range(5)})

    assert [a.appointment for a in affected] == [ny_visit]
    assert affected[0].reason == "works 09:00-10:30 on Monday; the visit needs 10:00-11:00"
