"""The slot finder (services/slots.py) and its page: the next free slots where a
provider works and is free, a capable room is open and free with buffers, and the
patient is free; one click books."""

import datetime as dt

import pytest

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import slots_find
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
)

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday 08:00
MON, TUE = dt.date(2025, 3, 3), dt.date(2025, 3, 4)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, minute: int = 0, day: dt.date = MON) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@pytest.fixture
def procedure():
    return ProcedureTypeFactory(
        default_duration_minutes=60, setup_minutes=15, turnover_minutes=15, recovery_minutes_iv=30
    )


@pytest.fixture
def lee():
    lee = ProviderFactory(display_name="Dr Lee")
    WorkingHours.objects.create(provider=lee, weekday=0, starts=dt.time(9), ends=dt.time(12))
    WorkingHours.objects.create(provider=lee, weekday=1, starts=dt.time(13), ends=dt.time(17))
    return lee


@pytest.fixture
def room():
    return RoomFactory(name="Procedure room 1", is_monitored=True)


def starts(slots) -> list[dt.datetime]:
    return [s.start_at for s in slots]


def test_it_offers_slots_in_the_providers_hours_in_order(procedure, lee, room):
    slots = slots_find(
        procedure_type=procedure, sedation_level=SedationLevel.LOCAL, last_day=TUE, per_day=3
    )

    assert starts(slots) == [
        at(9),
        at(9, 15),
        at(9, 30),
        at(13, day=TUE),
        at(13, 15, day=TUE),
        at(13, 30, day=TUE),
    ]
    assert {(s.provider, s.room) for s in slots} == {(lee, room)}
    assert all(s.end_at - s.start_at == dt.timedelta(hours=1) for s in slots)


def test_it_skips_what_is_booked_including_the_rooms_buffers(procedure, lee, room):
    # Another physician holds the room 09:45-11:45 (10:00-11:00 + 15 + 30 recovery).
    AppointmentFactory(
        room=room,
        start_at=at(10),
        end_at=at(11),
        buffer_before_minutes=15,
        buffer_after_minutes=45,
    )

    slots = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        provider=lee,
        last_day=MON,
        per_day=10,
    )

    # A local-anaesthetic slot holds the room from 15 min before to 15 min after:
    # 09:00 (08:45-10:15) already meets 09:45.
    assert starts(slots) == []
    other_room = RoomFactory(name="Procedure room 2", is_monitored=True)
    slots = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        provider=lee,
        last_day=MON,
        per_day=2,
    )
    assert [(s.start_at, s.room) for s in slots] == [(at(9), other_room), (at(9, 15), other_room)]


def test_it_only_offers_rooms_that_can_host_the_sedation(procedure, lee):
    plain = RoomFactory(name="Room 2", is_monitored=False)

    assert slots_find(procedure_type=procedure, sedation_level=SedationLevel.IV_MODERATE) == []
    assert (
        slots_find(procedure_type=procedure, sedation_level=SedationLevel.LOCAL, limit=1)[0].room
        == plain
    )


def test_it_leaves_out_the_patients_other_appointments(procedure, lee, room):
    patient = PatientFactory()
    AppointmentFactory(patient=patient, start_at=at(9), end_at=at(12))

    slots = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        patient=patient,
        provider=lee,
        last_day=TUE,
        limit=1,
    )

    assert starts(slots) == [at(13, day=TUE)]


def test_it_filters_by_provider_time_of_day_and_dates(procedure, lee, room):
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")  # the clinic's default hours
    wednesday = dt.date(2025, 3, 5)

    afternoon = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        time_of_day="afternoon",
        first_day=wednesday,
        last_day=wednesday,
        limit=1,
    )
    assert [(s.start_at, s.provider) for s in afternoon] == [(at(12, day=wednesday), adeyemi)]

    only_lee = slots_find(
        procedure_type=procedure, sedation_level=SedationLevel.LOCAL, provider=lee, limit=50
    )
    assert {s.provider for s in only_lee} == {lee}
    assert all(s.start_at.astimezone(NOW.tzinfo).weekday() in (0, 1) for s in only_lee)


def test_it_skips_holidays_leave_and_the_past(procedure, lee, room, time_machine):
    time_machine.move_to(at(10, 5), tick=False)
    ClinicHoliday.objects.create(date=TUE, name="Closed")
    Unavailability.objects.create(
        provider=lee,
        starts_at=at(0, day=dt.date(2025, 3, 10)),
        ends_at=at(0, day=dt.date(2025, 3, 12)),
        reason=Unavailability.Reason.LEAVE,
    )

    slots = slots_find(
        procedure_type=procedure, sedation_level=SedationLevel.LOCAL, provider=lee, limit=4
    )

    # Monday from 10:15 (not in the past), no Tuesday 4th (holiday), no 10th/11th (leave).
    assert starts(slots)[:2] == [at(10, 15), at(10, 30)]
    days = {s.start_at.astimezone(NOW.tzinfo).date() for s in slots}
    assert days.isdisjoint({TUE, dt.date(2025, 3, 10), dt.date(2025, 3, 11)})


def test_it_looks_past_fully_booked_weeks_to_the_first_free_morning(procedure, lee, room):
    # Lee works Monday mornings and Tuesday afternoons: booked through all of them for
    # two weeks, but for one cancelled Monday morning.
    patient = PatientFactory()
    for monday in (MON, dt.date(2025, 3, 10)):
        tuesday = monday + dt.timedelta(days=1)
        for start, end in (
            (at(9, day=monday), at(12, day=monday)),
            (at(13, day=tuesday), at(17, day=tuesday)),
        ):
            AppointmentFactory(provider=lee, room=room, start_at=start, end_at=end)
    free_morning = dt.date(2025, 3, 10)
    Appointment.objects.filter(start_at=at(9, day=free_morning)).update(
        status=Appointment.Status.CANCELLED
    )

    slots = slots_find(
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        patient=patient,
        provider=lee,
        limit=2,
    )

    assert starts(slots) == [at(9, day=free_morning), at(9, 15, day=free_morning)]


def test_it_reads_the_bookings_of_the_days_it_needs_in_one_query(
    procedure, lee, room, django_assert_num_queries
):
    # Physicians, rooms, the rooms' procedures, hours, absences, holidays; then the
    # bookings of Monday and Tuesday (two days hold six slots at three a day) at once,
    # and of the Monday after, since Monday is today.
    with django_assert_num_queries(7):
        slots = slots_find(
            procedure_type=procedure, sedation_level=SedationLevel.LOCAL, limit=6, per_day=3
        )
    assert starts(slots) == [
        at(9),
        at(9, 15),
        at(9, 30),
        at(13, day=TUE),
        at(13, 15, day=TUE),
        at(13, 30, day=TUE),
    ]


def test_what_is_left_of_today_is_read_with_a_day_more(
    procedure, lee, room, django_assert_num_queries, time_machine
):
    time_machine.move_to(at(10, 50))  # Monday's last start for an hour is 11:00
    # Monday, Tuesday and the Monday after at once: today's one slot is not three.
    with django_assert_num_queries(7):
        slots = slots_find(
            procedure_type=procedure, sedation_level=SedationLevel.LOCAL, limit=6, per_day=3
        )
    next_monday = MON + dt.timedelta(days=7)
    assert starts(slots) == [
        at(11),
        at(13, day=TUE),
        at(13, 15, day=TUE),
        at(13, 30, day=TUE),
        at(9, day=next_monday),
        at(9, 15, day=next_monday),
    ]


def test_full_days_make_it_read_on(procedure, lee, room, django_assert_num_queries):
    AppointmentFactory(provider=lee, start_at=at(9), end_at=at(12))  # Monday, all of it
    AppointmentFactory(provider=lee, start_at=at(13, day=TUE), end_at=at(17, day=TUE))
    # Monday, Tuesday and the Monday after at once, then the Tuesday after for the
    # three still wanted.
    with django_assert_num_queries(8):
        slots = slots_find(
            procedure_type=procedure, sedation_level=SedationLevel.LOCAL, limit=6, per_day=3
        )
    next_monday, next_tuesday = MON + dt.timedelta(days=7), TUE + dt.timedelta(days=7)
    assert starts(slots) == [
        at(9, day=next_monday),
        at(9, 15, day=next_monday),
        at(9, 30, day=next_monday),
        at(13, day=next_tuesday),
        at(13, 15, day=next_tuesday),
        at(13, 30, day=next_tuesday),
    ]


# --- The page ------------------------------------------------------------------------


def finder_form(patient, procedure, **extra) -> dict:
    data = {
        "patient": patient.pk,
        "procedure_type": procedure.pk,
        "sedation_level": "",
        "provider": "",
        "date_from": "",
        "date_to": "",
        "time_of_day": "any",
        "transport_mode": "",
        "escort_name": "",
        "escort_phone": "",
        "notes": "",
    }
    data.update(extra)
    return data


def test_the_page_finds_slots_and_books_one_with_one_click(
    frontdesk_client, frontdesk_user, procedure, lee, room
):
    patient = PatientFactory(given_name="Maria", family_name="Garcia")
    procedure.default_sedation_level = SedationLevel.LOCAL
    procedure.save()

    page = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, action="find")
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Book 09:00\u201310:00 · Dr Lee · Procedure room 1" in html
    first = page.context["days"][0][1][0]

    response = frontdesk_client.post(
        "/appointments/find/",
        finder_form(patient, procedure, slot=first.key),
    )

    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/appointments/{appointment.pk}/"
    assert (appointment.patient, appointment.provider, appointment.room) == (patient, lee, room)
    assert (appointment.start_at, appointment.end_at) == (at(9), at(10))
    assert appointment.created_by == frontdesk_user
    assert (appointment.blocked_from, appointment.blocked_until) == (at(8, 45), at(10, 15))


@pytest.mark.parametrize("physicians", [1, 12])
def test_the_pages_search_takes_a_fixed_number_of_queries(
    frontdesk_client, procedure, lee, room, django_assert_num_queries, physicians
):
    doctors = [lee] + [ProviderFactory(display_name=f"Dr {i:02d}") for i in range(physicians - 1)]
    rooms = [room] + [RoomFactory(name=f"Room {i:02d}") for i in range(physicians - 1)]
    for day in (MON, TUE):  # a morning's visit for every physician, each in a room
        for doctor, where in zip(doctors, rooms, strict=True):
            AppointmentFactory(
                provider=doctor, room=where, start_at=at(11, day=day), end_at=at(12, day=day)
            )
    patient = PatientFactory()
    form = finder_form(patient, procedure, sedation_level="local", action="find")
    # Session, user, roles; the form's patient and procedure; the slot finder's
    # physicians, rooms and their procedures, hours, absences, holidays and one read of
    # bookings (the three working days that hold twelve slots at four a day); the
    # audit's row; the patient's bookings; the site switcher's sites; the form's
    # procedures and physicians; the session's last procedure (its UPDATE in a
    # savepoint, here inside the test's transaction); the prep templates (when the
    # visit's fast would begin: slots start after it).
    with django_assert_num_queries(21):
        page = frontdesk_client.post("/appointments/find/", form)
    assert page.context["days"]


def test_the_page_says_so_when_the_slot_was_just_taken(frontdesk_client, procedure, lee, room):
    patient = PatientFactory()
    page = frontdesk_client.post(
        "/appointments/find/",
        finder_form(patient, procedure, sedation_level="local", action="find"),
    )
    first = page.context["days"][0][1][0]
    AppointmentFactory(provider=lee, start_at=first.start_at, end_at=first.end_at)

    response = frontdesk_client.post(
        "/appointments/find/",
        finder_form(patient, procedure, sedation_level="local", slot=first.key),
    )

    assert response.status_code == 200
    assert "Dr Lee is booked 09:00-10:00 with another patient." in response.content.decode()
    assert Appointment.objects.count() == 1
    # Fresh slots are offered at once, without the one taken.
    assert first.start_at not in [s.start_at for _d, day in response.context["days"] for s in day]


def test_the_page_asks_for_a_patient_first(frontdesk_client, procedure, lee, room):
    data = finder_form(PatientFactory(), procedure, action="find")
    data["patient"] = ""

    response = frontdesk_client.post("/appointments/find/", data)

    assert response.context["form"].errors["patient"] == [
        "Search for the patient and choose them from the results."
    ]


def test_the_patient_search_posts_and_answers_with_radio_buttons(frontdesk_client):
    maria = PatientFactory(given_name="Maria", family_name="Garcia", mrn="C99000043")
    PatientFactory(given_name="John", family_name="Okafor")

    response = frontdesk_client.post("/patients/pick/", {"q": "garc"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert f'name="patient" id="pick-patient-{maria.pk}" value="{maria.pk}" checked' in html
    assert "Garcia, Maria · MRN C99000043" in html
    assert "Okafor" not in html
    assert frontdesk_client.get("/patients/pick/?q=garc").status_code == 405


def test_the_manual_booking_form_finds_the_patient_and_fills_in_the_mrn(frontdesk_client):
    maria = PatientFactory(given_name="Maria", family_name="Garcia")

    page = frontdesk_client.get("/appointments/book/").content.decode()
    assert 'hx-post="/patients/pick/"' in page
    response = frontdesk_client.post(
        "/patients/pick/", {"q": "maria garc", "mode": "book"}, HTTP_HX_REQUEST="true"
    )

    # A result posts the booking form itself (what was typed stays; nothing in a URL).
    html = response.content.decode()
    assert f'form="booking-form" formnovalidate name="choose_patient" value="{maria.pk}"' in html
    form = frontdesk_client.post("/appointments/book/", {"choose_patient": str(maria.pk)}).context[
        "form"
    ]
    assert form["patient_mrn"].value() == maria.mrn


# --- The patient's own visits, more slots, the last procedure (issue 16) ----------------


def test_a_slot_near_the_patients_other_visit_is_asked_about_then_booked(
    frontdesk_client, procedure, lee, room
):
    patient = PatientFactory(given_name="Maria", family_name="Garcia")
    own = AppointmentFactory(
        patient=patient, provider=lee, room=room, start_at=at(13, day=TUE), end_at=at(14, day=TUE)
    )
    page = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, action="find")
    )
    html = page.content.decode()
    assert "This patient's bookings" in html
    assert f'href="/appointments/{own.pk}/"' in html
    # Tuesday's first (the patient's fast for Monday's has begun: another question).
    first = next(slot for day, slots in page.context["days"] for slot in slots if day == TUE)

    asked = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, slot=first.key)
    )

    assert asked.status_code == 200
    assert Appointment.objects.count() == 1  # nothing booked yet
    # On its site's clock, the site named (another site's visit would say its zone).
    assert "already has a visit that day or within 3 days: Tue 4 Mar 2025 13:00" in (
        asked.content.decode()
    )
    assert f'name="slot_confirmed" value="{first.key}"' in asked.content.decode()

    booked = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, slot_confirmed=first.key)
    )

    assert booked.status_code == 302
    assert Appointment.objects.count() == 2


def test_the_finder_pages_to_more_slots_and_remembers_the_procedure(
    frontdesk_client, procedure, room
):
    ProviderFactory(display_name="Dr Wide")  # the clinic's default hours, all week
    patient = PatientFactory()
    first = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, action="find")
    )
    more = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, procedure, action="more", pages="1")
    )

    assert sum(len(s) for _d, s in first.context["days"]) == 12
    assert sum(len(s) for _d, s in more.context["days"]) == 24
    assert "More slots" in first.content.decode()
    # From a patient, one click: the next slots for the procedure chosen last.
    again = frontdesk_client.get(f"/appointments/find/?patient={patient.pk}")
    assert again.context["form"]["procedure_type"].value() in (procedure.pk, str(procedure.pk))
    assert sum(len(s) for _d, s in again.context["days"]) == 12


def test_the_booking_form_asks_before_a_second_visit_the_same_week(frontdesk_client, lee, room):
    procedure = ProcedureTypeFactory(default_sedation_level=SedationLevel.LOCAL)
    patient = PatientFactory()
    AppointmentFactory(
        patient=patient, provider=lee, room=room, start_at=at(9, day=TUE), end_at=at(10, day=TUE)
    )
    data = {
        "patient_mrn": patient.mrn,
        "procedure_type": procedure.pk,
        "provider": lee.pk,
        "room": room.pk,
        "date": "2025-03-04",
        "start_time": "13:00",
    }

    asked = frontdesk_client.post("/appointments/book/", data)
    assert asked.status_code == 200 and Appointment.objects.count() == 1
    assert "Yes, book it as well" in asked.content.decode()
    assert (
        "This patient's bookings"
        in frontdesk_client.get(f"/appointments/book/?patient={patient.pk}").content.decode()
    )

    booked = frontdesk_client.post("/appointments/book/", {**data, "confirm_nearby": "1"})
    assert booked.status_code == 302 and Appointment.objects.count() == 2
