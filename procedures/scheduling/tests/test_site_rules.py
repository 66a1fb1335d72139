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
