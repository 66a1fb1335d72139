"""A sedated visit booked or moved to a time whose fast has already begun is asked
about before it is booked (prep/fasting.py, invariant 23): no email can tell the
patient to stop eating in time, so the front desk asks them, and the answer is kept."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep.fasting import FAST_BEGUN, FAST_BEGUN_EVENT
from procedures.prep.models import PrepTemplate
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import fast_answer
from procedures.scheduling.tests.test_slots import finder_form
from procedures.scheduling.waitlist import waitlist_add
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
)
from procedures.workflows import visits

MON, TUE = dt.date(2025, 3, 3), dt.date(2025, 3, 4)
NOW = clinic_datetime(MON, dt.time(8, 0))  # Monday 08:00 (GMT)
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.clock(NOW),
    pytest.mark.usefixtures("care_for_all"),
]

QUESTION = (
    "Sedation at 11:00: the patient must not have eaten since 05:00, and that time has "
    "passed, so no email can tell them in time."
)


def at(hour: int, day: dt.date = MON) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, 0))


@pytest.fixture
def biopsy():
    return ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY)  # IV sedation


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")  # the clinic's hours, every weekday


@pytest.fixture
def room():
    return RoomFactory(name="Procedure room 1", is_monitored=True)


@pytest.fixture
def patient():
    return PatientFactory(given_name="Maria", family_name="Garcia", email="maria@example.com")


def book(patient, biopsy, lee, room, by, *, start, level=SedationLevel.IV_MODERATE, **extra):
    return visits.appointment_book(
        patient=patient,
        procedure_type=biopsy,
        provider=lee,
        room=room,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=level,
        by=by,
        **extra,
    )


def text(response) -> str:
    return " ".join(response.content.decode().split())


# --- The rule, in the workflow ----------------------------------------------------------


def test_a_sedated_visit_whose_fast_has_begun_is_asked_about_and_nothing_is_booked(
    patient, biopsy, lee, room, frontdesk_user
):
    with pytest.raises(ValidationError) as asked:
        book(patient, biopsy, lee, room, frontdesk_user, start=at(11))

    [error] = asked.value.error_dict["start_time"]
    assert error.code == FAST_BEGUN
    assert error.message.startswith(QUESTION)
    assert not Appointment.objects.exists()
    assert not Reminder.objects.exists()


def test_answered_it_is_booked_and_the_answer_is_kept_on_the_timeline(
    patient, biopsy, lee, room, frontdesk_user
):
    visit = book(
        patient, biopsy, lee, room, frontdesk_user, start=at(11), fast_begun_confirmed=True
    )

    event = visit.events.get(kind=FAST_BEGUN_EVENT)
    assert event.by == frontdesk_user
    assert event.note == (
        "Booked after the fast began (05:00): the patient said they have not eaten since."
    )


@pytest.mark.parametrize(
    ("start", "level"),
    [
        (at(15), SedationLevel.IV_MODERATE),  # the fast begins at 09:00: still ahead
        (at(9), SedationLevel.LOCAL),  # no sedation, no fast
    ],
)
def test_a_visit_whose_fast_is_ahead_or_that_has_none_is_booked_without_asking(
    patient, biopsy, lee, room, frontdesk_user, start, level
):
    visit = book(patient, biopsy, lee, room, frontdesk_user, start=start, level=level)

    assert not visit.events.filter(kind=FAST_BEGUN_EVENT).exists()


def test_a_clinic_without_a_fasting_step_is_not_asked(patient, biopsy, lee, room, frontdesk_user):
    PrepTemplate.objects.filter(code="fasting-food").update(is_active=False)

    visit = book(patient, biopsy, lee, room, frontdesk_user, start=at(11))

    assert visit.start_at == at(11)


def test_a_move_into_a_fast_already_begun_is_asked_about_then_kept(
    patient, biopsy, lee, room, frontdesk_user
):
    visit = book(patient, biopsy, lee, room, frontdesk_user, start=at(11, TUE))

    with pytest.raises(ValidationError) as asked:
        visits.appointment_reschedule(appointment_id=visit.pk, start_at=at(11), by=frontdesk_user)

    assert asked.value.error_dict["start_time"][0].code == FAST_BEGUN
    visit.refresh_from_db()
    assert (visit.start_at, visit.version) == (at(11, TUE), 1)

    moved = visits.appointment_reschedule(
        appointment_id=visit.pk, start_at=at(11), by=frontdesk_user, fast_begun_confirmed=True
    )

    assert moved.start_at == at(11)
    assert moved.events.filter(kind=FAST_BEGUN_EVENT).count() == 1


# --- The pages ----------------------------------------------------------------------------


def booking_form(patient, biopsy, lee, room, **overrides):
    data = {
        "patient_mrn": patient.mrn,
        "procedure_type": biopsy.pk,
        "provider": lee.pk,
        "room": room.pk,
        "date": MON.isoformat(),
        "start_time": "11:00",
        "end_time": "",
        "sedation_level": "",
        "transport_mode": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_the_booking_form_asks_with_a_button_that_answers_for_that_time_only(
    frontdesk_client, patient, biopsy, lee, room
):
    form = booking_form(patient, biopsy, lee, room)

    asked = frontdesk_client.post("/appointments/book/", form)

    assert asked.status_code == 200
    page = text(asked)
    assert QUESTION in page
    answer = fast_answer(at(11))
    assert f'name="confirm_fast" value="{answer}"' in page
    assert "The patient has not eaten since: book it" in page
    assert "Please correct the errors" not in page  # a question, not an error
    assert not Appointment.objects.exists()

    # An answer for 11:00 does not carry over to 10:00, chosen afterwards.
    again = frontdesk_client.post(
        "/appointments/book/", {**form, "start_time": "10:00", "confirm_fast": answer}
    )
    assert "the patient must not have eaten since 04:00" in text(again)
    assert not Appointment.objects.exists()

    booked = frontdesk_client.post("/appointments/book/", {**form, "confirm_fast": answer})

    visit = Appointment.objects.get()
    assert booked["Location"] == f"/appointments/{visit.pk}/"
    assert visit.events.filter(kind=FAST_BEGUN_EVENT).exists()
    timeline = text(frontdesk_client.get(booked["Location"]))
    assert "Fast already begun" in timeline
    assert "the patient said they have not eaten since" in timeline


def test_a_visit_nearby_is_asked_first_then_the_fast_and_one_answer_books(
    frontdesk_client, patient, biopsy, lee, room
):
    AppointmentFactory(patient=patient, start_at=at(14, TUE), end_at=at(15, TUE))
    form = booking_form(patient, biopsy, lee, room)

    nearby = frontdesk_client.post("/appointments/book/", form)
    assert "already has a visit that day or within 3 days" in text(nearby)

    fast = frontdesk_client.post("/appointments/book/", {**form, "confirm_nearby": "1"})
    assert QUESTION in text(fast)
    assert "already has a visit" not in text(fast)

    # The fast's button posts its answer alone: the nearby one is not asked again.
    booked = frontdesk_client.post(
        "/appointments/book/", {**form, "confirm_fast": fast_answer(at(11))}
    )

    assert booked.status_code == 302
    assert Appointment.objects.filter(patient=patient).count() == 2


def test_the_slot_finder_offers_only_times_the_patient_can_still_fast_for(
    frontdesk_client, patient, biopsy, lee, room
):
    page = frontdesk_client.post("/appointments/find/", finder_form(patient, biopsy))

    offered = [s.start_at for _day, slots in page.context["days"] for s in slots]
    assert offered and min(offered) > at(14)  # 08:00 now, six hours' fast
    assert "Sedated: the slots start after Mon 3 Mar 14:00" in text(page)


def test_a_slot_whose_fast_began_since_the_page_was_shown_is_asked_about(
    frontdesk_client, patient, biopsy, lee, room
):
    # Offered on a page shown earlier that morning: by now its fast has begun.
    key = f"{at(11).astimezone(dt.UTC).isoformat()}|{lee.pk}|{room.pk}"

    asked = frontdesk_client.post("/appointments/find/", finder_form(patient, biopsy, slot=key))

    assert asked.status_code == 200
    assert QUESTION in text(asked)
    assert f'name="slot_fast_confirmed" value="{key}"' in asked.content.decode()
    assert not Appointment.objects.exists()

    booked = frontdesk_client.post(
        "/appointments/find/", finder_form(patient, biopsy, slot_fast_confirmed=key)
    )

    assert booked.status_code == 302
    assert Appointment.objects.get().events.filter(kind=FAST_BEGUN_EVENT).exists()


def test_the_reschedule_page_asks_before_moving_into_a_fast_begun(
    frontdesk_client, frontdesk_user, patient, biopsy, lee, room
):
    visit = book(patient, biopsy, lee, room, frontdesk_user, start=at(11, TUE))
    url = f"/appointments/{visit.pk}/reschedule/"
    form = {"date": MON.isoformat(), "start_time": "11:00", "provider": lee.pk, "room": room.pk}

    # Its suggestions leave time to fast: none before 14:00 today.
    suggested = frontdesk_client.get(url).context["suggestions"]
    assert suggested and min(s.start_at for s in suggested) > at(14)

    asked = frontdesk_client.post(url, form)

    assert QUESTION in text(asked)
    assert "The patient has not eaten since: move it" in text(asked)
    visit.refresh_from_db()
    assert visit.start_at == at(11, TUE)

    moved = frontdesk_client.post(url, {**form, "confirm_fast": fast_answer(at(11))})

    assert moved.status_code == 302
    visit.refresh_from_db()
    assert visit.start_at == at(11)


def test_a_waitlist_offer_into_a_fast_begun_is_asked_on_the_waitlist_then_booked(
    frontdesk_client, frontdesk_user, patient, biopsy, lee, room
):
    freed = AppointmentFactory(
        procedure_type=biopsy,
        provider=lee,
        room=room,
        start_at=at(11),
        end_at=at(12),
        status=Appointment.Status.CANCELLED,
    )
    entry = waitlist_add(patient=patient, procedure_type=biopsy, by=frontdesk_user)
    offer = f"/waitlist/{entry.pk}/offer/"

    asked = frontdesk_client.post(offer, {"freed": freed.pk})

    assert asked["Location"] == f"/waitlist/?ask={entry.pk}-{freed.pk}"
    assert not Appointment.objects.filter(patient=patient).exists()
    page = frontdesk_client.get(asked["Location"])
    html = page.content.decode()
    assert "Garcia, Maria into Mon 3 Mar 11:00 with Dr Lee." in text(page)
    assert QUESTION in text(page)
    assert f'action="{offer}"' in html
    assert f'name="confirm_fast" value="{fast_answer(at(11))}"' in html

    booked = frontdesk_client.post(offer, {"freed": freed.pk, "confirm_fast": fast_answer(at(11))})

    visit = Appointment.objects.get(patient=patient)
    assert booked["Location"] == f"/appointments/{visit.pk}/"
    assert visit.events.filter(kind=FAST_BEGUN_EVENT).exists()
    entry.refresh_from_db()
    assert entry.booked_appointment == visit


def test_a_stale_or_mistyped_question_on_the_waitlist_page_is_ignored(frontdesk_client):
    for ask in ("999-998", "x-1", "1", ""):
        page = frontdesk_client.get(f"/waitlist/?ask={ask}")
        assert page.status_code == 200
        assert "fast-question" not in page.content.decode()


def test_a_physician_who_sedates_a_visit_whose_fast_has_begun_is_warned(
    physician_client, frontdesk_user, patient, biopsy, lee, room
):
    visit = book(patient, biopsy, lee, room, frontdesk_user, start=at(11), level="local")

    response = physician_client.post(
        reverse("procedures:prep_sedation", args=[visit.pk]),
        {
            "sed-sedation_level": SedationLevel.IV_MODERATE,
            "sed-food_fast_hours": 6,
            "sed-clear_fluid_fast_hours": 2,
        },
        follow=True,
    )

    page = text(response)
    assert "Sedation plan saved." in page
    assert (
        "The patient should not have eaten since 05:00, and that time has passed: no email "
        "can tell them in time." in page
    )


def test_the_nurse_sees_the_answer_beside_the_days_checklist_until_the_visit_moves(
    nurse_client, frontdesk_user, patient, biopsy, lee, room
):
    """The front desk's answer at booking is what the nurse confirms on the day."""
    visit = book(
        patient, biopsy, lee, room, frontdesk_user, start=at(11), fast_begun_confirmed=True
    )

    page = text(nurse_client.get("/today/checklists/"))

    assert (
        "At booking: Booked after the fast began (05:00): the patient said they have not "
        "eaten since." in page
    )

    # Moved to a time whose fast has not begun, the answer no longer stands.
    visits.appointment_reschedule(appointment_id=visit.pk, start_at=at(15), by=frontdesk_user)
    assert "At booking" not in text(nurse_client.get("/today/checklists/"))
