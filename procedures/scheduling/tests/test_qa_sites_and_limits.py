"""QA round: times and rooms of a visit at another site (reschedule suggestions, the
calendar, the patient's bookings), choosing a patient without losing the booking form,
and the booking limits (how far ahead, how short, how long the notes)."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.sites import SESSION_KEY, default_site
from procedures.scheduling.models import Appointment
from procedures.scheduling.rules import nearby_bookings, nearby_warning
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
)
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday, London
TUE = dt.date(2025, 3, 11)
NY = ZoneInfo("America/New_York")
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def main():
    return default_site()


@pytest.fixture
def lakeside():
    return SiteFactory(code="lake", name="Lakeside", time_zone="America/New_York")


@pytest.fixture
def north():
    return SiteFactory(code="north", name="Northgate")


def use_site(client, site) -> None:
    client.post("/site/", {"site": site.pk})
    assert client.session[SESSION_KEY] == site.pk


def book(*, provider, room, start, patient=None, by=None, minutes=60, **extra):
    return visits.appointment_book(
        patient=patient or PatientFactory(),
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        provider=provider,
        room=room,
        start_at=start,
        end_at=start + dt.timedelta(minutes=minutes),
        sedation_level=SedationLevel.LOCAL,
        by=by,
        **extra,
    )


# --- 1. Reschedule suggestions: the visit's own site, on its clock -----------------------


def test_reschedule_suggestions_are_at_the_visits_site_in_its_zone_and_bookable(
    frontdesk_client, frontdesk_user, main, lakeside
):
    lee = ProviderFactory(display_name="Dr Lee")
    lee.sites.add(main, lakeside)
    RoomFactory(name="London room 1", site=main)
    lake_room = RoomFactory(name="Lake room 1", site=lakeside)
    visit = book(
        provider=lee,
        room=lake_room,
        start=dt.datetime.combine(TUE, dt.time(10, 0), tzinfo=NY),
        by=frontdesk_user,
    )
    use_site(frontdesk_client, main)  # the desk is on London's pages

    page = frontdesk_client.get(f"/appointments/{visit.pk}/reschedule/")

    suggestions = page.context["suggestions"]
    assert suggestions
    assert {slot.room.pk for slot in suggestions} == {lake_room.pk}
    html = page.content.decode()
    # Shown on New York's clock: Dr Lee's first free time there is 08:00, not 13:00.
    first = suggestions[0].start_at.astimezone(NY)
    assert 8 <= first.hour < 18
    assert f"{first:%H:%M} · Lake room 1" in html
    assert "At Lakeside, in its time (America/New_York)" in html

    moved = frontdesk_client.post(
        f"/appointments/{visit.pk}/reschedule/", {"slot": suggestions[0].key}
    )

    assert moved.status_code == 302, moved.context["form"].errors
    visit.refresh_from_db()
    assert (visit.start_at, visit.room_id) == (suggestions[0].start_at, lake_room.pk)


def test_a_two_site_physician_is_offered_only_rooms_of_the_visits_site(
    frontdesk_client, frontdesk_user, main, north
):
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    adeyemi.sites.add(main, north)
    room = RoomFactory(name="Procedure room 1", site=main)
    RoomFactory(name="Northgate room 1", site=north)
    visit = book(provider=adeyemi, room=room, start=clinic_datetime(TUE, dt.time(9)))
    use_site(frontdesk_client, north)

    page = frontdesk_client.get(f"/appointments/{visit.pk}/reschedule/")

    assert {slot.room.name for slot in page.context["suggestions"]} == {"Procedure room 1"}
    # The form lists the visit's site's rooms too, so any suggestion is accepted.
    assert room in page.context["form"].fields["room"].queryset


# --- 2. The calendar: busy at another site ----------------------------------------------


def _adeyemi_cells(grid, name="Dr Adeyemi"):
    column = next(i for i, c in enumerate(grid.columns) if c.title == name)
    return {time: row[column] for time, row in zip(grid.times, grid.rows, strict=True)}


def test_the_calendar_shows_a_physician_busy_while_booked_at_another_site(
    frontdesk_client, frontdesk_user, main, north
):
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    adeyemi.sites.add(main, north)
    RoomFactory(name="Procedure room 1", site=main)
    north_room = RoomFactory(name="Northgate room 1", site=north)
    book(
        provider=adeyemi,
        room=north_room,
        start=clinic_datetime(TUE, dt.time(11, 45)),
        patient=PatientFactory(family_name="Zabrowski"),
    )
    use_site(frontdesk_client, main)

    page = frontdesk_client.get(f"/calendar/?by=clinic&date={TUE.isoformat()}")

    cells = _adeyemi_cells(page.context["grid"])
    for hhmm in ("11:45", "12:00", "12:15", "12:30"):
        assert cells[hhmm].state == "elsewhere"
        assert cells[hhmm].href == ""  # not offered for booking
        assert "at Northgate" in cells[hhmm].label
    assert cells["11:30"].state == "free" and cells["12:45"].state == "free"
    html = page.content.decode()
    assert "At Northgate" in html
    assert "Zabrowski" not in html  # the other site's patient is not shown


def test_the_calendar_reads_other_sites_visits_in_a_fixed_number_of_queries(
    frontdesk_client, main, north
):
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    adeyemi.sites.add(main, north)
    RoomFactory(name="Procedure room 1", site=main)
    north_room = RoomFactory(name="Northgate room 1", site=north)
    use_site(frontdesk_client, main)
    url = f"/calendar/?by=clinic&date={TUE.isoformat()}"

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert frontdesk_client.get(url).status_code == 200
        return len(captured)

    book(provider=adeyemi, room=north_room, start=clinic_datetime(TUE, dt.time(9)))
    one = queries()
    for hour in (11, 14, 16):
        book(provider=adeyemi, room=north_room, start=clinic_datetime(TUE, dt.time(hour)))

    assert queries() == one


# --- 3. Another site's visit is shown on its own clock, named --------------------------


def test_the_patients_bookings_name_a_visit_at_another_site_and_its_zone(
    frontdesk_client, frontdesk_user, main, lakeside
):
    patient = PatientFactory()
    lee = ProviderFactory(display_name="Dr Lee")
    room = RoomFactory(name="Procedure room 1", site=main)
    book(provider=lee, room=room, start=clinic_datetime(TUE, dt.time(10)), patient=patient)
    RoomFactory(name="Lake room 1", site=lakeside)
    use_site(frontdesk_client, lakeside)

    booking_page = frontdesk_client.get(f"/appointments/book/?patient={patient.pk}")
    patient_page = frontdesk_client.get(f"/patients/{patient.pk}/")

    said = f"Tue 11 Mar 2025 10:00\u201311:00 ({main.name}, London time)"
    assert said in booking_page.content.decode()
    assert f"Tue 11 Mar 2025 10:00\u201311:00 ({main.name}, London time)" in (
        patient_page.content.decode()
    )
    with timezone.override(NY):
        warning = nearby_warning(
            nearby_bookings(patient=patient, start_at=clinic_datetime(TUE, dt.time(14), NY))
        )
    assert said in warning


# --- 4. Choosing the patient keeps what was typed --------------------------------------


def test_choosing_a_patient_from_the_search_keeps_the_booking_form(frontdesk_client, main):
    okafor = PatientFactory(family_name="Okafor")
    lee = ProviderFactory(display_name="Dr Lee")
    room = RoomFactory(name="Procedure room 1", site=main)
    procedure = ProcedureTypeFactory()
    typed = {
        "procedure_type": str(procedure.pk),
        "provider": str(lee.pk),
        "room": str(room.pk),
        "date": TUE.isoformat(),
        "start_time": "10:00",
        "notes": "Needs the hoist",
    }

    picked = frontdesk_client.post(f"/appointments/book/?provider={lee.pk}", {"q": "okafor"})
    results = frontdesk_client.post("/patients/pick/", {"q": "okafor", "mode": "book"})
    response = frontdesk_client.post(
        "/appointments/book/", {**typed, "choose_patient": str(okafor.pk)}
    )

    assert picked.status_code == 200
    assert f'name="choose_patient" value="{okafor.pk}"' in results.content.decode()
    assert 'form="booking-form"' in results.content.decode()
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound  # nothing refused, nothing booked
    assert form.initial["patient_mrn"] == okafor.mrn
    html = response.content.decode()
    assert okafor.mrn in html and "Needs the hoist" in html
    assert 'value="10:00"' in html and f'value="{TUE.isoformat()}"' in html
    assert re.search(rf'<option value="{lee.pk}" selected>', html)
    assert not Appointment.objects.exists()


# --- 5. Booking limits ------------------------------------------------------------------


def booking_form(patient, lee, room, **changes) -> dict:
    return {
        "patient_mrn": patient.mrn,
        "procedure_type": str(ProcedureTypeFactory(default_duration_minutes=60).pk),
        "provider": str(lee.pk),
        "room": str(room.pk),
        "date": TUE.isoformat(),
        "start_time": "10:00",
        "end_time": "",
        "notes": "",
        **changes,
    }


def test_the_booking_form_refuses_a_far_date_a_too_short_visit_and_long_notes(
    frontdesk_client, main, settings
):
    settings.CLINIC_BOOKING_HORIZON_DAYS = 365
    patient, lee = PatientFactory(), ProviderFactory(display_name="Dr Lee")
    room = RoomFactory(name="Procedure room 1", site=main)

    far = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, lee, room, date="2099-03-10")
    )
    short = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, lee, room, end_time="10:01")
    )
    long_notes = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, lee, room, notes="x" * 2001)
    )

    assert "at most 365 days ahead" in far.context["form"].errors["date"][0]
    assert "needs at least 30 minutes" in short.context["form"].errors["end_time"][0]
    assert "at most 2000 characters" in long_notes.context["form"].errors["notes"][0]
    assert not Appointment.objects.exists()
    ok = frontdesk_client.post(
        "/appointments/book/", booking_form(patient, lee, room, end_time="10:30")
    )
    assert ok.status_code == 302  # half the usual length is allowed


def test_the_booking_service_enforces_the_same_limits(main, settings):
    settings.CLINIC_BOOKING_HORIZON_DAYS = 30
    lee, room = ProviderFactory(), RoomFactory(site=main)

    with pytest.raises(ValidationError) as far:
        book(provider=lee, room=room, start=clinic_datetime(dt.date(2025, 4, 8), dt.time(10)))
    with pytest.raises(ValidationError) as short:
        book(provider=lee, room=room, start=clinic_datetime(TUE, dt.time(10)), minutes=1)
    with pytest.raises(ValidationError) as notes:
        book(provider=lee, room=room, start=clinic_datetime(TUE, dt.time(10)), notes="x" * 2001)

    assert "at most 30 days ahead" in far.value.message_dict["date"][0]
    assert "needs at least 30 minutes" in short.value.message_dict["end_time"][0]
    assert "Keep the notes to 2000 characters" in notes.value.message_dict["notes"][0]
    assert not Appointment.objects.exists()


def test_notes_saved_before_the_limit_are_kept_whole(main):
    """The limit is the forms' and the booking service's: a note written before it is
    clinical text, kept whole (no migration cuts it), and the visit still saves."""
    visit = AppointmentFactory(room=RoomFactory(site=main))
    visit.notes = "x" * 2500
    visit.save()
    visit.refresh_from_db()
    assert len(visit.notes) == 2500
