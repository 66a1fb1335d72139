"""The appointment lifecycle: confirm, check in, start, complete, cancel, no-show and
reschedule; who and when on the timeline; illegal steps refused with a message."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep import rules as prep_rules
from procedures.prep.checklist import START_NOT_READY, checklist_tick
from procedures.prep.models import ClinicalOverride
from procedures.scheduling import lifecycle
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday
DAY = dt.date(2025, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def room():
    return RoomFactory(name="Procedure room 1")


@pytest.fixture
def appointment(lee, room, frontdesk_user):
    return visits.appointment_book(
        patient=PatientFactory(given_name="Maria", family_name="Garcia"),
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        provider=lee,
        room=room,
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


def consent_and_site(appointment, *, physician, nurse) -> None:
    """What no reason overrides: the physician sets the site and side, and the nurse ticks
    consent and the site and side on the day (the clock is on the day)."""
    prep_rules.procedure_site_set(
        appointment_id=appointment.pk, site="posterior_iliac", side="left", by=physician
    )
    for item in ("consent", "site_side"):
        checklist_tick(appointment_id=appointment.pk, item=item, by=nurse)


def start_reason_field(response) -> str:
    """The start form's reason: its label, input and the message under it."""
    page = response.content.decode()
    return page[page.index('for="id_start_reason"') : page.index('start-reason-help" class')]


def refused(service, **kwargs) -> str:
    with pytest.raises(ValidationError) as error:
        service(**kwargs)
    return " ".join(error.value.messages)


def test_it_walks_the_whole_day_and_records_who_and_when(
    appointment, frontdesk_user, nurse_user, physician_user, clock
):
    lifecycle.appointment_confirm(appointment_id=appointment.pk, by=frontdesk_user)
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    consent_and_site(appointment, physician=physician_user, nurse=nurse_user)
    clock.move_to(at(9, 5), tick=False)
    visits.appointment_start(
        appointment_id=appointment.pk, by=nurse_user, reason="Escort waiting in reception"
    )
    clock.move_to(at(9, 50), tick=False)
    visits.appointment_complete(appointment_id=appointment.pk, by=physician_user)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.COMPLETED
    timeline = [
        (e.kind_label, e.from_status, e.to_status, e.by.username, e.at)
        for e in appointment.events.exclude(kind__in=["site_set", "checklist"])
    ]
    assert timeline == [
        ("Booked", "", "scheduled", "fd", NOW),
        ("Confirmed", "scheduled", "confirmed", "fd", NOW),
        ("Checked in", "confirmed", "checked_in", "fd", at(8, 40)),
        # Fasting and the escort were not ticked: the reason is on the timeline.
        ("Started while not ready", "", "", "rn", at(9, 5)),
        ("Procedure started", "checked_in", "in_procedure", "rn", at(9, 5)),
        ("Procedure completed", "in_procedure", "completed", "md", at(9, 50)),
    ]


def test_it_refuses_to_complete_before_the_patient_is_checked_in(appointment, physician_user):
    message = refused(visits.appointment_complete, appointment_id=appointment.pk, by=physician_user)
    assert message == "An appointment that is scheduled cannot be completed."
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED
    assert not appointment.test_orders.exists()


def test_a_checked_in_patient_is_not_completed_without_the_start_and_its_checks(
    appointment, frontdesk_user, nurse_user, client, clock
):
    """Completing straight from checked in skipped the readiness check: only a started
    procedure completes (the start checks consent, the site and side, and the rest)."""
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)

    message = refused(visits.appointment_complete, appointment_id=appointment.pk, by=nurse_user)
    assert message == "An appointment that is checked in cannot be completed."

    client.force_login(nurse_user)
    page = client.get(appointment.get_absolute_url()).content.decode()
    assert "Mark procedure completed" not in page
    assert "Start procedure" in page
    complete = reverse("procedures:procedure_complete", args=[appointment.pk])
    response = client.post(complete, {"no_sample_reason": "abandoned"})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "An appointment that is checked in cannot be completed." in page
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert not appointment.events.filter(kind="completed").exists()


def test_it_checks_in_only_on_the_day(appointment, frontdesk_user):
    message = refused(
        lifecycle.appointment_check_in, appointment_id=appointment.pk, by=frontdesk_user
    )
    assert message == (
        "A patient can only be checked in on the day of the appointment (Monday 10 March 2025)."
    )


def test_it_starts_only_a_checked_in_patient(appointment, nurse_user):
    message = refused(visits.appointment_start, appointment_id=appointment.pk, by=nurse_user)
    assert message == "An appointment that is scheduled cannot be started."


def test_a_no_show_waits_for_the_start_time_then_frees_the_slot(
    appointment, frontdesk_user, clock, lee, room
):
    message = refused(visits.appointment_no_show, appointment_id=appointment.pk, by=frontdesk_user)
    assert message == "A patient can only be marked as a no-show once the start time has passed."

    clock.move_to(at(9, 20), tick=False)
    visits.appointment_no_show(appointment_id=appointment.pk, by=frontdesk_user)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.NO_SHOW
    assert not appointment.reminders.filter(status=Reminder.Status.PENDING).exists()
    assert appointment.events.last().kind_label == "Marked as no-show"


def test_it_cancels_with_a_reason_from_the_list_and_a_note(appointment, frontdesk_user):
    visits.appointment_cancel(
        appointment_id=appointment.pk,
        reason_code=Appointment.CancelReason.PATIENT_UNWELL,
        note="Chest infection",
        by=frontdesk_user,
    )

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.cancel_reason_code == "patient_unwell"
    assert appointment.cancel_reason == "Patient unwell: Chest infection"
    assert appointment.events.last().note == "Patient unwell: Chest infection"
    assert appointment.reminders.filter(kind="cancellation", status="pending").exists()


def test_it_refuses_a_cancel_reason_not_on_the_list(appointment, frontdesk_user):
    with pytest.raises(ValidationError) as error:
        visits.appointment_cancel(
            appointment_id=appointment.pk, reason_code="bored", by=frontdesk_user
        )
    assert error.value.message_dict == {"reason_code": ["Choose a reason from the list."]}
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.SCHEDULED


def test_it_refuses_to_reschedule_a_completed_appointment(appointment, frontdesk_user):
    Appointment.objects.filter(pk=appointment.pk).update(status=Appointment.Status.COMPLETED)
    message = refused(
        visits.appointment_reschedule,
        appointment_id=appointment.pk,
        start_at=at(11),
        by=frontdesk_user,
    )
    assert message == "An appointment that is completed cannot be rescheduled."


# --- Rescheduling ---------------------------------------------------------------------


def test_it_reschedules_the_same_appointment_and_frees_the_old_slot_at_once(
    appointment, frontdesk_user, lee, room
):
    lifecycle.appointment_confirm(appointment_id=appointment.pk, by=frontdesk_user)
    old_reminders = set(appointment.reminders.values_list("pk", flat=True))

    moved = visits.appointment_reschedule(
        appointment_id=appointment.pk, start_at=at(14), by=frontdesk_user
    )

    assert moved.pk == appointment.pk
    moved.refresh_from_db()
    assert (moved.start_at, moved.end_at, moved.version) == (at(14), at(15), 2)
    # The new time is not confirmed yet.
    assert moved.status == Appointment.Status.SCHEDULED
    event = moved.events.last()
    assert event.kind == AppointmentEvent.Kind.RESCHEDULED
    assert event.kind_label == "Rescheduled"
    assert event.note == "From Mon 10 Mar 2025 09:00 with Dr Lee, Procedure room 1"
    assert event.by == frontdesk_user
    # Reminders for the old time will not go out; the new time has its own.
    assert not Reminder.objects.filter(pk__in=old_reminders, status="pending").exists()
    pending = moved.reminders.filter(status="pending")
    assert pending.exists()
    assert set(pending.values_list("appointment_version", flat=True)) == {2}
    # The old slot is free for someone else straight away.
    other = visits.appointment_book(
        patient=PatientFactory(),
        procedure_type=moved.procedure_type,
        provider=lee,
        room=room,
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )
    assert other.start_at == at(9)


def test_a_reschedule_into_a_clash_changes_nothing(appointment, frontdesk_user, lee, room):
    visits.appointment_book(
        patient=PatientFactory(),
        procedure_type=appointment.procedure_type,
        provider=lee,
        room=RoomFactory(),
        start_at=at(14),
        end_at=at(15),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )

    with pytest.raises(ValidationError) as error:
        visits.appointment_reschedule(
            appointment_id=appointment.pk, start_at=at(14, 30), by=frontdesk_user
        )

    assert error.value.message_dict == {
        "provider": ["Dr Lee is booked 14:00-15:00 with another patient."]
    }
    appointment.refresh_from_db()
    assert (appointment.start_at, appointment.version) == (at(9), 1)
    assert not appointment.events.filter(kind="rescheduled").exists()


def test_a_move_to_the_same_time_physician_and_room_is_refused_and_sends_nothing(
    appointment, frontdesk_user, frontdesk_client, lee, room
):
    """It made a new version and emailed the patient "a new time" that was the old one."""
    emails = set(appointment.reminders.values_list("pk", "status"))

    with pytest.raises(ValidationError) as error:
        visits.appointment_reschedule(
            appointment_id=appointment.pk, start_at=appointment.start_at, by=frontdesk_user
        )

    assert error.value.message_dict["start_time"] == [
        "The appointment is already at that time, with that physician and room: choose "
        "another time, physician or room."
    ]
    page = frontdesk_client.post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"date": "2025-03-10", "start_time": "09:00", "provider": lee.pk, "room": room.pk},
    )
    assert "The appointment is already at that time" in page.content.decode()
    appointment.refresh_from_db()
    assert (appointment.start_at, appointment.version) == (at(9), 1)
    assert not appointment.events.filter(kind="rescheduled").exists()
    assert set(appointment.reminders.values_list("pk", "status")) == emails
    # Another room at the same time is a move.
    other = RoomFactory(is_monitored=True)
    moved = visits.appointment_reschedule(
        appointment_id=appointment.pk, start_at=at(9), room=other, by=frontdesk_user
    )
    assert (moved.room, moved.version) == (other, 2)


def test_a_reschedule_to_the_weekend_is_refused_in_words(appointment, frontdesk_user):
    with pytest.raises(ValidationError) as error:
        visits.appointment_reschedule(
            appointment_id=appointment.pk,
            start_at=at(10, day=dt.date(2025, 3, 15)),
            by=frontdesk_user,
        )
    assert error.value.message_dict["provider"] == ["Dr Lee does not work on Saturday."]


# --- Through the pages ---------------------------------------------------------------


def test_the_page_walks_the_lifecycle_and_shows_the_timeline_in_words(
    appointment, frontdesk_client, frontdesk_user, clock
):
    url = f"/appointments/{appointment.pk}/"
    response = frontdesk_client.post(f"{url}confirm/", follow=True)
    assert "Marked as confirmed by the patient." in response.content.decode()

    clock.move_to(at(8, 45), tick=False)
    frontdesk_client.force_login(frontdesk_user)  # a week later: the session timed out
    response = frontdesk_client.post(f"{url}check-in/", follow=True)
    page = response.content.decode()
    assert "Patient checked in." in page
    assert "<strong>Checked in</strong>" in page
    assert "by Fran" in page
    assert "checked_in" not in page.split("Timeline", 1)[1]


def test_the_page_refuses_an_illegal_step_with_a_message(
    appointment, frontdesk_client, frontdesk_user, clock
):
    clock.move_to(at(8, 45), tick=False)
    frontdesk_client.force_login(frontdesk_user)
    frontdesk_client.post(f"/appointments/{appointment.pk}/check-in/")

    response = frontdesk_client.post(f"/appointments/{appointment.pk}/confirm/", follow=True)

    assert "An appointment that is checked in cannot be confirmed." in response.content.decode()


def test_a_step_taken_twice_says_it_was_already_taken(
    appointment, frontdesk_client, frontdesk_user, clock
):
    """QA pass 1, #11: a second check-in said "An appointment that is checked in cannot
    be checked in."."""
    clock.move_to(at(8, 45), tick=False)
    frontdesk_client.force_login(frontdesk_user)
    frontdesk_client.post(f"/appointments/{appointment.pk}/check-in/")

    response = frontdesk_client.post(f"/appointments/{appointment.pk}/check-in/", follow=True)

    page = response.content.decode()
    assert "This appointment is already checked in. Nothing was changed." in page
    assert "cannot be checked in" not in page
    assert appointment.events.filter(kind="checked_in").count() == 1


def test_the_page_cancels_with_a_reason_from_the_list(appointment, frontdesk_client):
    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/cancel/",
        {"reason_code": "no_escort", "note": ""},
        follow=True,
    )

    assert "Appointment cancelled." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.cancel_reason == "No escort to take the patient home"


def test_the_page_asks_what_other_was_before_cancelling(appointment, frontdesk_client):
    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/cancel/",
        {"reason_code": "other", "note": "  "},
        follow=True,
    )

    assert "Say in the note why, when the reason is Other." in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status != Appointment.Status.CANCELLED


def test_the_reschedule_page_offers_slots_and_moves_with_one_click(appointment, frontdesk_client):
    page = frontdesk_client.get(f"/appointments/{appointment.pk}/reschedule/")
    suggestions = page.context["suggestions"]
    assert suggestions, "the next free slots with Dr Lee are offered"
    # The first whose fast has not begun (the others are asked about first, below).
    first = next(s for s in suggestions if s.start_at - dt.timedelta(hours=6) > NOW)
    assert first.provider.display_name == "Dr Lee"

    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/reschedule/", {"slot": first.key}, follow=True
    )

    appointment.refresh_from_db()
    assert appointment.start_at == first.start_at
    assert appointment.version == 2
    assert "The patient will get the new time by email." in response.content.decode()


def test_the_reschedule_page_shows_why_a_time_is_refused(appointment, frontdesk_client, lee, room):
    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/reschedule/",
        {"date": "2025-03-10", "start_time": "17:30", "provider": lee.pk, "room": room.pk},
    )

    errors = response.context["form"].errors
    assert errors["provider"] == [
        "Dr Lee works 08:00-18:00 on Monday; 17:30-18:30 is outside those hours."
    ]
    appointment.refresh_from_db()
    assert appointment.version == 1


def test_it_refuses_to_start_a_patient_who_is_not_ready_without_a_reason(
    appointment, frontdesk_user, nurse_user, physician_user, clock
):
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    consent_and_site(appointment, physician=physician_user, nurse=nurse_user)

    message = refused(visits.appointment_start, appointment_id=appointment.pk, by=nurse_user)
    assert message == (
        "Not ready: Fasting confirmed; Escort present. Give a reason (at least 10 "
        "characters) to start anyway."
    )
    message = refused(
        visits.appointment_start, appointment_id=appointment.pk, by=nurse_user, reason=" x "
    )
    assert "The reason to start anyway must be at least 10 characters" in message

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert not ClinicalOverride.objects.filter(appointment=appointment).exists()
    assert not appointment.events.filter(kind=START_NOT_READY).exists()


@pytest.mark.parametrize("reason", ["", "Consent taken verbally, witnessed by RN"])
def test_no_reason_starts_without_consent_or_the_site_and_side(
    appointment, frontdesk_user, nurse_user, physician_user, clock, reason
):
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)

    message = refused(
        visits.appointment_start, appointment_id=appointment.pk, by=nurse_user, reason=reason
    )
    assert message == (
        "The physician has not set the site and side: the procedure cannot start until they "
        "are set. Consent is not confirmed: the procedure cannot start until it is."
    )
    prep_rules.procedure_site_set(
        appointment_id=appointment.pk, site="posterior_iliac", side="left", by=physician_user
    )
    checklist_tick(appointment_id=appointment.pk, item="site_side", by=nurse_user)
    message = refused(
        visits.appointment_start, appointment_id=appointment.pk, by=nurse_user, reason=reason
    )
    assert message == "Consent is not confirmed: the procedure cannot start until it is."
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert not ClinicalOverride.objects.filter(appointment=appointment).exists()


def test_it_starts_with_a_reason_and_records_who_and_why(
    appointment, frontdesk_user, client, nurse_user, physician_user, clock
):
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    consent_and_site(appointment, physician=physician_user, nurse=nurse_user)
    clock.move_to(at(9, 2), tick=False)
    client.force_login(nurse_user)  # after the clock moved: sessions time out when idle

    response = client.post(
        reverse("procedures:appointment_start", args=[appointment.pk]), {"reason": "x"}
    )
    # Said next to the reason field, with what was typed (QA pass 1, #11).
    assert response.status_code == 200
    assert response.context["start_form"].errors["reason"] == [
        "Not ready: Fasting confirmed; Escort present. The reason to start anyway must be "
        "at least 10 characters: say what was checked instead, and by whom."
    ]
    field = start_reason_field(response)
    assert 'value="x"' in field and "is-invalid" in field
    assert "must be at least 10 characters" in field
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN

    response = client.post(
        reverse("procedures:appointment_start", args=[appointment.pk]),
        {"reason": "Labs phoned through by the lab"},
    )

    assert response.status_code == 302
    assert response["Location"] == appointment.get_absolute_url()
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.IN_PROCEDURE
    [override] = ClinicalOverride.objects.filter(appointment=appointment, rule=START_NOT_READY)
    assert override.by == nurse_user
    assert override.reason == "Labs phoned through by the lab"
    assert override.missing == "Fasting confirmed; Escort present"
    assert override.at == at(9, 2)
    # On the visit's timeline, in words: who, why and what was missing.
    page = client.get(appointment.get_absolute_url()).content.decode()
    timeline = page.split("Timeline", 1)[1]
    assert (
        "<strong>Started while not ready</strong> · by Nia · Reason: Labs phoned through by "
        "the lab. Missing: Fasting confirmed; Escort present." in timeline
    )
    # On the prep page, labelled in plain words (not the code).
    prep = client.get(reverse("procedures:prep_detail", args=[appointment.pk])).content.decode()
    assert "<strong>Started while not ready</strong>" in prep
    assert "start_not_ready" not in prep


def test_a_long_reason_is_kept_whole_with_everything_that_was_missing(
    appointment, frontdesk_user, client, nurse_user, physician_user, clock
):
    """QA pass 1, #5: a 300-character reason once cut the list of what was missing off
    the record. The limit is said, a longer reason refused next to the field (never
    cut), and one within it is kept whole beside the whole list."""
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    consent_and_site(appointment, physician=physician_user, nurse=nurse_user)
    clock.move_to(at(9, 2), tick=False)
    client.force_login(nurse_user)
    url = reverse("procedures:appointment_start", args=[appointment.pk])
    page = client.get(appointment.get_absolute_url())
    assert 'maxlength="200"' in start_reason_field(page)
    assert "Otherwise 10 to 200 characters" in page.content.decode()

    too_long = "Fasting and escort checked by phone with the patients daughter. " * 5
    response = client.post(url, {"reason": too_long})

    assert response.status_code == 200
    field = start_reason_field(response)
    assert (
        "The reason may be at most 200 characters (this one has 319): say briefly what "
        "was checked instead. Nothing was changed." in field
    )
    assert too_long.strip()[:60] in field  # what was typed stays
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert not ClinicalOverride.objects.filter(appointment=appointment).exists()
    assert not appointment.events.filter(kind=START_NOT_READY).exists()

    reason = ("Fasting and escort checked by phone with the daughter; " * 4)[:200]
    response = client.post(url, {"reason": reason})

    assert response.status_code == 302
    [override] = ClinicalOverride.objects.filter(appointment=appointment, rule=START_NOT_READY)
    assert (override.reason, override.missing) == (
        reason.strip(),
        "Fasting confirmed; Escort present",
    )
    [event] = appointment.events.filter(kind=START_NOT_READY)
    assert event.note == f"Reason: {reason.strip()}. Missing: Fasting confirmed; Escort present."
    timeline = client.get(appointment.get_absolute_url()).content.decode()
    assert "Missing: Fasting confirmed; Escort present." in timeline
    prep = client.get(reverse("procedures:prep_detail", args=[appointment.pk])).content.decode()
    assert "(missing: Fasting confirmed; Escort present)" in prep


def test_the_service_refuses_a_reason_too_long_rather_than_cutting_it(
    appointment, frontdesk_user, nurse_user, physician_user, clock
):
    clock.move_to(at(8, 40), tick=False)
    lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
    consent_and_site(appointment, physician=physician_user, nurse=nurse_user)

    message = refused(
        visits.appointment_start, appointment_id=appointment.pk, by=nurse_user, reason="y" * 201
    )

    assert message.startswith("The reason may be at most 200 characters (this one has 201)")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
