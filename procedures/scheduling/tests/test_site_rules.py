"""Invariant 17 through the Django admin (procedures/scheduling/site_rules.py): a room
moved to another site, or a physician's sites changed, never leaves a visit whose room
is at a site its physician does not work at. Refused on the form, in words, changing
nothing."""

import datetime as dt

import pytest

from clinic import roles
from conftest import make_user
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.resources import Provider, Room
from procedures.tests.factories import AppointmentFactory, ProviderFactory, RoomFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


@pytest.fixture
def world():
    main, north = (
        SiteFactory(code="main-x", name="Main clinic"),
        SiteFactory(code="north", name="North clinic"),
    )
    okafor = ProviderFactory(display_name="Dr Okafor")
    okafor.sites.set([main])
    room = RoomFactory(site=main, name="Main room 1")
    start = clinic_datetime(clinic_today() + dt.timedelta(days=3), dt.time(9))
    AppointmentFactory(
        provider=okafor, room=room, start_at=start, end_at=start + dt.timedelta(hours=1)
    )
    return {"main": main, "north": north, "okafor": okafor, "room": room}


def inlines(form: dict) -> dict:
    for prefix in ("working_hours", "unavailabilities"):
        form |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    return form


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_a_room_does_not_move_to_a_site_its_visits_physician_does_not_work_at(admin_client, world):
    room, north = world["room"], world["north"]
    form = inlines(
        {"name": room.name, "site": str(north.pk), "is_monitored": "on", "is_active": "on"}
    )

    response = admin_client.post(f"/admin/procedures/room/{room.pk}/change/", form)

    assert response.status_code == 200
    assert (
        "1 visit(s) in Main room 1 are with physicians who do not work at North clinic "
        "(Dr Okafor). Add North clinic to their sites first, or keep the room where it is."
    ) in text(response)
    assert Room.objects.get(pk=room.pk).site == world["main"]

    world["okafor"].sites.add(north)
    response = admin_client.post(f"/admin/procedures/room/{room.pk}/change/", form)
    assert response.status_code == 302
    assert Room.objects.get(pk=room.pk).site == north


def test_a_physician_keeps_the_sites_of_their_visits(admin_client, world):
    okafor, north, main = world["okafor"], world["north"], world["main"]
    form = inlines(
        {"display_name": okafor.display_name, "sites": [str(north.pk)], "is_active": "on"}
    )

    response = admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", form)

    assert response.status_code == 200
    assert (
        "Dr Okafor has 1 visit(s) at Main clinic: keep those sites ticked, or leave none "
        "ticked (every site)."
    ) in text(response)
    assert list(Provider.objects.get(pk=okafor.pk).sites.all()) == [main]

    both = inlines(
        {
            "display_name": okafor.display_name,
            "sites": [str(north.pk), str(main.pk)],
            "is_active": "on",
        }
    )
    assert (
        admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", both).status_code
        == 302
    )
    every = inlines({"display_name": okafor.display_name, "is_active": "on"})
    assert (
        admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", every).status_code
        == 302
    )
    assert not Provider.objects.get(pk=okafor.pk).sites.exists()


# --- Nothing inactive with visits to come (invariant 31) -------------------------------


def test_a_physician_with_visits_to_come_is_not_made_inactive(admin_client, world):
    okafor = world["okafor"]
    form = inlines({"display_name": okafor.display_name, "sites": [str(world["main"].pk)]})

    response = admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", form)

    assert response.status_code == 200
    page = text(response)
    assert "Dr Okafor has 1 booked visit(s) to come (" in page
    assert "Move or cancel them first, then make it inactive." in page
    assert Provider.objects.get(pk=okafor.pk).is_active

    okafor.appointments.update(status="cancelled")
    response = admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", form)
    assert response.status_code == 302
    assert not Provider.objects.get(pk=okafor.pk).is_active


def test_a_room_or_a_site_with_visits_to_come_is_not_made_inactive(admin_client, world):
    from procedures.catalog.sites import Site

    room, main = world["room"], world["main"]
    visit = room.appointments.get()
    more = [
        AppointmentFactory(
            provider=world["okafor"],
            room=room,
            start_at=visit.start_at + dt.timedelta(days=n),
            end_at=visit.end_at + dt.timedelta(days=n),
        )
        for n in (1, 2, 3)
    ]
    room_form = inlines({"name": room.name, "site": str(main.pk), "is_monitored": "on"})
    response = admin_client.post(f"/admin/procedures/room/{room.pk}/change/", room_form)
    assert response.status_code == 200
    page = text(response)
    assert "Main room 1 has 4 booked visit(s) to come (" in page
    first = visit.start_at.astimezone(main.tz)
    assert f"{first:%a} {first.day} {first:%b %Y %H:%M}" in page
    assert ", …)" in page  # three dates named, and more
    assert Room.objects.get(pk=room.pk).is_active

    site_form = {
        "name": main.name,
        "code": main.code,
        "address": main.address,
        "phone": main.phone,
        "time_zone": main.time_zone,
        "holidays_country": "",
        "holidays_subdivision": "",
    }
    response = admin_client.post(f"/admin/procedures/site/{main.pk}/change/", site_form)
    assert response.status_code == 200
    assert "Main clinic has 4 booked visit(s) to come" in text(response)
    assert Site.objects.get(pk=main.pk).is_active
    assert len(more) == 3


def test_removing_a_site_from_a_physician_counts_only_visits_not_cancelled(admin_client, world):
    okafor, north = world["okafor"], world["north"]
    okafor.appointments.update(status="cancelled")
    form = inlines(
        {"display_name": okafor.display_name, "sites": [str(north.pk)], "is_active": "on"}
    )

    response = admin_client.post(f"/admin/procedures/provider/{okafor.pk}/change/", form)

    assert response.status_code == 302
    assert list(Provider.objects.get(pk=okafor.pk).sites.all()) == [north]


def test_the_calendar_never_offers_an_inactive_physician(client, world):
    from procedures.catalog.hours import WorkingHours

    client.force_login(make_user("fd", roles.FRONT_DESK))
    okafor = world["okafor"]
    visit = okafor.appointments.get()
    Provider.objects.filter(pk=okafor.pk).update(is_active=False)  # as an old database has it
    WorkingHours.objects.create(
        provider=okafor, weekday=visit.start_at.weekday(), starts=dt.time(8), ends=dt.time(18)
    )
    day = visit.start_at.astimezone(world["main"].tz).date()

    response = client.get(f"/calendar/?by=provider&id={okafor.pk}&date={day.isoformat()}")

    grid = response.context["grid"]
    states = {cell.state for row in grid.rows for cell in row}
    assert "busy" in states  # their visit is still shown
    assert "free" not in states
    assert f"provider={okafor.pk}" not in response.content.decode()


def test_the_move_page_offers_no_slot_of_an_inactive_physician(client, world):
    client.force_login(make_user("fd", roles.FRONT_DESK))
    okafor = world["okafor"]
    visit = okafor.appointments.get()
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    adeyemi.sites.set([world["main"]])
    Provider.objects.filter(pk=okafor.pk).update(is_active=False)

    response = client.get(f"/appointments/{visit.pk}/reschedule/")

    suggested = {slot.provider for slot in response.context["suggestions"]}
    assert okafor.pk not in {p.pk for p in suggested}
    assert suggested <= {adeyemi}
