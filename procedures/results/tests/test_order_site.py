"""An order carries its visit's room's site (docs/invariants.md, 18): set when it is
placed or replaced, moved with a room the admin moves to another site, filled by the
migration for orders placed before, and what the site's worklist narrows by."""

import datetime as dt

import pytest
from django.db import connection
from django.db.models import F

from clinic import roles
from conftest import make_user
from procedures import models
from procedures.catalog.clock import clinic_datetime
from procedures.results import orders as svc
from procedures.results.models import TestOrder
from procedures.tests import factories
from procedures.tests.migrations import latest, migrate
from procedures.workflows.results import order_replace
from procedures.workflows.visits import appointment_complete

Appointment = models.Appointment

NOW = clinic_datetime(dt.date(2025, 4, 10), dt.time(11, 0))
TODAY = NOW.date()

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def clinic_admin_client(client):
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


@pytest.fixture
def north(db):
    return factories.SiteFactory(code="north", name="Northgate")


def visit_at(site, **extra):
    start = clinic_datetime(TODAY, dt.time(9, 0))
    return factories.AppointmentFactory(
        room=factories.RoomFactory(site=site),
        procedure_type=factories.ProcedureTypeFactory(
            default_tests=[factories.TestTypeFactory(), factories.TestTypeFactory()]
        ),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        **extra,
    )


def test_it_places_a_visits_orders_at_its_rooms_site(north):
    visit = visit_at(north, status=Appointment.Status.IN_PROCEDURE)

    appointment_complete(appointment_id=visit.pk, by=None)

    assert [o.site for o in visit.test_orders.all()] == [north, north]


def test_a_replacement_order_stays_at_the_visits_site(north):
    order = factories.TestOrderFactory(appointment=visit_at(north, status="completed"))

    replacement = order_replace(order_id=order.pk, reason="clotted", recollect=True, by=None)

    assert replacement.site == north


def test_a_room_the_admin_moves_to_another_site_takes_its_visits_orders(clinic_admin_client, north):
    main = factories.RoomFactory().site
    visit = visit_at(main, status=Appointment.Status.COMPLETED)
    orders = [factories.TestOrderFactory(appointment=visit) for _ in range(2)]
    elsewhere = factories.TestOrderFactory()  # another room's order stays where it is
    room = visit.room
    form = {"name": room.name, "site": str(north.pk), "is_monitored": "on", "is_active": "on"}
    for prefix in ("working_hours", "unavailabilities"):
        form |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }

    response = clinic_admin_client.post(f"/admin/procedures/room/{room.pk}/change/", form)

    assert response.status_code == 302
    assert {TestOrder.objects.get(pk=o.pk).site for o in orders} == {north}
    assert TestOrder.objects.get(pk=elsewhere.pk).site == main


def test_a_visit_with_orders_cannot_be_moved_to_another_room(north):
    """A visit's room changes only by rescheduling, which a completed visit (the only
    kind with orders) refuses: its orders' site cannot fall out of step that way."""
    visit = visit_at(north, status=Appointment.Status.COMPLETED)
    factories.TestOrderFactory(appointment=visit)

    assert not visit.can_reschedule
    assert not Appointment(status=Appointment.Status.IN_PROCEDURE).can_reschedule
    assert not Appointment(status=Appointment.Status.CHECKED_IN).can_reschedule


def test_orders_follow_rooms_moves_only_the_orders_out_of_step(north):
    visit = visit_at(north, status=Appointment.Status.COMPLETED)
    order = factories.TestOrderFactory(appointment=visit)
    other = factories.TestOrderFactory()
    models.Room.objects.filter(pk=visit.room_id).update(site=other.site)

    moved = svc.orders_follow_rooms(room_ids=[visit.room_id, other.appointment.room_id])

    assert moved == 1
    order.refresh_from_db()
    assert order.site == other.site


# --- The migration ---------------------------------------------------------------------

BEFORE = [("procedures", "0017_slot_finder_and_worklist_indexes")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_order_its_visits_room_site(postgres):
    north = factories.SiteFactory(code="north")
    here = factories.TestOrderFactory(appointment=visit_at(north, status="completed"))
    there = factories.TestOrderFactory()
    leaf = latest()
    try:
        migrate(BEFORE)  # the column goes; the orders stay
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procedures_testorder")
            assert cursor.fetchone() == (2,)

        migrate(leaf)

        assert TestOrder.objects.get(pk=here.pk).site_id == north.pk
        assert TestOrder.objects.get(pk=there.pk).site_id == there.appointment.room.site_id
        assert not TestOrder.objects.exclude(site=F("appointment__room__site")).exists()
    finally:
        migrate(leaf)
