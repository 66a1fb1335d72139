"""Calendars and the day sheet: what each view shows, status and sedation in words,
htmx paging, the whole clinic's day ten physicians at a time, and a number of queries
that does not grow with the appointments or the physicians."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import Allergy
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.catalog.models import ClinicHoliday
from procedures.scheduling.models import Appointment
from procedures.scheduling.timegrid import holds_load
from procedures.tests.factories import AppointmentFactory, ProviderFactory, RoomFactory

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday
WED = dt.date(2025, 3, 5)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, minute: int = 0, day: dt.date = WED) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def room():
    return RoomFactory(name="Procedure room 1")


def book_many(count: int, lee, room, day=WED) -> list[Appointment]:
    """`count` appointments for Dr Lee through the week, alternating two rooms."""
    other = RoomFactory(name="Procedure room 2")
    booked = []
    for i in range(count):
        d = day - dt.timedelta(days=day.weekday()) + dt.timedelta(days=i % 5)
        start = at(8 + (i // 5) % 9, 0, day=d)
        booked.append(
            AppointmentFactory(
                provider=lee,
                room=room if i % 2 else other,
                start_at=start,
                end_at=start + dt.timedelta(minutes=50),
            )
        )
    return booked


def test_the_week_view_of_a_physician_shows_each_day_with_status_and_sedation(
    nurse_client, lee, room
):
    garcia = AppointmentFactory(
        patient=PatientFactory(given_name="Maria", family_name="Garcia"),
        provider=lee,
        room=room,
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.IV_MODERATE,
        status=Appointment.Status.CONFIRMED,
    )

    response = nurse_client.get(f"/calendar/?view=week&by=provider&id={lee.pk}&date=2025-03-05")

    html = response.content.decode()
    columns = response.context["columns"]
    assert [c.day for c in columns] == [
        dt.date(2025, 3, 3) + dt.timedelta(days=i) for i in range(7)
    ]
    assert [card.pk for card in columns[2].cards] == [garcia.pk]
    assert columns[5].hours == ""  # Saturday: not working
    assert "Week of 3 March 2025 · Dr Lee" in html
    assert "Garcia, Maria" in html
    # Status and sedation as text, with colour classes repeating them.
    assert 'class="tg-block tg-visit appt-confirmed appt-sedated' in html
    assert ">Confirmed</span>" in html
    assert 'sedation-iv_moderate">IV moderate sedation</span>' in html
    assert "Not working" in html


def test_every_value_on_a_card_is_escaped(nurse_client, lee, room):
    AppointmentFactory(
        patient=PatientFactory(given_name="<b>Ann</b>", family_name="O'Brien & Co"),
        provider=lee,
        room=room,
        start_at=at(9),
        end_at=at(10),
    )

    html = nurse_client.get(f"/calendar/?by=provider&id={lee.pk}&date=2025-03-05").content
    html = html.decode()

    assert "<strong>O&#x27;Brien &amp; Co, &lt;b&gt;Ann&lt;/b&gt;</strong>" in html
    assert "<b>Ann</b>" not in html


def test_the_room_day_view_shows_the_time_held_with_buffers(nurse_client, lee, room):
    AppointmentFactory(
        provider=lee,
        room=room,
        start_at=at(9),
        end_at=at(10),
        buffer_before_minutes=10,
        buffer_after_minutes=45,
    )

    html = nurse_client.get(f"/calendar/?view=day&by=room&id={room.pk}&date=2025-03-05").content
    html = html.decode()

    assert "Room held 08:50\u201310:45" in html
    assert "Dr Lee" in html


def test_the_clinic_day_view_has_a_column_per_physician(nurse_client, lee, room):
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    AppointmentFactory(provider=adeyemi, room=room, start_at=at(11), end_at=at(12))
    Unavailability.objects.create(
        provider=lee, starts_at=at(0), ends_at=at(23), reason=Unavailability.Reason.LEAVE
    )

    response = nurse_client.get("/calendar/?date=2025-03-05")

    columns = {c.title: c for c in response.context["columns"]}
    assert set(columns) == {"Dr Lee", "Dr Adeyemi"}
    assert len(columns["Dr Adeyemi"].cards) == 1
    assert columns["Dr Lee"].cards == []


def test_a_clinic_holiday_shows_as_closed(nurse_client, lee):
    ClinicHoliday.objects.create(date=WED, name="Staff training")

    html = nurse_client.get(f"/calendar/?by=provider&id={lee.pk}&date=2025-03-05").content.decode()

    assert "Closed: Staff training" in html


def test_htmx_paging_answers_with_the_calendar_alone(nurse_client, lee):
    response = nurse_client.get(
        f"/calendar/?view=day&by=provider&id={lee.pk}&date=2025-03-06",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="calendar",
    )

    html = response.content.decode()
    assert html.startswith('<div id="calendar"')
    assert "<nav" in html and "<html" not in html
    assert "Thursday 6 March 2025" in html
    assert 'data-cal-prev href="/calendar/?view=day&amp;by=provider' in html
    assert "date=2025-03-05" in html and "date=2025-03-07" in html


def test_bad_calendar_parameters_fall_back_or_404(nurse_client, lee):
    assert nurse_client.get("/calendar/?view=year&by=moon&date=nonsense").status_code == 200
    assert nurse_client.get("/calendar/?by=provider&id=999999").status_code == 404


@pytest.mark.parametrize("count", [3, 40])
def test_the_week_view_takes_a_fixed_number_of_queries(
    nurse_client, django_assert_num_queries, lee, room, count
):
    book_many(count, lee, room)

    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(12):
        response = nurse_client.get(f"/calendar/?view=week&by=provider&id={lee.pk}&date=2025-03-05")

    assert sum(len(c.cards) for c in response.context["columns"]) == count


def physicians(count: int, day=WED) -> list:
    """`count` physicians named in order, each with one booking on `day`."""
    doctors = [ProviderFactory(display_name=f"Dr {i:02d}") for i in range(1, count + 1)]
    for i, doctor in enumerate(doctors):
        start = at(8, day=day) + dt.timedelta(minutes=10 * i)
        AppointmentFactory(provider=doctor, start_at=start, end_at=start + dt.timedelta(minutes=10))
    return doctors


def test_the_clinic_day_shows_ten_physicians_a_page(nurse_client):
    physicians(23)

    first = nurse_client.get("/calendar/?date=2025-03-05")
    third = nurse_client.get("/calendar/?date=2025-03-05&page=3")

    assert [c.title for c in first.context["columns"]] == [f"Dr {i:02d}" for i in range(1, 11)]
    assert [c.title for c in third.context["columns"]] == ["Dr 21", "Dr 22", "Dr 23"]
    assert all(len(c.cards) == 1 for c in first.context["columns"])
    html = first.content.decode()
    assert "whole clinic · physicians 1 to 10 of 23" in html
    assert 'aria-label="Pages of physicians"' in html
    assert ">1\u201310</a>" in html and ">21\u201323</a>" in html
    assert "Next physicians" in html and "Previous physicians" not in html
    # Paging the day keeps the page of physicians, and the other way round.
    html = third.content.decode()
    assert "Previous physicians" in html and "Next physicians" not in html
    assert (
        'data-cal-next href="/calendar/?view=day&amp;by=clinic&amp;date=2025-03-06&amp;page=3"'
        in html
    )
    assert 'href="/calendar/?view=day&amp;by=clinic&amp;date=2025-03-05&amp;page=1"' in html


def test_htmx_pages_the_physicians_with_the_calendar_alone(nurse_client):
    physicians(12)

    response = nurse_client.get(
        "/calendar/?view=day&by=clinic&date=2025-03-05&page=2",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="calendar",
    )

    html = response.content.decode()
    assert html.startswith('<div id="calendar"') and "<html" not in html
    assert [c.title for c in response.context["columns"]] == ["Dr 11", "Dr 12"]
    assert 'hx-get="/calendar/?view=day&amp;by=clinic&amp;date=2025-03-05&amp;page=1"' in html
    assert 'aria-current="page">11\u201312</a>' in html


def test_the_clinic_day_can_show_one_physician(nurse_client):
    doctors = physicians(12)

    response = nurse_client.get(f"/calendar/?date=2025-03-05&provider={doctors[11].pk}")

    assert [c.title for c in response.context["columns"]] == ["Dr 12"]
    html = response.content.decode()
    # The one "Show" box offers each physician's own calendar too.
    assert f'<option value="provider:{doctors[11].pk}">Dr 12</option>' in html
    assert 'aria-label="Pages of physicians"' not in html
    assert f"provider={doctors[11].pk}" in response.context["links"]["next"]
    # Someone who is not one of the day's physicians: everyone, not an empty page.
    response = nurse_client.get("/calendar/?date=2025-03-05&provider=999999")
    assert len(response.context["columns"]) == 10


def test_an_inactive_physicians_bookings_still_show_on_the_clinic_day(nurse_client, lee, room):
    gone = ProviderFactory(display_name="Dr Gone", is_active=False)
    ProviderFactory(display_name="Dr Idle", is_active=False)  # nothing booked: no column
    AppointmentFactory(provider=gone, room=room, start_at=at(9), end_at=at(10))

    columns = nurse_client.get("/calendar/?date=2025-03-05").context["columns"]

    assert [(c.title, len(c.cards)) for c in columns] == [("Dr Gone", 1), ("Dr Lee", 0)]


@pytest.mark.parametrize("count", [3, 40])
def test_the_clinic_day_view_takes_a_fixed_number_of_queries(
    nurse_client, django_assert_num_queries, lee, room, count
):
    for i in range(count):
        AppointmentFactory(
            provider=ProviderFactory() if i % 3 else lee,
            start_at=at(8) + dt.timedelta(minutes=10 * i),
            end_at=at(8) + dt.timedelta(minutes=10 * i + 10),
        )

    # ... and the one INSERT of the read of the patients shown (issue 15).
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(11):
        response = nurse_client.get("/calendar/?date=2025-03-05")

    assert len(response.context["columns"]) == min(
        10, len({a.provider_id for a in Appointment.objects.all()})
    )


@pytest.mark.parametrize("count", [3, 40])
def test_the_day_sheet_takes_a_fixed_number_of_queries_and_leaves_out_cancellations(
    nurse_client, django_assert_num_queries, lee, room, count
):
    booked = book_many(count, lee, room, day=WED)
    on_wed = [a for a in booked if a.start_at.astimezone(NOW.tzinfo).date() == WED]
    on_wed[0].status = Appointment.Status.CANCELLED
    on_wed[0].save()

    Allergy.objects.create(
        patient=on_wed[-1].patient,
        substance=Allergy.Substance.LATEX,
        reaction="Hives",
        severity=Allergy.Severity.SEVERE,
    )

    # +3 for every patient's alerts at once (allergies, medicines, bloods) and the one
    # INSERT of the read of the patients shown; none of these when nobody is left.
    # +1 the header's site switcher: the active sites (issue 18).
    with django_assert_num_queries(10 if len(on_wed) > 1 else 6):
        response = nurse_client.get(f"/calendar/print/?by=provider&id={lee.pk}&date=2025-03-05")

    assert len(response.context["appointments"]) == len(on_wed) - 1
    html = response.content.decode()
    assert "data-print" in html
    # The printed sheet carries each patient's alerts (the one booked patient left
    # when it is the cancelled one is not on it).
    assert ("Allergy: Latex: Hives (Severe (anaphylaxis))" in html) == (len(on_wed) > 1)


# --- The time grid ---------------------------------------------------------------------


def grid_cell(response, hhmm: str, column: int = 0):
    grid = response.context["grid"]
    return grid.rows[grid.times.index(hhmm)][column]


def test_a_free_time_links_to_the_booking_form_which_suggests_a_room_free_then(
    nurse_client, lee, room, django_assert_max_num_queries
):
    busy_room = RoomFactory(name="A room in use")  # first by name, but held at 10:00
    AppointmentFactory(
        provider=ProviderFactory(), room=busy_room, start_at=at(9, 45), end_at=at(10, 30)
    )
    AppointmentFactory(provider=lee, room=room, start_at=at(9), end_at=at(9, 50))
    WorkingHours.objects.create(provider=lee, weekday=2, starts=dt.time(9), ends=dt.time(17))

    response = nurse_client.get(f"/calendar/?by=provider&id={lee.pk}&date=2025-03-05")

    free = grid_cell(response, "10:00")
    assert free.state == "free"
    assert free.href == f"/appointments/book/?date=2025-03-05&time=10%3A00&provider={lee.pk}"
    assert grid_cell(response, "09:30").state == "busy"
    assert grid_cell(response, "08:00").state == "off"  # before Dr Lee's own hours
    html = response.content.decode()
    assert 'role="grid"' in html and 'role="rowheader"' in html
    assert "Book 10:00" in html
    assert "Not working" in html

    # The booking form opens with them filled in, and the first room free at 10:00
    # (its held set-up and turnover count), asked in a few queries.
    with django_assert_max_num_queries(16):
        form = nurse_client.get(free.href).context["form"]
    assert form.initial["provider"] == lee.pk and form.initial["room"] == room.pk
    assert form.initial["date"] == WED and form.initial["start_time"] == dt.time(10)
    # At 09:45 no room is free: the form leaves the room to choose.
    form = nurse_client.get(free.href.replace("10%3A00", "09%3A45")).context["form"]
    assert "room" not in form.initial


def test_the_booking_form_suggests_only_with_a_free_time_and_one_of_the_two(
    nurse_client, lee, room
):
    book = "/appointments/book/"
    assert "room" not in nurse_client.get(f"{book}?provider={lee.pk}").context["form"].initial
    assert "room" not in (
        nurse_client.get(f"{book}?date=2025-03-05&provider={lee.pk}").context["form"].initial
    )
    other = RoomFactory(name="Procedure room 0")
    chosen = nurse_client.get(
        f"{book}?date=2025-03-05&time=10%3A00&provider={lee.pk}&room={other.pk}"
    ).context["form"]
    assert chosen.initial["room"] == other.pk  # the link's own room is kept


def test_the_grid_draws_buffers_leave_and_the_current_time(
    nurse_client, nurse_user, lee, room, time_machine
):
    time_machine.move_to(at(10, 20), tick=False)
    nurse_client.force_login(nurse_user)  # a new session at the new time
    AppointmentFactory(
        provider=lee,
        room=room,
        start_at=at(11),
        end_at=at(12),
        buffer_before_minutes=10,
        buffer_after_minutes=45,
        sedation_level=SedationLevel.IV_MODERATE,
    )
    Unavailability.objects.create(
        provider=lee, starts_at=at(14), ends_at=at(18), reason=Unavailability.Reason.LEAVE
    )

    response = nurse_client.get(f"/calendar/?view=day&by=room&id={room.pk}&date=2025-03-05")
    blocks = [b.kind for b in grid_cell(response, "10:45").blocks]
    assert blocks == ["setup"]
    assert [b.label for b in grid_cell(response, "12:00").blocks] == [
        "Turnover and recovery 45 min"
    ]
    assert grid_cell(response, "10:15").now == 1  # 10:20 is 5 minutes into the row
    assert grid_cell(response, "09:00").state == "past"
    assert grid_cell(response, "11:30").state == "busy"  # the room is held

    response = nurse_client.get(f"/calendar/?by=provider&id={lee.pk}&date=2025-03-05")
    assert grid_cell(response, "14:00").state == "away"
    assert "08:00-18:00; Away: 14:00-18:00 leave" in response.content.decode()
    # The physician is free again while the room is turned over.
    assert grid_cell(response, "12:00").state == "free"


def test_the_whole_clinic_by_room_has_a_column_per_room(nurse_client, lee, room):
    other = RoomFactory(name="Procedure room 9")
    AppointmentFactory(provider=lee, room=other, start_at=at(9), end_at=at(10))

    response = nurse_client.get("/calendar/?show=rooms&date=2025-03-05")

    assert [c.title for c in response.context["columns"]] == [
        "Procedure room 1",
        "Procedure room 9",
    ]
    assert len(response.context["columns"][1].cards) == 1
    assert grid_cell(response, "11:00", 1).href.endswith(f"&room={other.pk}")


def test_a_free_time_in_a_room_suggests_a_physician_free_then(nurse_client, lee, room):
    # First by name, but busy at 11:00 in another room: the free time suggests Dr Lee.
    busy = ProviderFactory(display_name="Dr Aaron Busy")
    elsewhere = RoomFactory(name="Procedure room 7")
    AppointmentFactory(provider=busy, room=elsewhere, start_at=at(10, 45), end_at=at(11, 30))

    response = nurse_client.get(f"/calendar/?by=room&id={room.pk}&date=2025-03-05")

    cell = grid_cell(response, "11:00")
    assert cell.state == "free"
    assert cell.href.endswith(f"&room={room.pk}")
    at_eleven = nurse_client.get(cell.href).context["form"].initial
    assert (at_eleven["provider"], at_eleven["room"]) == (lee.pk, room.pk)
    at_noon = nurse_client.get(grid_cell(response, "12:00").href).context["form"].initial
    assert at_noon["provider"] == busy.pk


@pytest.mark.parametrize("count", [5, 20])
def test_a_twenty_physician_day_takes_a_fixed_number_of_queries(
    nurse_client, django_assert_num_queries, count
):
    """The day's data in one query-bounded read, whatever the physicians and bookings."""
    doctors = [ProviderFactory(display_name=f"Dr {i:02d}") for i in range(count)]
    for i in range(count * 6):  # six visits a physician, through the day
        start = at(8) + dt.timedelta(minutes=80 * (i // count))
        AppointmentFactory(
            provider=doctors[i % count],
            room=RoomFactory(),
            start_at=start,
            end_at=start + dt.timedelta(minutes=30),
        )

    # +1 the INSERT of the read (issue 15); +1 the site switcher's sites (issue 18).
    # No holds of the rooms (or physicians) a free time would suggest: the booking form
    # suggests one when it opens.
    with django_assert_num_queries(11):
        response = nurse_client.get("/calendar/?date=2025-03-05&page=1")
    with django_assert_num_queries(11):
        nurse_client.get("/calendar/?show=rooms&date=2025-03-05")
    with django_assert_num_queries(11):
        twenty = nurse_client.get("/calendar/?date=2025-03-05&per_page=20")

    assert len(response.context["grid"].columns) == min(10, count)
    assert len(twenty.context["grid"].columns) == count


def test_the_whole_clinics_day_is_ten_or_twenty_physicians_a_page(nurse_client):
    for i in range(25):
        ProviderFactory(display_name=f"Dr {i:02d}")

    ten = nurse_client.get("/calendar/?date=2025-03-05")
    html = ten.content.decode()
    assert [c.title for c in ten.context["grid"].columns][-1] == "Dr 09"
    assert "physicians 1 to 10 of 25" in html
    assert "Physicians a page" in html
    assert 'href="/calendar/?view=day&amp;by=clinic&amp;date=2025-03-05&amp;per_page=20"' in html

    twenty = nurse_client.get("/calendar/?date=2025-03-05&per_page=20&page=2")
    html = twenty.content.decode()
    assert [c.title for c in twenty.context["grid"].columns] == [f"Dr {i}" for i in range(20, 25)]
    assert "physicians 21 to 25 of 25" in html
    # Paging, the days and the "Show" form keep the choice.
    assert twenty.context["links"]["previous"].endswith("date=2025-03-04&page=2&per_page=20")
    assert 'name="per_page" value="20"' in html
    assert twenty.context["previous_providers"].endswith("page=1&per_page=20")

    # Anything else is the default ten (no error page).
    for odd in ("7", "abc", "-1", "1000000"):
        page = nurse_client.get(f"/calendar/?date=2025-03-05&per_page={odd}")
        assert page.status_code == 200
        assert len(page.context["grid"].columns) == 10


def test_a_clinic_of_ten_or_fewer_offers_no_page_size(nurse_client):
    for i in range(3):
        ProviderFactory(display_name=f"Dr {i:02d}")
    assert (
        "Physicians a page" not in nurse_client.get("/calendar/?date=2025-03-05").content.decode()
    )


def test_the_holds_are_read_once_for_each_kind_the_rooms_from_their_index_alone(lee, room):
    visit = AppointmentFactory(
        provider=lee,
        room=room,
        start_at=at(11),
        end_at=at(12),
        buffer_before_minutes=10,
        buffer_after_minutes=45,
    )
    AppointmentFactory(
        provider=lee, room=room, start_at=at(13), end_at=at(14), status=Appointment.Status.NO_SHOW
    )

    with CaptureQueriesContext(connection) as rooms_only:
        holds = holds_load(start=at(8), end=at(18), providers=[], rooms=[room])

    # The room is held from set-up to the end of turnover; the no-show holds nothing.
    assert [(h.kind, h.resource_id, h.start, h.end) for h in holds] == [
        ("room", room.pk, at(10, 50).timestamp(), at(12, 45).timestamp())
    ]
    # One read, of the values `appt_room_active_idx` holds (no row of the table needed).
    [read] = rooms_only.captured_queries
    asked = read["sql"].split(" WHERE ")[0]
    assert "room_id" in asked and "blocked_from" in asked and "blocked_until" in asked
    assert "provider_id" not in asked and "start_at" not in asked and "end_at" not in asked

    with CaptureQueriesContext(connection) as both:
        holds = holds_load(start=at(8), end=at(18), providers=[lee], rooms=[room])
    assert len(both.captured_queries) == 2
    # The physician is held for the procedure alone.
    assert ("provider", lee.pk, at(11).timestamp(), at(12).timestamp()) in [
        (h.kind, h.resource_id, h.start, h.end) for h in holds
    ]
    assert visit.blocked_from == at(10, 50)
    # Only the holds that meet the time asked: the turnover to 12:45 meets 12:30.
    assert [
        h.start for h in holds_load(start=at(12, 30), end=at(12, 45), providers=[], rooms=[room])
    ] == [at(10, 50).timestamp()]
    assert holds_load(start=at(12, 45), end=at(13), providers=[lee], rooms=[room]) == []
