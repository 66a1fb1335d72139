"""A visit carries its room's site (docs/invariants.md, 20): copied when it is booked,
moved with the visit to a room at another site, moved with a room the admin moves, and
filled by the migration for visits booked before. A site's pages narrow by it."""

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from clinic import roles
from conftest import make_user
from procedures.scheduling.models import Appointment
from procedures.scheduling.site_rules import visits_follow_rooms
from procedures.tests.factories import (
    AppointmentFactory,
    RoomFactory,
    SiteFactory,
)
from procedures.tests.migrations import latest, migrate
from procedures.tests.sites import NOW, at, book_visit
from procedures.workflows import visits

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def north():
    return SiteFactory(code="north", name="Northgate")


@pytest.fixture
def visit(frontdesk_user):
    return book_visit(frontdesk_user)


def test_a_booked_visit_is_at_its_rooms_site(visit):
    assert visit.site_id == visit.room.site_id
    assert Appointment.objects.get(pk=visit.pk).site_id == visit.room.site_id


def test_a_visit_moved_to_a_room_at_another_site_moves_there(visit, north, frontdesk_user):
    there = RoomFactory(name="North room 1", site=north)

    visits.appointment_reschedule(
        appointment_id=visit.pk, start_at=at(14), room=there, by=frontdesk_user
    )

    moved = Appointment.objects.get(pk=visit.pk)
    assert (moved.room, moved.site) == (there, north)


def test_saving_a_visit_reads_its_rooms_site_only_when_the_room_changed(visit, north):
    loaded = Appointment.objects.get(pk=visit.pk)
    with CaptureQueriesContext(connection) as queries:
        loaded.notes = "Bring the consent form"
        loaded.save()
    # The audit's read of the row before, its entry, the UPDATE: the room is the same,
    # so neither it nor its site is read.
    tables = [q["sql"].split('"')[1] for q in queries]
    assert tables == ["procedures_appointment", "auditlog_logentry", "procedures_appointment"]

    loaded.room_id = RoomFactory(site=north).pk  # by id: the room is read for its site
    loaded.save(update_fields=["room"])
    assert Appointment.objects.get(pk=visit.pk).site == north


def test_a_room_moved_in_the_admin_takes_its_visits_with_it(client, visit, north):
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    room = visit.room
    form = {"name": room.name, "site": str(north.pk), "is_monitored": "on", "is_active": "on"}
    for prefix in ("working_hours", "unavailabilities"):
        form |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}

    response = client.post(f"/admin/procedures/room/{room.pk}/change/", form)

    assert response.status_code == 302
    assert Appointment.objects.get(pk=visit.pk).site == north


def test_visits_follow_rooms_moves_only_the_visits_out_of_step(visit, north):
    other = AppointmentFactory()
    Appointment.objects.filter(pk=visit.pk).update(site=north)  # as if the room had moved

    moved = visits_follow_rooms(room_ids=[visit.room_id, other.room_id])

    assert moved == 1
    assert Appointment.objects.get(pk=visit.pk).site_id == visit.room.site_id


# --- The migration ---------------------------------------------------------------------

BEFORE = [("procedures", "0023_open_loops_indexes")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_visit_its_rooms_site(postgres, north):
    here = AppointmentFactory(room=RoomFactory(site=north))
    there = AppointmentFactory()
    leaf = latest()
    try:
        migrate(BEFORE)  # the column goes; the visits stay
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procedures_appointment")
            assert cursor.fetchone() == (2,)

        migrate(leaf)

        assert Appointment.objects.get(pk=here.pk).site_id == north.pk
        assert Appointment.objects.get(pk=there.pk).site_id == there.room.site_id
        assert not Appointment.objects.exclude(site=F("room__site")).exists()
    finally:
        migrate(leaf)
