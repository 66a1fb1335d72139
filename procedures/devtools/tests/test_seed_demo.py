"""`manage.py seed_demo`: the demo clinic, created once, refused outside DEBUG."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from patients.models import Patient
from procedures.messaging.models import Reminder
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment, AppointmentEvent

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (User, Patient, Appointment, AppointmentEvent, TestOrder, Reminder)
    }


def test_it_creates_the_demo_clinic_once(settings, capsys):
    settings.DEBUG = True

    call_command("seed_demo", "--password", "demo-password-1")
    first = counts()
    call_command("seed_demo", "--password", "demo-password-1")

    assert counts() == first
    # Eight with visits, and one person registered twice (the merge demo).
    assert first["Patient"] == 10
    assert first["Appointment"] == 8
    # Two of them today (one checked in, one to check in), whatever day it is seeded on.
    from procedures.catalog.clock import clinic_today

    visits = Appointment.objects.order_by("start_at")
    today = [a.status for a in visits if a.start_at.astimezone(a.site_tz).date() == clinic_today()]
    assert today == [Appointment.Status.CHECKED_IN, Appointment.Status.CONFIRMED]
    assert "Demo clinic ready: 0 users, 0 patients, 0 appointments created." in (
        capsys.readouterr().out
    )


def test_it_creates_staff_for_every_role_with_the_given_password(settings):
    settings.DEBUG = True

    call_command("seed_demo", "--password", "demo-password-1")

    for username, group in [
        ("frontdesk", "front_desk"),
        ("nurse", "nurse"),
        ("physician", "physician"),
        ("admin", "clinic_admin"),
    ]:
        user = User.objects.get(username=username)
        assert user.check_password("demo-password-1")
        assert user.groups.filter(name=group).exists()
    assert User.objects.get(username="admin").is_superuser


def test_it_seeds_pending_and_overdue_results_and_future_visits(settings):
    settings.DEBUG = True

    call_command("seed_demo")

    pending = TestOrder.objects.worklist()
    assert pending.exists()
    assert any(order.is_overdue for order in pending)
    assert Appointment.objects.filter(status="scheduled").exists()
    assert User.objects.get(username="nurse").check_password("clinic-demo")


def test_it_refuses_when_debug_is_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="refused when DEBUG is off"):
        call_command("seed_demo")

    assert counts() == dict.fromkeys(counts(), 0)


def test_the_demo_shows_the_clinical_record_and_a_pair_to_merge(settings):
    settings.DEBUG = True

    call_command("seed_demo", "--password", "demo-password-1")

    garcia = Patient.objects.get(family_name="Garcia")
    assert [a.get_substance_display() for a in garcia.allergies.all()] == ["Latex"]
    assert Patient.objects.get(family_name="Okafor").no_known_allergies_at is not None
    assert Patient.objects.get(family_name="Khan").pregnancy == Patient.Pregnancy.ASK
    # The same person twice: found together by a search that ignores accents.
    assert {p.family_name for p in Patient.objects.search("nunez")} == {
        "O'Brien-Núñez",
        "Nunez",
    }


def test_the_demos_visits_carry_what_a_booking_gives_them(settings):
    """Made through the booking's own planning: the room's set-up and recovery around a
    sedated visit, and the front desk's task for Peter Novak (apixaban, booked for
    tomorrow: inside the medicine-stop period). Seeding again adds nothing."""
    from procedures.catalog.choices import SedationLevel
    from procedures.prep.models import FrontDeskTask

    settings.DEBUG = True
    call_command("seed_demo", "--password", "demo-password-1")

    novak = Appointment.objects.get(patient__family_name="Novak")
    assert FrontDeskTask.objects.filter(
        appointment=novak, kind=FrontDeskTask.Kind.SHORT_NOTICE
    ).exists()
    for visit in Appointment.objects.filter(sedation_level__in=SedationLevel.sedated()):
        before, after = visit.procedure_type.buffers(visit.sedation_level)
        assert (visit.buffer_before_minutes, visit.buffer_after_minutes) == (before, after)
        assert visit.blocked_until > visit.end_at
    assert novak.reminders.filter(kind="booking_confirmation", status="sent").exists()

    tasks = FrontDeskTask.objects.count()
    call_command("seed_demo", "--password", "demo-password-1")
    assert FrontDeskTask.objects.count() == tasks
