"""A patient email carries its visit's site (docs/invariants.md, 21): copied when it is
written (a booking's plan, a resend), moved with the visit to a room at another site,
sent emails included, moved with a room the admin moves, filled by the migration for
older emails, and what a site's outbox narrows by."""

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from clinic import roles
from conftest import make_user
from procedures.catalog.sites import SESSION_KEY, StaffProfile
from procedures.messaging.models import Reminder
from procedures.messaging.outbox import reminder_resend, reminders_follow_visits
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    AppointmentFactory,
    ReminderFactory,
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
    return book_visit(frontdesk_user, email="ada@example.org")


def sites_of(visit) -> set[int]:
    return set(Reminder.objects.filter(appointment=visit).values_list("site_id", flat=True))


def test_the_emails_a_booking_plans_are_at_its_site(visit):
    assert Reminder.objects.filter(appointment=visit).count() >= 3  # confirmation, ...
    assert sites_of(visit) == {visit.room.site_id}


def test_an_email_written_one_by_one_takes_its_visits_site(north):
    visit = AppointmentFactory(room=RoomFactory(site=north))

    reminder = Reminder.objects.create(appointment=visit, kind="day_before", due_at=NOW)
    batch = Reminder.objects.bulk_create([Reminder(appointment=visit, kind="fasting", due_at=NOW)])

    assert Reminder.objects.get(pk=reminder.pk).site == north
    assert Reminder.objects.get(pk=batch[0].pk).site == north


def test_a_resent_email_is_at_its_visits_site(north):
    original = ReminderFactory(
        appointment=AppointmentFactory(room=RoomFactory(site=north)), status="failed"
    )

    copy = reminder_resend(reminder_id=original.pk, by=None)

    assert Reminder.objects.get(pk=copy.pk).site == north


def test_a_visit_moved_to_another_site_takes_all_its_emails_there(visit, north, frontdesk_user):
    sent = Reminder.objects.filter(appointment=visit).first()
    Reminder.objects.filter(pk=sent.pk).update(status="sent", sent_at=NOW)
    elsewhere = ReminderFactory()  # another visit's email stays where it is

    visits.appointment_reschedule(
        appointment_id=visit.pk,
        start_at=at(14),
        room=RoomFactory(name="North room 1", site=north),
        by=frontdesk_user,
    )

    # The new time's emails, the cancelled old ones and the one already sent.
    assert Reminder.objects.filter(appointment=visit).count() > 3
    assert sites_of(visit) == {north.pk}
    assert Reminder.objects.get(pk=elsewhere.pk).site_id == elsewhere.appointment.site_id


def test_a_move_within_the_site_writes_no_site(visit, frontdesk_user):
    with CaptureQueriesContext(connection) as queries:
        visits.appointment_reschedule(
            appointment_id=visit.pk, start_at=at(14), room=RoomFactory(), by=frontdesk_user
        )

    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "procedures_reminder"')]
    assert not [sql for sql in updates if '"site_id"' in sql.split("WHERE")[0]]
    assert sites_of(visit) == {visit.room.site_id}


def test_a_room_moved_in_the_admin_takes_its_visits_emails(client, visit, north):
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    room = visit.room
    form = {"name": room.name, "site": str(north.pk), "is_monitored": "on", "is_active": "on"}
    for prefix in ("working_hours", "unavailabilities"):
        form |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}

    response = client.post(f"/admin/procedures/room/{room.pk}/change/", form)

    assert response.status_code == 302
    assert sites_of(visit) == {north.pk}


def test_reminders_follow_visits_moves_only_the_emails_out_of_step(visit, north):
    other = ReminderFactory()
    Appointment.objects.filter(pk=visit.pk).update(site=north)  # as if the room had moved

    moved = reminders_follow_visits(Appointment.objects.all())

    assert moved == Reminder.objects.filter(appointment=visit).count()
    assert sites_of(visit) == {north.pk}
    assert Reminder.objects.get(pk=other.pk).site_id == other.appointment.site_id


def test_a_sites_outbox_lists_its_emails_by_the_site_they_carry(client, north):
    main_visit = AppointmentFactory()
    ours = ReminderFactory(appointment=AppointmentFactory(room=RoomFactory(site=north)))
    theirs = ReminderFactory(appointment=main_visit, status="failed")
    user = make_user("fd", roles.FRONT_DESK)
    StaffProfile.objects.create(user=user, home_site=north)
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = north.pk
    session.save()

    with CaptureQueriesContext(connection) as queries:
        page = client.get("/reminders/")

    listed = page.context["page"].object_list
    assert [r.pk for r in listed] == [ours.pk]
    assert page.context["flagged"] == 0  # the other site's failed email is not ours
    assert theirs.pk not in [r.pk for r in listed]
    # The list and the flag count narrow by the email's own site: no visit joined to
    # filter (the visit is joined for the patient's name only).
    reads = [q["sql"] for q in queries if 'FROM "procedures_reminder"' in q["sql"]]
    assert len(reads) == 3  # how many (capped), the page, the flagged count
    for sql in reads:
        where = sql.split(" WHERE ", 1)[1]
        assert '"procedures_reminder"."site_id" = ' in where
        assert '"procedures_appointment"."site_id"' not in where


# --- The migration ---------------------------------------------------------------------

BEFORE = [("procedures", "0027_appointment_day_indexes")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_email_its_visits_site(postgres, north):
    here = ReminderFactory(appointment=AppointmentFactory(room=RoomFactory(site=north)))
    there = ReminderFactory()
    leaf = latest()
    try:
        migrate(BEFORE)  # the column goes; the emails stay
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procedures_reminder")
            assert cursor.fetchone() == (2,)

        migrate(leaf)

        assert Reminder.objects.get(pk=here.pk).site_id == north.pk
        assert Reminder.objects.get(pk=there.pk).site_id == there.appointment.site_id
        assert not Reminder.objects.exclude(site=F("appointment__site")).exists()
    finally:
        migrate(leaf)
