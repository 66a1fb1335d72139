"""seed_scale: proportional data, re-runnable, and it leaves everyone else's rows alone."""

from datetime import UTC, datetime
from itertools import pairwise

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import F, Q

from patients.models import Patient
from patients.tests.factories import PatientFactory
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import StaffProfile, default_site
from procedures.devtools import scale
from procedures.devtools.scale_sites import (
    SITE_CODE_PREFIX,
    scale_sites,
    scale_sites_queryset,
    site_name,
)
from procedures.messaging.models import Reminder
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db

WEDNESDAY = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)


def seed(patients: int) -> None:
    call_command(
        "seed_scale",
        patients=patients,
        providers=6,
        rooms=4,
        no_progress=True,
        verbosity=0,
    )


def scale_counts() -> dict[str, int]:
    mine = Q(appointment__patient__mrn__startswith=scale.MRN_PREFIX)
    return {
        "patients": Patient.objects.filter(mrn__startswith=scale.MRN_PREFIX).count(),
        "appointments": Appointment.objects.filter(
            patient__mrn__startswith=scale.MRN_PREFIX
        ).count(),
        "orders": TestOrder.objects.filter(mine).count(),
        "pending orders": TestOrder.objects.filter(mine).pending().count(),
        "reminders": Reminder.objects.filter(mine).count(),
        "providers": Provider.objects.filter(
            display_name__startswith=scale.PROVIDER_PREFIX
        ).count(),
        "rooms": Room.objects.filter(name__startswith=scale.ROOM_PREFIX).count(),
    }


def overlaps(field: str, start: str, end: str) -> int:
    """Pairs of active appointments of one provider/room/patient whose ranges meet."""
    active = Appointment.objects.active()
    count = 0
    rows = sorted(active.values_list(field, start, end))
    for (key_a, _s_a, end_a), (key_b, start_b, _e_b) in pairwise(rows):
        count += key_a == key_b and start_b < end_a
    return count


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_data_is_proportional_to_the_patients_and_never_double_booked():
    seed(200)
    counts = scale_counts()
    assert counts["patients"] == 200
    assert counts["appointments"] == 200 * scale.APPOINTMENTS_PER_PATIENT
    # Two orders per completed visit (none yet for visits to come); three reminders each.
    assert 0 < counts["orders"] < 2000
    assert counts["reminders"] == 3000
    assert 0 < counts["pending orders"] <= counts["orders"]
    assert not TestOrder.objects.exclude(appointment__status=Appointment.Status.COMPLETED).exists()
    assert (counts["providers"], counts["rooms"]) == (6, 4)
    # Today has the clinic's day: some appointments, all still to happen or under way.
    today = Appointment.objects.filter(start_at__date="2026-03-11")
    assert today.exists()
    assert not today.filter(status=Appointment.Status.COMPLETED).exists()
    for args in (
        ("provider_id", "start_at", "end_at"),
        ("room_id", "blocked_from", "blocked_until"),
        ("patient_id", "blocked_from", "blocked_until"),
    ):
        assert overlaps(*args) == 0, args


@time_machine.travel(WEDNESDAY, tick=False)
def test_a_second_run_replaces_its_own_rows_and_leaves_the_rest_alone():
    theirs = AppointmentFactory(patient=PatientFactory(family_name="Untouched"))
    seed(40)
    first = scale_counts()
    seed(40)
    assert scale_counts() == first
    theirs.refresh_from_db()
    assert Patient.objects.filter(family_name="Untouched").count() == 1
    assert Provider.objects.filter(pk=theirs.provider_id).exists()
    assert Room.objects.filter(pk=theirs.room_id).exists()

    call_command("seed_scale", patients=1, clear=True, verbosity=0)
    assert set(scale_counts().values()) == {0}
    assert Appointment.objects.filter(pk=theirs.pk).exists()


@time_machine.travel(WEDNESDAY, tick=False)
def test_on_postgresql_the_rows_go_in_by_copy_under_the_exclusion_constraints(postgres):
    # COPY would fail on any overlap: the constraints (PostgreSQL only) are the proof.
    seed(100)
    assert scale_counts()["appointments"] == 500
    # The id sequences were moved past the copied rows: a normal insert still works.
    AppointmentFactory()


@time_machine.travel(WEDNESDAY, tick=False)
def test_the_network_has_ten_sites_and_every_visit_is_at_one_site():
    call_command("seed_scale", patients=300, providers=20, rooms=10, no_progress=True, verbosity=0)
    sites = scale_sites_queryset()
    assert sites.count() == scale.GROUPS == 10
    rooms = Room.objects.filter(name__startswith=scale.ROOM_PREFIX)
    providers = Provider.objects.filter(display_name__startswith=scale.PROVIDER_PREFIX)
    # Each room at its group's site; each physician working at their group's site only.
    for room in rooms.select_related("site"):
        assert room.site.name == site_name(scale.group_of(room.name))
    for provider in providers.prefetch_related("sites"):
        assert [s.name for s in provider.sites.all()] == [
            site_name(scale.group_of(provider.display_name))
        ]
    # Invariant 17: a visit's room is at a site its physician works at.
    visits = Appointment.objects.filter(patient__mrn__startswith=scale.MRN_PREFIX)
    assert visits.count() == 300 * scale.APPOINTMENTS_PER_PATIENT
    assert not visits.exclude(provider__sites=F("room__site")).exists()
    # Every site has its own day; the benchmark's logins are at home at the first.
    assert visits.values("room__site").distinct().count() == 10
    # Invariant 18: each order carries its visit's room's site.
    orders = TestOrder.objects.filter(appointment__in=visits)
    assert orders.exists()
    assert not orders.exclude(site=F("appointment__room__site")).exists()
    # Invariant 20: each visit carries its room's site.
    assert not visits.exclude(site=F("room__site")).exists()
    # Data seeded before sites (every room, visit and order at one site) gets them.
    Room.objects.filter(pk__in=rooms).update(site=default_site())
    visits.update(site=default_site())
    orders.update(site=default_site())
    scale_sites(
        groups=scale.GROUPS,
        room_prefix=scale.ROOM_PREFIX,
        provider_prefix=scale.PROVIDER_PREFIX,
        users=[],
    )
    assert visits.values("site").distinct().count() == 10
    assert not visits.exclude(site=F("room__site")).exists()
    assert orders.values("site").distinct().count() == 10
    assert not orders.exclude(site=F("appointment__room__site")).exists()
    # Run again (each benchmark run does): the physicians' sites are already right, so
    # their rows are kept, not deleted and written anew (dead rows without autovacuum).
    through = Provider.sites.through
    kept = sorted(through.objects.filter(provider__in=providers).values_list("pk", flat=True))
    scale_sites(
        groups=scale.GROUPS,
        room_prefix=scale.ROOM_PREFIX,
        provider_prefix=scale.PROVIDER_PREFIX,
        users=[],
    )
    assert (
        sorted(through.objects.filter(provider__in=providers).values_list("pk", flat=True)) == kept
    )
    home = StaffProfile.objects.filter(user__username__startswith=scale.USER_PREFIX)
    assert set(home.values_list("home_site__code", flat=True)) == {f"{SITE_CODE_PREFIX}00"}
    # A re-run makes the same ten sites, not ten more; clearing takes them away.
    call_command("seed_scale", patients=30, providers=20, rooms=10, no_progress=True, verbosity=0)
    assert sites.count() == 10
    call_command("seed_scale", patients=1, clear=True, verbosity=0)
    assert not sites.exists()
    assert not home.exists()
