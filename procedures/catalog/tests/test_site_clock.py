"""A site's clock (issue 18, invariant 18): a network in Europe/London with a site in
America/New_York. Each site's pages, forms and wall-clock rules are in its own zone;
"All sites" is in the network's."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinic import roles
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.sites import ALL_SITES, StaffProfile, default_site
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
)

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

    assert [row.time for row in board.context["rows"]] == ["13:00"]
    assert "Times in Europe/London" in board.content.decode()


def test_the_zone_is_not_left_active_after_the_request(client, network, time_machine):
    time_machine.move_to(ny(MONDAY, 6), tick=False)
    login(client, network["new_york"])

    client.get("/today/")

    assert timezone.get_current_timezone_name() == "Europe/London"
