"""`clinic.loaded.LoadedValues`: what a row held when read, for a save to compare."""

import pytest

from procedures.catalog.resources import Room
from procedures.tests import factories

pytestmark = pytest.mark.django_db


def test_a_row_remembers_its_tracked_fields_as_read():
    north = factories.SiteFactory(code="north")
    room = Room.objects.get(pk=factories.RoomFactory().pk)
    home = room.site_id
    assert room.loaded_values() == {"site_id": home}
    room.site = north
    assert room.current_values() == {"site_id": north.pk}
    assert room.loaded_values() == {"site_id": home}  # until saved (the receiver)
    room.save()
    assert room.loaded_values() == {"site_id": north.pk}


def test_a_new_row_remembers_nothing_and_a_deferred_field_is_not_read(
    django_assert_num_queries,
):
    assert Room(name="New").loaded_values() == {}
    room = Room.objects.only("name").get(pk=factories.RoomFactory().pk)
    with django_assert_num_queries(0):
        assert room.loaded_values() == {} and room.current_values() == {}


def test_reading_again_remembers_what_was_read():
    north = factories.SiteFactory(code="north")
    room = Room.objects.get(pk=factories.RoomFactory().pk)
    Room.objects.filter(pk=room.pk).update(site=north)  # someone else's change
    room.name = "Renamed here"
    room.refresh_from_db(fields=["name"])
    assert room.loaded_values()["site_id"] != north.pk  # the site was not read again
    room.refresh_from_db()
    assert room.loaded_values() == {"site_id": north.pk}
