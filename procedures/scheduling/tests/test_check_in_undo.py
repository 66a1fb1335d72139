"""A check-in made by mistake is taken back before the procedure starts: the visit
returns to the status it had (scheduled or confirmed), back on the day's arrivals, and
the timeline keeps both lines (invariant 33)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.prep.checklist import checklist_tick
from procedures.scheduling import lifecycle
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

DAY = dt.date(2025, 3, 10)  # Monday
pytestmark = [pytest.mark.django_db, pytest.mark.clock(clinic_datetime(DAY, dt.time(8, 0)))]
S = Appointment.Status


@pytest.fixture
def visit(frontdesk_user):
    start = clinic_datetime(DAY, dt.time(9, 0))
    return visits.appointment_book(
        patient=PatientFactory(given_name="Maria", family_name="Garcia"),
        procedure_type=ProcedureTypeFactory(),
        provider=ProviderFactory(),
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )


def events(visit):
    """The status changes on the visit's timeline (a checklist tick is a line too)."""
    return list(visit.events.exclude(to_status="").values_list("kind", "from_status", "to_status"))


def test_it_returns_a_confirmed_visit_to_confirmed_and_keeps_both_lines(
    visit, frontdesk_user, nurse_user
):
    lifecycle.appointment_confirm(appointment_id=visit.pk, by=frontdesk_user)
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    checklist_tick(appointment_id=visit.pk, item="consent", by=nurse_user)

    undone = lifecycle.appointment_check_in_undo(appointment_id=visit.pk, by=frontdesk_user)

    assert undone.status == S.CONFIRMED
    assert events(visit)[-2:] == [
        ("checked_in", "confirmed", "checked_in"),
        ("check_in_undone", "checked_in", "confirmed"),
    ]
    assert visit.checklist_ticks.filter(item="consent").exists()  # the tick stays
    # Checked in again later, for real.
    again = lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    assert again.status == S.CHECKED_IN


def test_it_returns_a_scheduled_visit_to_scheduled(visit, nurse_user):
    lifecycle.appointment_check_in(appointment_id=visit.pk, by=nurse_user)

    assert lifecycle.appointment_check_in_undo(appointment_id=visit.pk, by=nurse_user).status == (
        S.SCHEDULED
    )


def test_it_is_refused_once_the_procedure_has_started_or_before_any_check_in(
    visit, frontdesk_user, nurse_user
):
    with pytest.raises(ValidationError) as error:
        lifecycle.appointment_check_in_undo(appointment_id=visit.pk, by=frontdesk_user)
    assert "scheduled cannot be taken back to before its check-in" in error.value.messages[0]

    lifecycle.appointment_check_in(appointment_id=visit.pk, by=frontdesk_user)
    Appointment.objects.filter(pk=visit.pk).update(status=S.IN_PROCEDURE)
    with pytest.raises(ValidationError) as error:
        lifecycle.appointment_check_in_undo(appointment_id=visit.pk, by=frontdesk_user)
    assert "in procedure cannot be taken back" in error.value.messages[0]
    assert Appointment.objects.get(pk=visit.pk).status == S.IN_PROCEDURE


def test_the_front_desk_undoes_it_from_the_appointment_page(visit, frontdesk_client):
    page = frontdesk_client.get(visit.get_absolute_url()).content.decode()
    assert "Undo the check-in" not in page  # not checked in: nothing to undo

    frontdesk_client.post(f"/appointments/{visit.pk}/check-in/")
    page = frontdesk_client.get(visit.get_absolute_url()).content.decode()
    assert "Undo the check-in…" in page

    response = frontdesk_client.post(f"/appointments/{visit.pk}/check-in/undo/", follow=True)

    page = response.content.decode()
    assert "Check-in undone: the patient is back on the day&#x27;s arrivals." in page
    assert "Check-in undone" in page.split("Timeline")[-1]
    assert Appointment.objects.get(pk=visit.pk).status == S.SCHEDULED
    assert ">Check in</button>" in page  # offered again

    # A second post (Back, then the button again) changes nothing and says why.
    response = frontdesk_client.post(f"/appointments/{visit.pk}/check-in/undo/", follow=True)
    assert "cannot be taken back to before its check-in" in response.content.decode()
    assert [e[0] for e in events(visit)].count("check_in_undone") == 1
