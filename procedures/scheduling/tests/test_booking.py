"""Booking: services/booking.py through the front desk's form at /appointments/book/."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from clinic import roles
from conftest import make_user
from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep.models import FrontDeskTask
from procedures.prep.timeline import prep_timeline
from procedures.scheduling import booking
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
)
from procedures.workflows import visits
from procedures.workflows.visits import appointment_book, appointment_cancel

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # a Monday morning
DAY = dt.date(2025, 3, 10)  # the Monday after
pytestmark = pytest.mark.clock(NOW)


def at(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@pytest.fixture
def patient(db):
    return PatientFactory(given_name="Maria", family_name="Garcia")


@pytest.fixture
def procedure(db):
    return ProcedureTypeFactory(
        default_duration_minutes=60, default_sedation_level=SedationLevel.IV_MODERATE
    )


@pytest.fixture
def provider(db):
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def room(db):
    return RoomFactory(name="Procedure room 1", is_monitored=True)


@pytest.fixture
def plain_room(db):
    return RoomFactory(name="Consulting room 3", is_monitored=False)


def book(*, patient, procedure, provider, room, start_at, end_at=None, by=None, **extra):
    extra.setdefault("sedation_level", SedationLevel.IV_MODERATE)
    return appointment_book(
        patient=patient,
        procedure_type=procedure,
        provider=provider,
        room=room,
        start_at=start_at,
        end_at=end_at or start_at + dt.timedelta(hours=1),
        by=by,
        **extra,
    )


def booking_form(patient, procedure, provider, room, **overrides):
    data = {
        "patient_mrn": patient.mrn,
        "procedure_type": procedure.pk,
        "provider": provider.pk,
        "room": room.pk,
        "date": DAY.isoformat(),
        "start_time": "09:00",
        "end_time": "",
        "sedation_level": "",
        "transport_mode": "escort_driving",
        "escort_name": "Ana Garcia",
        "escort_phone": "07700 900123",
        "notes": "",
    }
    data.update(overrides)
    return data


def nothing_saved():
    return (
        Appointment.objects.count() == 0
        and AppointmentEvent.objects.count() == 0
        and Reminder.objects.count() == 0
    )


# --- The service -------------------------------------------------------------------


def test_it_books_an_appointment_with_its_timeline_and_reminder_plan(
    patient, procedure, provider, room, frontdesk_user
):
    appointment = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(9),
        by=frontdesk_user,
    )

    assert appointment.status == Appointment.Status.SCHEDULED
    assert appointment.version == 1
    event = appointment.events.get()
    assert (event.kind, event.to_status, event.by) == ("booked", "scheduled", frontdesk_user)
    planned = {r.kind: r for r in appointment.reminders.all()}
    assert {"booking_confirmation", "escort_request", "day_before"} <= set(planned)
    assert planned["booking_confirmation"].due_at == NOW
    # Two and one clinic days ahead, at 10:00 clinic time.
    assert planned["escort_request"].due_at == at(10, day=dt.date(2025, 3, 8))
    assert planned["day_before"].due_at == at(10, day=dt.date(2025, 3, 9))
    assert all(r.status == "pending" and r.appointment_version == 1 for r in planned.values())


# Reads the physician's sites (issue 18: the room must be at one of them), the slot's
# hours, absences and holidays, the room's procedures, the clashes
# (after an advisory lock on PostgreSQL), then writes the appointment, its audit entry
# and event, and reads the prep templates, the
# medicines, the class rules (only for a patient who takes some), the reminder
# policies and the opt-out before one INSERT of the reminders; a savepoint around it
# all in a test. SQLite has no advisory lock.
# The slot's own write runs in a savepoint inside the visit's transaction (the
# workflow plans prep and emails around it): SAVEPOINT and RELEASE are two of these.
# +1 the room's site: the booking rules are on its clock (invariant 19).
# +1 the prep templates again, for when the fast begins (a fast already begun is asked
# about first: prep/fasting.py).
BOOKING_QUERIES = {"postgresql": 21, "sqlite": 20}


@pytest.mark.parametrize("medicines", [0, 3])
def test_it_books_in_a_fixed_number_of_queries(
    patient, procedure, provider, room, frontdesk_user, django_assert_num_queries, medicines
):
    for name, med_class in [
        ("Aspirin", Medication.Class.ASPIRIN),
        ("Ibuprofen", Medication.Class.NSAID),
        ("Fish oil", Medication.Class.SUPPLEMENT),
    ][:medicines]:
        medication_add(patient=patient, name=name, med_class=med_class)
    expected = BOOKING_QUERIES[connection.vendor] + (1 if medicines else 0)
    ContentType.objects.get_for_model(Appointment)  # auditlog's, cached once per process

    with django_assert_num_queries(expected):
        appointment = book(
            patient=patient,
            procedure=procedure,
            provider=provider,
            room=room,
            start_at=at(9),
            by=frontdesk_user,
        )

    assert sorted(appointment.reminders.values_list("kind", "step_kind")) == [
        ("aftercare", ""),
        ("booking_confirmation", ""),
        ("day_before", ""),
        ("escort_request", ""),
        ("fasting", "fasting"),
        ("prep_step", "what_to_bring"),
    ]
    assert not FrontDeskTask.objects.filter(appointment=appointment).exists()
    notices = [s for s in prep_timeline(appointment) if s.kind == "notice"]
    assert len(notices) == (1 if medicines else 0)  # "your doctor has not confirmed..."


def test_it_asks_for_no_escort_when_the_patient_is_not_sedated(patient, procedure, provider, room):
    appointment = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(9),
        sedation_level=SedationLevel.LOCAL,
    )

    kinds = set(appointment.reminders.values_list("kind", flat=True))
    assert {"booking_confirmation", "day_before"} <= kinds
    assert "escort_request" not in kinds


def test_it_asks_for_the_escort_at_once_when_booked_at_short_notice(
    patient, procedure, provider, room
):
    tomorrow = dt.date(2025, 3, 4)
    appointment = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(15, day=tomorrow),
    )

    planned = {r.kind: r.due_at for r in appointment.reminders.all()}
    assert planned["escort_request"] == NOW
    assert planned["day_before"] == at(10, day=dt.date(2025, 3, 3))


def test_it_plans_no_day_before_reminder_once_that_moment_has_passed(
    patient, procedure, provider, room, time_machine
):
    time_machine.move_to(at(11, day=dt.date(2025, 3, 9)), tick=False)

    appointment = book(
        patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9)
    )

    assert "day_before" not in set(appointment.reminders.values_list("kind", flat=True))


def test_it_sends_reminders_at_ten_clinic_time_across_a_dst_change(
    patient, procedure, provider, room
):
    # Clocks go forward on Sunday 30 March 2025: 10:00 BST is 09:00 UTC.
    appointment = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(9, day=dt.date(2025, 3, 31)),
    )

    day_before = appointment.reminders.get(kind="day_before").due_at
    assert day_before.astimezone(dt.UTC) == dt.datetime(2025, 3, 30, 9, 0, tzinfo=dt.UTC)
    escort = appointment.reminders.get(kind="escort_request").due_at
    assert escort.astimezone(dt.UTC) == dt.datetime(2025, 3, 29, 10, 0, tzinfo=dt.UTC)


def test_it_writes_the_appointment_and_its_reminders_in_one_transaction(
    patient, procedure, provider, room, monkeypatch
):
    def broken_plan(**kwargs):
        raise RuntimeError("planning failed")

    monkeypatch.setattr(visits, "reminders_plan", broken_plan)

    with pytest.raises(RuntimeError):
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9))

    assert nothing_saved()


def test_it_wakes_the_dispatcher_only_once_the_booking_has_committed(
    patient, procedure, provider, room, django_capture_on_commit_callbacks, monkeypatch
):
    woken = []
    monkeypatch.setattr(
        "procedures.tasks.dispatch_due_reminders.apply_async", lambda **kw: woken.append(kw)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9))
    assert woken == []

    for callback in callbacks:
        callback()
    assert len(woken) == 1


@pytest.mark.parametrize(
    ("start_at", "end_at", "field", "message"),
    [
        (NOW - dt.timedelta(minutes=1), None, "start_time", "must start in the future"),
        (NOW, None, "start_time", "must start in the future"),
        (at(9), at(9), "end_time", "The end time must be after the start time."),
        (at(9), at(8), "end_time", "The end time must be after the start time."),
    ],
    ids=["past", "now", "zero-length", "end-before-start"],
)
def test_it_refuses_impossible_times(
    patient, procedure, provider, room, start_at, end_at, field, message
):
    with pytest.raises(ValidationError) as refused:
        book(
            patient=patient,
            procedure=procedure,
            provider=provider,
            room=room,
            start_at=start_at,
            end_at=end_at,
        )

    assert message in refused.value.message_dict[field][0]
    assert nothing_saved()


@pytest.mark.parametrize("level", [SedationLevel.IV_MODERATE, SedationLevel.GENERAL])
def test_it_refuses_a_room_without_monitoring_for_deep_sedation(
    patient, procedure, provider, plain_room, level
):
    with pytest.raises(ValidationError) as refused:
        book(
            patient=patient,
            procedure=procedure,
            provider=provider,
            room=plain_room,
            start_at=at(9),
            sedation_level=level,
        )

    assert refused.value.message_dict["room"] == [
        "Consulting room 3 has no monitoring, so it cannot host this sedation level."
    ]
    assert nothing_saved()


def test_it_books_an_unmonitored_room_for_local_anaesthetic(
    patient, procedure, provider, plain_room
):
    appointment = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=plain_room,
        start_at=at(9),
        sedation_level=SedationLevel.LOCAL,
    )

    assert appointment.room == plain_room


@pytest.fixture
def existing(db, provider, room):
    """Another patient's appointment with Dr Lee in room 1, 09:00-10:00."""
    return AppointmentFactory(
        patient=PatientFactory(given_name="John", family_name="Okafor"),
        provider=provider,
        room=room,
        start_at=at(9),
        end_at=at(10),
    )


def test_it_refuses_a_provider_who_is_already_booked(patient, procedure, provider, existing):
    with pytest.raises(ValidationError) as refused:
        book(
            patient=patient,
            procedure=procedure,
            provider=provider,
            room=RoomFactory(),
            start_at=at(9, 30),
        )

    message = refused.value.message_dict["provider"][0]
    assert message == "Dr Lee is booked 09:00-10:00 with another patient."
    assert "Okafor" not in message
    assert Appointment.objects.count() == 1


def test_it_refuses_a_room_that_is_in_use(patient, procedure, room, existing):
    with pytest.raises(ValidationError) as refused:
        book(
            patient=patient,
            procedure=procedure,
            provider=ProviderFactory(),
            room=room,
            start_at=at(8, 30),
        )

    assert refused.value.message_dict == {
        "room": ["Procedure room 1 is in use 09:00-10:00 by another appointment."]
    }
    assert Appointment.objects.count() == 1


def test_it_names_every_clash_at_once_the_earliest_of_each(patient, procedure, provider, room):
    # Three other bookings, each holding one of the three; the room twice.
    AppointmentFactory(
        provider=provider, room=RoomFactory(name="Room 2"), start_at=at(9), end_at=at(10)
    )
    AppointmentFactory(room=room, start_at=at(10), end_at=at(11))
    AppointmentFactory(room=room, start_at=at(8), end_at=at(9, 15))
    AppointmentFactory(
        patient=patient,
        provider=ProviderFactory(display_name="Dr Adeyemi"),
        room=RoomFactory(name="Room 3"),
        start_at=at(9, 30),
        end_at=at(10, 30),
    )

    with pytest.raises(ValidationError) as refused:
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9, 0))

    assert refused.value.message_dict == {
        "provider": ["Dr Lee is booked 09:00-10:00 with another patient."],
        "room": ["Procedure room 1 is in use 08:00-09:15 by another appointment."],
        "patient": ["This patient already has an appointment 09:30-10:30 with Dr Adeyemi."],
    }
    assert Appointment.objects.count() == 4


def test_it_refuses_to_book_a_patient_twice_at_the_same_time(patient, procedure, provider, room):
    AppointmentFactory(patient=patient, provider=provider, room=room, start_at=at(9), end_at=at(10))

    with pytest.raises(ValidationError) as refused:
        book(
            patient=patient,
            procedure=procedure,
            provider=ProviderFactory(),
            room=RoomFactory(),
            start_at=at(9, 15),
        )

    assert refused.value.message_dict == {
        "patient": ["This patient already has an appointment 09:00-10:00 with Dr Lee."]
    }


def test_it_names_every_clash_at_once(patient, procedure, provider, room, existing):
    with pytest.raises(ValidationError) as refused:
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9))

    assert set(refused.value.message_dict) == {"provider", "room"}


def test_it_books_back_to_back_appointments(patient, procedure, provider, room, existing):
    before = book(
        patient=patient,
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(8),
        end_at=at(9),
    )
    after = book(
        patient=PatientFactory(),
        procedure=procedure,
        provider=provider,
        room=room,
        start_at=at(10),
        end_at=at(11),
    )

    assert before.end_at == existing.start_at
    assert after.start_at == existing.end_at


def test_it_frees_the_slot_of_a_cancelled_appointment(
    patient, procedure, provider, room, existing, frontdesk_user
):
    appointment_cancel(appointment_id=existing.pk, reason="Patient unwell", by=frontdesk_user)

    appointment = book(
        patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9)
    )

    assert appointment.start_at == existing.start_at


def test_it_frees_the_slot_of_a_no_show(patient, procedure, provider, room, existing):
    existing.status = Appointment.Status.NO_SHOW
    existing.save()

    book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9))

    assert Appointment.objects.active().count() == 1


def test_it_voids_pending_reminders_and_tells_the_patient_on_cancelling(
    patient, procedure, provider, room, frontdesk_user
):
    appointment = book(
        patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9)
    )

    appointment_cancel(appointment_id=appointment.pk, reason="Clinic closed", by=frontdesk_user)

    appointment.refresh_from_db()
    assert appointment.status == "cancelled"
    assert appointment.cancel_reason == "Clinic closed"
    states = dict(appointment.reminders.values_list("kind", "status"))
    assert states.pop("cancellation") == "pending"
    assert {"booking_confirmation", "escort_request", "day_before"} <= set(states)
    assert set(states.values()) == {"cancelled"}
    assert appointment.events.last().note == "Clinic closed"


def test_it_refuses_to_cancel_a_completed_appointment(frontdesk_user):
    appointment = AppointmentFactory(status=Appointment.Status.COMPLETED)

    with pytest.raises(ValidationError, match="completed cannot be cancelled"):
        appointment_cancel(appointment_id=appointment.pk, reason="oops", by=frontdesk_user)


# --- PostgreSQL: the exclusion constraints are the guarantee --------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared", ["provider", "room", "patient"])
def test_it_refuses_an_overlapping_insert_that_bypasses_the_service(postgres, shared):
    first = AppointmentFactory(start_at=at(9), end_at=at(10))
    others = {"provider": ProviderFactory(), "room": RoomFactory(), "patient": PatientFactory()}
    others[shared] = getattr(first, shared)

    with pytest.raises(IntegrityError, match=f"appt_no_overlap_{shared}"), transaction.atomic():
        AppointmentFactory(start_at=at(9, 30), end_at=at(10, 30), **others)

    # Touching ranges do not overlap ([start, end) is half-open), and a cancelled
    # appointment holds no slot.
    AppointmentFactory(start_at=at(10), end_at=at(11), **others)
    first.status = Appointment.Status.CANCELLED
    first.save()
    AppointmentFactory(start_at=at(9), end_at=at(10), **others)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_turns_a_lost_race_into_a_friendly_message(
    postgres, patient, procedure, provider, room, monkeypatch
):
    # Another desk booked Dr Lee after our check ran: let the check miss it once.
    AppointmentFactory(provider=provider, start_at=at(9), end_at=at(10))
    real_check = booking.booking_clashes
    checks = iter([lambda **kwargs: {}])
    monkeypatch.setattr(
        booking, "booking_clashes", lambda **kwargs: next(checks, real_check)(**kwargs)
    )
    monkeypatch.setattr(visits, "wake_dispatcher", lambda: None)

    with pytest.raises(ValidationError) as refused:
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9))

    assert refused.value.message_dict == {
        "provider": ["Dr Lee is booked 09:00-10:00 with another patient."]
    }
    assert Appointment.objects.count() == 1
    assert Reminder.objects.count() == 0
    assert AppointmentEvent.objects.count() == 0


# --- The booking page --------------------------------------------------------------


def test_it_books_from_the_form_with_the_procedures_usual_length_and_sedation(
    frontdesk_client, frontdesk_user, patient, procedure, provider, room
):
    response = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, procedure, provider, room)
    )

    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{appointment.pk}/"
    assert (appointment.start_at, appointment.end_at) == (at(9), at(10))
    assert appointment.sedation_level == SedationLevel.IV_MODERATE
    assert appointment.patient == patient
    assert appointment.created_by == frontdesk_user
    # The escort is not asked for here: the prep plan's "Getting home" is its one place.
    assert (appointment.escort_name, appointment.escort_phone) == ("", "")
    kinds = set(appointment.reminders.values_list("kind", flat=True))
    assert {"booking_confirmation", "escort_request", "day_before"} <= kinds
    page = frontdesk_client.get(response["Location"]).content.decode()
    assert "Appointment booked. The patient will get a confirmation email." in page


def test_it_accepts_the_mrn_in_lower_case_and_with_spaces(
    frontdesk_client, patient, procedure, provider, room
):
    frontdesk_client.post(
        "/appointments/book/",
        booking_form(patient, procedure, provider, room, patient_mrn=f"  {patient.mrn.lower()} "),
    )

    assert Appointment.objects.get().patient == patient


def test_it_prefills_the_mrn_when_booking_from_a_patients_page(frontdesk_client, patient):
    response = frontdesk_client.get(f"/appointments/book/?patient={patient.pk}")

    assert response.context["form"]["patient_mrn"].value() == patient.mrn


def form_errors(response) -> dict:
    assert response.status_code == 200
    assert "The appointment was not booked" in response.content.decode()
    return response.context["form"].errors


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"patient_mrn": "C99999999"},
            "patient_mrn",
            "No patient has the MRN C99999999. Register the patient first.",
        ),
        (
            {"date": "2025-03-03", "start_time": "07:30"},
            "start_time",
            "The appointment must start in the future.",
        ),
        (
            {"start_time": "10:00", "end_time": "09:30"},
            "end_time",
            "The end time must be after the start time.",
        ),
        ({"date": ""}, "date", "This field is required."),
    ],
    ids=["unknown-mrn", "past", "end-before-start", "no-date"],
)
def test_it_refuses_bad_bookings_field_by_field_and_saves_nothing(
    frontdesk_client, patient, procedure, provider, room, overrides, field, message
):
    response = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, procedure, provider, room, **overrides)
    )

    assert form_errors(response)[field] == [message]
    assert nothing_saved()


def test_it_refuses_an_unmonitored_room_for_the_procedures_iv_sedation(
    frontdesk_client, patient, procedure, provider, plain_room
):
    response = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, procedure, provider, plain_room)
    )

    assert form_errors(response)["room"] == [
        "Consulting room 3 has no monitoring, so it cannot host IV moderate sedation."
    ]
    assert nothing_saved()


def test_it_shows_a_clash_in_words_without_naming_the_other_patient(
    frontdesk_client, patient, procedure, provider, existing
):
    response = frontdesk_client.post(
        "/appointments/book/",
        booking_form(patient, procedure, provider, RoomFactory(), start_time="09:30"),
    )

    assert form_errors(response)["provider"] == [
        "Dr Lee is booked 09:00-10:00 with another patient."
    ]
    page = response.content.decode()
    assert "Dr Lee is booked 09:00-10:00 with another patient." in page
    assert "Okafor" not in page
    assert Appointment.objects.count() == 1


def test_it_shows_the_patients_own_clash_against_the_mrn(
    frontdesk_client, patient, procedure, provider, room
):
    AppointmentFactory(patient=patient, provider=provider, start_at=at(9), end_at=at(10))

    response = frontdesk_client.post(
        "/appointments/book/",
        booking_form(patient, procedure, ProviderFactory(), RoomFactory(), start_time="09:30"),
    )

    assert form_errors(response)["patient_mrn"] == [
        "This patient already has an appointment 09:00-10:00 with Dr Lee."
    ]


def test_it_lets_only_scheduling_staff_book(client, patient, procedure, provider, room):
    client.force_login(make_user("admin-only", roles.CLINIC_ADMIN))
    response = client.post("/appointments/book/", booking_form(patient, procedure, provider, room))

    assert response.status_code == 403
    assert nothing_saved()


def test_it_names_only_the_patients_own_visit_when_that_is_the_clash(
    patient, procedure, provider, room
):
    """Same patient, same physician, same room: one message, about their own visit,
    not also "booked ... with another patient"."""
    AppointmentFactory(patient=patient, provider=provider, room=room, start_at=at(9), end_at=at(10))

    with pytest.raises(ValidationError) as refused:
        book(patient=patient, procedure=procedure, provider=provider, room=room, start_at=at(9, 30))

    assert refused.value.message_dict == {
        "patient": ["This patient already has an appointment 09:00-10:00 with Dr Lee."]
    }
