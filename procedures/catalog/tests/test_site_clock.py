"""A site's clock (issue 18, invariant 19): a network in Europe/London with a site in
America/New_York. Each site's pages, forms and wall-clock rules are in its own zone;
"All sites" is in the network's."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from clinic import roles
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.hours import WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.sites import ALL_SITES, StaffProfile, default_site
from procedures.messaging.kinds import Kind
from procedures.messaging.models import ReminderPolicy
from procedures.results import orders
from procedures.results.escalations import late_orders
from procedures.results.models import ResultEscalation, TestOrder
from procedures.scheduling.closures import visits_closed_by
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import slots_find
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
    TestOrderFactory,
    TestTypeFactory,
)
from procedures.workflows.visits import appointment_book

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
# Monday 24 November 2025, winter: New York is UTC-5, London UTC+0.
MONDAY = dt.date(2025, 11, 24)
TUESDAY = MONDAY + dt.timedelta(days=1)
pytestmark = pytest.mark.django_db


def ny(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK)


@pytest.fixture
def network(settings):
    settings.CLINIC_TIME_ZONE = settings.TIME_ZONE = "Europe/London"
    london = default_site()
    london.time_zone, london.holidays_country, london.holidays_subdivision = "Europe/London", "", ""
    london.save()
    new_york = SiteFactory(
        code="nyc", name="Manhattan Clinic", time_zone="America/New_York", holidays_country="US"
    )
    okafor = ProviderFactory(display_name="Dr Okafor")
    okafor.sites.set([new_york])
    lee = ProviderFactory(display_name="Dr Lee")
    lee.sites.set([london])
    return {
        "london": london,
        "new_york": new_york,
        "okafor": okafor,
        "lee": lee,
        "ny_room": RoomFactory(name="NY room 1", site=new_york),
        "london_room": RoomFactory(name="London room 1", site=london),
    }


def login(client, home, role=roles.FRONT_DESK, username="fd"):
    user = make_user(username, role)
    StaffProfile.objects.create(user=user, home_site=home)
    client.force_login(user)
    return user


def booking_data(network, *, day=TUESDAY, start="08:00", **overrides):
    data = {
        "patient_mrn": PatientFactory().mrn,
        "procedure_type": ProcedureTypeFactory(default_sedation_level="local").pk,
        "provider": network["okafor"].pk,
        "room": network["ny_room"].pk,
        "date": day.isoformat(),
        "start_time": start,
        "end_time": "",
        "sedation_level": "",
        "transport_mode": "escort_driving",
        "escort_name": "Ana Garcia",
        "escort_phone": "07700 900123",
        "notes": "",
    }
    data.update(overrides)
    return data


def ny_visit(network, start: dt.datetime) -> Appointment:
    return AppointmentFactory(
        provider=network["okafor"],
        room=network["ny_room"],
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
    )


# --- Pages: the current site's zone -------------------------------------------------


def test_a_booking_typed_at_8_at_the_new_york_site_is_13_utc_and_shows_8(
    client, network, time_machine
):
    time_machine.move_to(ny(TUESDAY, 6), tick=False)
    login(client, network["new_york"])

    response = client.post("/appointments/book/", booking_data(network))

    assert response.status_code == 302, response.context["form"].errors
    visit = Appointment.objects.get()
    assert visit.start_at == dt.datetime(2025, 11, 25, 13, 0, tzinfo=dt.UTC)
    board = client.get("/today/")
    assert [row.time for row in board.context["rows"]] == ["08:00"]
    calendar = client.get("/calendar/", {"date": TUESDAY.isoformat(), "by": "clinic"})
    assert "08:00" in calendar.content.decode()
    assert "Times in America/New_York" in calendar.content.decode()


def test_a_new_york_visit_moved_from_the_london_desk_keeps_new_york_time(
    client, network, time_machine
):
    """The move form shows and reads the visit's room's clock, whichever site's desk
    moves it: 09:00 typed for the New York room is 09:00 in New York."""
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    visit = ny_visit(network, ny(TUESDAY, 8))
    login(client, network["london"])

    page = client.get(f"/appointments/{visit.pk}/reschedule/")
    assert page.context["form"].initial["start_time"] == dt.time(8, 0)

    response = client.post(
        f"/appointments/{visit.pk}/reschedule/",
        {
            "date": TUESDAY.isoformat(),
            "start_time": "09:00",
            "provider": network["okafor"].pk,
            "room": network["ny_room"].pk,
        },
    )

    assert response.status_code == 302, response.context["form"].errors
    visit.refresh_from_db()
    assert visit.start_at == dt.datetime(2025, 11, 25, 14, 0, tzinfo=dt.UTC)


def test_a_free_time_clicked_on_all_sites_opens_the_form_on_the_rooms_clock(
    client, network, time_machine
):
    """ "All sites" draws the New York room's day on London's clock; its 13:00 is 08:00
    in New York, which is what the form (reading the room's clock) shows."""
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    login(client, network["london"], role=roles.PHYSICIAN)
    assert client.post("/site/", {"site": ALL_SITES, "next": "/today/"}).status_code == 302

    page = client.get(
        "/appointments/book/",
        {"date": TUESDAY.isoformat(), "time": "13:00", "room": network["ny_room"].pk},
    )

    assert page.status_code == 200
    assert page.context["form"].initial["start_time"] == dt.time(8, 0)
    assert page.context["form"].initial["date"] == TUESDAY


def test_at_2_utc_london_is_on_the_next_day_and_new_york_still_on_the_day_before(
    client, network, time_machine
):
    time_machine.move_to(dt.datetime(2025, 11, 25, 2, 0, tzinfo=dt.UTC), tick=False)
    evening = ny_visit(network, ny(MONDAY, 20))  # 01:00 UTC on Tuesday
    login(client, network["new_york"])

    new_york = client.get("/today/")
    assert new_york.context["day"] == MONDAY
    assert [row.pk for row in new_york.context["rows"]] == [evening.pk]

    client.post("/site/", {"site": network["london"].pk, "next": "/today/"})
    london = client.get("/today/")
    assert london.context["day"] == TUESDAY
    assert london.context["rows"] == []


def test_all_sites_keep_the_networks_zone_and_say_so(client, network, time_machine):
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    ny_visit(network, ny(MONDAY, 8))
    login(client, network["london"], role=roles.PHYSICIAN, username="doc")
    client.post("/site/", {"site": ALL_SITES, "next": "/today/"})

    board = client.get("/today/")

    # The row is on the visit's clock and says so (QA 3, #7); the page's other times
    # stay the network's.
    assert [row.time for row in board.context["rows"]] == ["08:00 EST"]
    assert "Times in Europe/London" in board.content.decode()


def test_the_zone_is_not_left_active_after_the_request(client, network, time_machine):
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    login(client, network["new_york"])

    client.get("/today/")

    assert timezone.get_current_timezone_name() == "Europe/London"


# --- Rules of one room or visit: its site's zone, whoever asks ----------------------


@pytest.fixture
def ny_hours(network):
    """The New York room open 08:00-17:00 and Dr Okafor working 08:00-17:00 there, Monday
    to Friday (New York's wall clock)."""
    for weekday in range(5):
        for resource in ({"room": network["ny_room"]}, {"provider": network["okafor"]}):
            WorkingHours.objects.create(
                **resource, weekday=weekday, starts=dt.time(8), ends=dt.time(17)
            )


def book_ny(network, start: dt.datetime) -> Appointment:
    return appointment_book(
        patient=PatientFactory(),
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        provider=network["okafor"],
        room=network["ny_room"],
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.NONE,
        by=None,
    )


def test_a_new_york_room_open_8_to_17_takes_8_and_refuses_7_new_york_time(
    network, ny_hours, time_machine
):
    time_machine.move_to(ny(MONDAY, 12), tick=False)
    # The network's zone (London) is the current one, as for a London page or a task.
    assert timezone.get_current_timezone_name() == "Europe/London"

    assert book_ny(network, ny(TUESDAY, 8)).start_at == ny(TUESDAY, 8)
    with pytest.raises(ValidationError) as refused:
        book_ny(network, ny(TUESDAY, 7))

    assert "NY room 1 is open 08:00-17:00 on Tuesday" in str(refused.value)
    assert Appointment.objects.count() == 1


def test_a_new_york_booking_past_5_pm_there_is_refused_though_london_is_asleep(
    network, ny_hours, time_machine
):
    time_machine.move_to(ny(MONDAY, 12), tick=False)
    with pytest.raises(ValidationError) as refused:
        book_ny(network, ny(TUESDAY, 16, 30))  # 21:30 in London

    assert "Dr Okafor works 08:00-17:00 on Tuesday; 16:30-17:30" in str(refused.value)


def test_the_slot_finder_offers_a_new_york_site_new_york_mornings(network, ny_hours, time_machine):
    time_machine.move_to(ny(MONDAY, 12), tick=False)

    slots = slots_find(
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        sedation_level=SedationLevel.NONE,
        site_id=network["new_york"].pk,
        first_day=TUESDAY,
        last_day=TUESDAY,
        per_day=2,
    )

    assert [s.start_at for s in slots] == [ny(TUESDAY, 8), ny(TUESDAY, 8, 15)]


def test_a_network_closure_closes_each_site_on_its_own_day(network, time_machine):
    time_machine.move_to(ny(MONDAY, 12), tick=False)
    # 20:00 on Tuesday in New York is 01:00 on Wednesday in London: Tuesday's visit.
    tuesday_evening = ny_visit(network, ny(TUESDAY, 20))
    ny_visit(network, ny(TUESDAY + dt.timedelta(days=1), 9))

    assert visits_closed_by([TUESDAY], site=None) == [tuesday_evening]


def test_checking_in_is_on_the_visits_day_at_its_site(network, time_machine):
    # 01:00 UTC Tuesday: still Monday 20:00 in New York, the visit's day.
    time_machine.move_to(dt.datetime(2025, 11, 25, 1, 0, tzinfo=dt.UTC), tick=False)
    visit = ny_visit(network, ny(MONDAY, 21))

    assert visit.can_check_in


# --- Background work: at the visit's site's wall clock ------------------------------


def test_a_reminder_the_day_before_at_9_for_a_new_york_visit_is_due_at_9_there(
    network, ny_hours, time_machine
):
    time_machine.move_to(ny(MONDAY, 12), tick=False)
    ReminderPolicy.objects.create(
        kind=Kind.DAY_BEFORE, enabled=True, days_offset=-1, send_time=dt.time(9)
    )

    visit = book_ny(network, ny(TUESDAY + dt.timedelta(days=1), 10))

    day_before = visit.reminders.get(kind=Kind.DAY_BEFORE)
    assert day_before.due_at == ny(TUESDAY, 9)  # 14:00 in London
    assert day_before.due_at == dt.datetime(2025, 11, 25, 14, 0, tzinfo=dt.UTC)


def test_at_2_utc_a_london_result_due_yesterday_is_late_a_new_york_one_not_yet(network):
    two_utc = dt.datetime(2025, 11, 25, 2, 0, tzinfo=dt.UTC)  # Tue in London, Mon in NY
    london = TestOrderFactory(
        appointment__room=network["london_room"], appointment__provider=network["lee"]
    )
    new_york = TestOrderFactory(
        appointment__room=network["ny_room"], appointment__provider=network["okafor"]
    )
    TestOrder.objects.filter(pk__in=[london.pk, new_york.pk]).update(expected_by=MONDAY)

    late = set(late_orders(ResultEscalation.Level.OVERDUE, two_utc))

    assert late == {london}


# --- Results: the working days of the order's site ----------------------------------


@pytest.mark.parametrize(
    ("collected_on", "at_new_york", "at_london"),
    [
        # Wednesday before Thanksgiving (Thursday 27 November 2025, a US holiday).
        (dt.date(2025, 11, 26), dt.date(2025, 11, 28), dt.date(2025, 11, 27)),
        # Friday before England's summer bank holiday (Monday 25 August 2025).
        (dt.date(2025, 8, 22), dt.date(2025, 8, 25), dt.date(2025, 8, 26)),
    ],
    ids=["thanksgiving", "uk-bank-holiday"],
)
def test_an_order_skips_its_own_sites_public_holidays_only(
    network, time_machine, collected_on, at_new_york, at_london
):
    network["london"].holidays_country, network["london"].holidays_subdivision = "GB", "ENG"
    network["london"].save()
    time_machine.move_to(ny(collected_on, 12), tick=False)
    next_day = TestTypeFactory(turnaround_target_days=1)

    def ordered(room, provider) -> dt.date:
        procedure = ProcedureTypeFactory()
        procedure.default_tests.set([next_day])
        visit = AppointmentFactory(
            room=room,
            provider=provider,
            procedure_type=procedure,
            start_at=ny(collected_on, 10),
            end_at=ny(collected_on, 11),
        )
        (order,) = orders.test_orders_create(appointment=visit, collected_at=ny(collected_on, 11))
        return order.expected_by

    assert ordered(network["ny_room"], network["okafor"]) == at_new_york
    assert ordered(network["london_room"], network["lee"]) == at_london


def test_an_order_skips_every_sites_closures_and_its_own_not_another_sites(network):
    monday = dt.datetime.combine(dt.date(2025, 12, 1), dt.time(11), tzinfo=NEW_YORK)
    ClinicHoliday.objects.create(date=dt.date(2025, 12, 2), name="Network training")
    ClinicHoliday.objects.create(
        date=dt.date(2025, 12, 3), name="London closed", site=network["london"]
    )

    def expected_at(site) -> dt.date:
        return orders.expected_by_for(collected_at=monday, turnaround_days=1, site=site)

    assert expected_at(network["new_york"]) == dt.date(2025, 12, 3)
    assert expected_at(network["london"]) == dt.date(2025, 12, 4)


# --- Hours and leave: on the resource's site's clock, whoever types it ------------------


@pytest.fixture
def london_admin(client, network):
    """A clinic admin (not a superuser) whose current site is London."""
    login(client, network["london"], role=roles.CLINIC_ADMIN, username="ca")
    return client


def page_text(response) -> str:
    return " ".join(response.content.decode().split())


def test_a_new_york_rooms_maintenance_typed_from_london_is_new_york_time(
    london_admin, network, time_machine
):
    time_machine.move_to(dt.datetime(2025, 12, 1, 12, tzinfo=LONDON), tick=False)
    room = network["ny_room"]
    page = london_admin.get(f"/hours/room/{room.pk}/")
    assert "Times are Manhattan Clinic time (America/New_York)." in page_text(page)

    london_admin.post(
        f"/hours/room/{room.pk}/leave/",
        {
            "leave-starts_on": "2025-12-15",
            "leave-starts_time": "09:00",
            "leave-ends_on": "2025-12-15",
            "leave-ends_time": "12:00",
            "leave-reason": "maintenance",
        },
    )

    leave = room.unavailabilities.get()
    assert (leave.starts_at, leave.ends_at) == (
        ny(dt.date(2025, 12, 15), 9),
        ny(dt.date(2025, 12, 15), 12),
    )
    shown = page_text(london_admin.get(f"/hours/room/{room.pk}/"))
    assert "Maintenance, Mon 15 Dec 09:00 to Mon 15 Dec 12:00" in shown


def test_whole_day_leave_covers_the_day_at_every_site_the_physician_works_at(
    london_admin, network, time_machine
):
    """Typed on a London page for a physician of London and New York, 15 December is all
    of the 15th in both: from London's midnight to New York's."""
    time_machine.move_to(dt.datetime(2025, 12, 1, 12, tzinfo=LONDON), tick=False)
    okafor = network["okafor"]
    okafor.sites.set([network["london"], network["new_york"]])
    evening_ny = ny_visit(network, ny(dt.date(2025, 12, 15), 17))  # 22:00 in London
    data = {
        "leave-starts_on": "2025-12-15",
        "leave-ends_on": "2025-12-15",
        "leave-reason": "leave",
    }

    warned = london_admin.post(f"/hours/physician/{okafor.pk}/leave/", data)
    assert "on leave then (Leave, Mon 15 Dec (whole day))" in page_text(warned)
    london_admin.post(f"/hours/physician/{okafor.pk}/leave/", {**data, "confirm": evening_ny.pk})

    leave = okafor.unavailabilities.get()
    assert leave.starts_at == dt.datetime(2025, 12, 15, tzinfo=LONDON)
    assert leave.ends_at == ny(dt.date(2025, 12, 16), 0)
    page = page_text(london_admin.get(f"/hours/physician/{okafor.pk}/"))
    assert "Leave, Mon 15 Dec (whole day)" in page
    assert "A day without a time is the whole day at every site Dr Okafor works at" in page


def test_a_room_hours_warning_shows_the_visit_on_its_sites_clock(
    london_admin, network, time_machine
):
    time_machine.move_to(dt.datetime(2025, 11, 20, 12, tzinfo=LONDON), tick=False)
    room = network["ny_room"]
    ny_visit(network, ny(MONDAY, 11))  # 16:00 in London
    response = london_admin.post(
        f"/hours/room/{room.pk}/",
        {"mode": "own", "action": "preview", "d0_s1_from": "08:00", "d0_s1_until": "10:00"},
    )
    warning = page_text(response)
    assert "Mon 24 Nov 2025, 11:00" in warning
    assert "16:00" not in warning.split("hours-warning")[1].split("</ul>")[0]


# --- One visit's times on its own site's clock, named on another site's page (QA 3, #7) ---


def test_the_appointment_page_shows_a_new_york_visit_in_new_york_time_from_london(
    client, network, time_machine
):
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    visit = ny_visit(network, ny(TUESDAY, 8))
    login(client, network["london"])

    page = client.get(f"/appointments/{visit.pk}/").content.decode()

    assert "Tuesday 25 November 2025, 08:00\u201309:00 EST" in page
    assert "(Manhattan Clinic, New York time)" in page
    assert "13:00" not in page

    client.post("/site/", {"site": network["new_york"].pk, "next": "/today/"})
    at_home = client.get(f"/appointments/{visit.pk}/").content.decode()
    assert "Tuesday 25 November 2025, 08:00\u201309:00</dd>" in at_home
    assert "New York time" not in at_home


def test_the_prep_timeline_dates_and_texts_agree_and_a_last_dose_is_typed_on_its_clock(
    client, network, time_machine, care_for_all
):
    """From the London desk, a stop typed for a New York visit at 20:00 is 20:00 in New
    York, and the timeline's When column says what its text says."""
    time_machine.move_to(ny(MONDAY, 6) - dt.timedelta(days=7), tick=False)
    visit = ny_visit(network, ny(TUESDAY, 8))
    medicine = visit.patient.medications.create(
        name="Warfarin", dose="", med_class="anticoagulant", is_active=True
    )
    login(client, network["london"], role=roles.PHYSICIAN, username="doc")
    sunday = MONDAY - dt.timedelta(days=1)

    response = client.post(
        f"/appointments/{visit.pk}/prep/holds/",
        {
            "hold-medication": medicine.pk,
            "hold-action": "stop",
            "hold-stop_date": sunday.isoformat(),
            "hold-stop_time": "20:00",
        },
    )
    assert response.status_code == 302
    assert visit.medication_holds.get().stop_at == ny(sunday, 20)
    client.post(f"/appointments/{visit.pk}/prep/holds/confirm/")

    page = client.get(f"/appointments/{visit.pk}/prep/").content.decode()

    rows = re.findall(r'<tr class="prep-step prep-step-medication_hold">.*?</tr>', page, re.S)
    [row] = [r for r in rows if "last dose" in r]
    assert "Sun 23 November, 20:00" in row
    assert "at 20:00 on Sunday 23 November 2025" in row
    assert "(Manhattan Clinic, New York time: every time on this page" in page
