"""The front desk's today board: arrivals by time with status, flags linking to their
fix, a page at a time with filters (counts always for the whole day), counts for the
navigation, a fixed number of queries."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.paginator import Paginator

from patients.models import BloodResult, Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.models import Reminder
from procedures.prep.models import ChecklistItem, ChecklistTick, PrepPlan
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    AppointmentFactory,
    ProviderFactory,
    ReminderFactory,
    RoomFactory,
)
from procedures.today import board, paging

TODAY = dt.date(2025, 3, 5)
NOW = clinic_datetime(TODAY, dt.time(7, 30))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, minute: int = 0, day: dt.date = TODAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour, minute))


def visit(hour, *, family="Garcia", ready=False, on_warfarin=True, bleeding=True, **extra):
    """An appointment today; by default its patient takes a blood thinner (a hold plan
    to confirm) and has a bleeding disorder (blood tests before the procedure)."""
    extra.setdefault("sedation_level", SedationLevel.LOCAL)
    patient = PatientFactory(family_name=family, given_name="Ann", bleeding_disorder=bleeding)
    if on_warfarin:
        Medication.objects.create(
            patient=patient, name="Warfarin", med_class=Medication.Class.ANTICOAGULANT
        )
    appointment = AppointmentFactory(
        patient=patient,
        start_at=at(hour),
        end_at=at(hour) + dt.timedelta(minutes=45),
        **extra,
    )
    if ready:  # everything the board checks is done
        BloodResult.objects.create(
            patient=patient, taken_on=TODAY, platelets=210, inr=Decimal("1.1"), recorded_by=None
        )
        PrepPlan.objects.create(appointment=appointment, hold_plan_confirmed_at=NOW)
        ChecklistTick.objects.create(
            appointment=appointment, item=ChecklistItem.LABS_BACK, by=appointment_user(), at=NOW
        )
    return appointment


def appointment_user():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="nurse-ticks")[0]


def test_it_lists_todays_arrivals_by_time_with_their_status(frontdesk_client):
    later = visit(11, family="Okafor", ready=True)
    first = visit(9, family="Garcia", ready=True, status=Appointment.Status.CONFIRMED)
    visit(10, family="Cancelled", status=Appointment.Status.CANCELLED)
    tomorrow = TODAY + dt.timedelta(days=1)
    AppointmentFactory(start_at=at(9, day=tomorrow), end_at=at(10, day=tomorrow))

    response = frontdesk_client.get("/today/")

    assert [a.pk for a in response.context["rows"]] == [first.pk, later.pk]
    html = response.content.decode()
    assert "Cancelled, Ann" not in html
    assert ">Confirmed</span>" in html
    assert "2 appointments today." in html
    assert "Arrivals 1 to 2 of 2." in html
    assert 'aria-label="Pages of the day, by time"' not in html  # one page: no pager


def test_each_flag_links_to_where_it_is_fixed(frontdesk_client):
    sedated = visit(9, sedation_level=SedationLevel.IV_MODERATE)
    ReminderFactory(appointment=sedated, status=Reminder.Status.FAILED)

    [row] = frontdesk_client.get("/today/").context["rows"]

    prep = f"/appointments/{sedated.pk}/prep/"
    assert [(f.code, f.text, f.url) for f in row.flags] == [
        ("escort", "Escort not confirmed", f"{prep}#transport"),
        ("hold_thinner", "Hold plan not confirmed (blood thinner)", f"{prep}#holds"),
        ("reminder", "An email to the patient failed", f"/appointments/{sedated.pk}/"),
        (
            "inr",
            "No recent INR (blood thinner or bleeding disorder)",
            f"/patients/{sedated.patient_id}/clinical/",
        ),
    ]


def test_it_flags_an_anticoagulated_patient_without_a_recent_inr(frontdesk_client):
    warfarin = visit(9, bleeding=False)
    BloodResult.objects.create(
        patient=warfarin.patient, taken_on=TODAY, platelets=210, recorded_by=None
    )

    [row] = frontdesk_client.get("/today/").context["rows"]

    assert "inr" in row.flag_codes
    BloodResult.objects.create(
        patient=warfarin.patient, taken_on=TODAY, inr=Decimal("2.4"), recorded_by=None
    )
    [row] = frontdesk_client.get("/today/").context["rows"]
    assert "inr" not in row.flag_codes
    assert [f.text for f in row.flags if f.code == "bloods"] == [
        "Platelets or INR out of the clinic's range"
    ]


def test_bloods_in_range_leave_the_checklist_tick_to_chase(frontdesk_client):
    bleeding = visit(9, on_warfarin=False)
    BloodResult.objects.create(
        patient=bleeding.patient,
        taken_on=TODAY,
        platelets=210,
        inr=Decimal("1.0"),
        recorded_by=None,
    )

    [row] = frontdesk_client.get("/today/").context["rows"]

    assert [f.code for f in row.flags] == ["labs"]


def test_it_asks_for_holds_and_blood_tests_only_where_the_patient_needs_them(
    frontdesk_client,
):
    visit(9, on_warfarin=False, bleeding=False)

    [row] = frontdesk_client.get("/today/").context["rows"]

    assert row.flags == []


def test_a_ready_patient_has_no_flags(frontdesk_client):
    visit(9, ready=True, sedation_level=SedationLevel.IV_MODERATE, escort_confirmed_at=NOW)

    [row] = frontdesk_client.get("/today/").context["rows"]

    assert row.flags == []


def test_the_front_desk_checks_in_from_the_board(frontdesk_client):
    appointment = visit(9, ready=True)
    board = frontdesk_client.get("/today/").content.decode()
    # Every row's button submits one shared form (one CSRF token for the page) to its
    # own appointment's check-in, and the form brings the desk back to the same board.
    assert f'form="board-check-in" formaction="/appointments/{appointment.pk}/check-in/"' in board
    assert '<form id="board-check-in" method="post" action="/today/">' in board
    assert '<input type="hidden" name="next" value="/today/">' in board

    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/check-in/", {"next": "/today/"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/today/"
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
    assert "Patient checked in." in response.content.decode()


def test_the_check_in_form_never_sends_anyone_off_site(frontdesk_client):
    appointment = visit(9, ready=True)

    response = frontdesk_client.post(
        f"/appointments/{appointment.pk}/check-in/", {"next": "https://evil.example/"}
    )

    assert response["Location"] == f"/appointments/{appointment.pk}/"


def test_the_navigation_counts_expected_arrivals_and_flags(frontdesk_client):
    visit(9, ready=True)
    visit(10)  # flagged: prep and labs
    visit(11, ready=True, status=Appointment.Status.CHECKED_IN)

    html = frontdesk_client.get("/today/counts/").content.decode()

    assert "2 expected · 1 to fix" in html
    page = frontdesk_client.get("/today/").content.decode()
    assert 'hx-get="/today/counts/" hx-trigger="load"' in page


def busy_day(count: int, **extra) -> list[Appointment]:
    """`count` arrivals five minutes apart from 08:00."""
    booked = []
    for i in range(count):
        start = at(8) + dt.timedelta(minutes=5 * i)
        booked.append(
            AppointmentFactory(start_at=start, end_at=start + dt.timedelta(minutes=5), **extra)
        )
    return booked


def test_the_days_pages_come_in_time_order_then_booking_order_with_their_ends():
    # Booked out of order; two at 09:30 (booking order breaks the tie).
    late = AppointmentFactory(start_at=at(14, 10), end_at=at(14, 40))
    first_930 = AppointmentFactory(start_at=at(9, 30), end_at=at(10))
    early = AppointmentFactory(start_at=at(8, 5), end_at=at(8, 35))
    second_930 = AppointmentFactory(start_at=at(9, 30), end_at=at(10))
    AppointmentFactory(start_at=at(11), end_at=at(11, 30), status=Appointment.Status.CANCELLED)

    day = paging.PageEnds(board.day_appointments(day=TODAY))

    assert len(day) == 4
    assert list(day[:4]) == [early.pk, first_930.pk, second_930.pk, late.pk]
    assert list(day[1:3]) == [first_930.pk, second_930.pk]
    # A page's first and last visits (here the one page's): all the pager asks for.
    assert (day[0].start_at, day[3].start_at, day[-1].start_at) == (
        at(8, 5),
        at(14, 10),
        at(14, 10),
    )


def test_a_day_of_pages_is_read_in_one_query_and_a_page_in_another(
    django_assert_num_queries,
):
    busy_day(120)

    with django_assert_num_queries(1):  # its pages' ends and its last visit
        day = paging.PageEnds(board.day_appointments(day=TODAY))
    with django_assert_num_queries(1):  # a page, read on from its first visit
        third = list(day[100:150])

    assert len(day) == 120 and len(third) == 20
    assert [day[i].start_at for i in (0, 49, 50, 99, 100, 119)] == [
        at(8) + dt.timedelta(minutes=5 * i) for i in (0, 49, 50, 99, 100, 119)
    ]
    assert list(day.from_visit(120)) == list(day.from_visit(-1)) == []  # past the day's ends


def test_the_pager_names_the_pages_read_from_the_database_as_from_the_whole_list(
    monkeypatch,
):
    # Five a page: a first page, three pages all at 10:20 (told apart), a last of one.
    monkeypatch.setattr(paging, "PER_PAGE", 5)
    busy_day(5)
    for _ in range(15):
        AppointmentFactory(start_at=at(10, 20), end_at=at(10, 50))
    AppointmentFactory(start_at=at(10, 40), end_at=at(11, 10))
    whole = list(board.day_appointments(day=TODAY).order_by("start_at", "pk"))

    ends = paging.PageEnds(board.day_appointments(day=TODAY))

    assert len(ends) == len(whole) == 21
    for number in range(1, 6):
        from_db = paging.page_links(ends, Paginator(ends, 5).get_page(number))
        assert from_db == paging.page_links(whole, Paginator(whole, 5).get_page(number))
    assert [label for _n, label, _c in from_db] == [
        "08:00\u201308:20",
        "10:20, part 1",
        "10:20, part 2",
        "10:20, part 3",
        "10:40",
    ]
    assert list(Paginator(ends, 5).get_page(3).object_list) == [v.pk for v in whole[10:15]]


def test_a_busy_day_is_shown_fifty_arrivals_a_page_with_the_whole_days_counts(
    frontdesk_client,
):
    busy_day(60, sedation_level=SedationLevel.IV_MODERATE)  # escorts not confirmed

    first = frontdesk_client.get("/today/")
    second = frontdesk_client.get("/today/?page=2")

    assert len(first.context["rows"]) == 50
    assert len(second.context["rows"]) == 10
    for html in (first.content.decode(), second.content.decode()):
        assert "60 appointments today. 60 still expected. 60 need something fixed." in html
        # Each page is named by the times it covers.
        assert ">08:00\u201312:05</a>" in html
        assert ">12:10\u201312:55</a>" in html
    # Each page's rows carry their own flags (read for the page shown).
    assert all(a.flags for a in second.context["rows"])
    assert "Arrivals 51 to 60 of 60." in second.content.decode()
    assert 'href="?page=2" aria-current="page">12:10' in second.content.decode()


def test_the_board_opens_on_the_page_of_the_arrivals_due_now(
    frontdesk_client, frontdesk_user, time_machine
):
    booked = busy_day(60)
    time_machine.move_to(at(12, 45), tick=False)  # 12:15 and later are still due
    frontdesk_client.force_login(frontdesk_user)  # the morning's session has timed out

    rows = frontdesk_client.get("/today/").context["rows"]

    assert rows[0].pk == booked[50].pk  # page 2; 12:10 is on it too
    assert [a.pk for a in frontdesk_client.get("/today/?page=1").context["rows"]] == [
        a.pk for a in booked[:50]
    ]


def test_a_visit_due_half_an_hour_ago_is_still_on_the_page_the_board_opens_on(
    frontdesk_client, frontdesk_user, time_machine
):
    booked = busy_day(60)  # the 50th, last of page 1, at 12:05
    time_machine.move_to(at(12, 35), tick=False)  # 12:05 is LATE_BY ago: still at the door
    frontdesk_client.force_login(frontdesk_user)

    rows = frontdesk_client.get("/today/").context["rows"]

    assert rows[-1].pk == booked[49].pk


def test_filters_narrow_the_rows_but_the_counts_stay_the_days(frontdesk_client):
    lee, adeyemi = ProviderFactory(display_name="Dr Lee"), ProviderFactory(display_name="Dr Ade")
    room_1, room_2 = RoomFactory(name="Room 1"), RoomFactory(name="Room 2")
    lees = visit(9, family="Garcia", ready=True, provider=lee, room=room_1)
    visit(10, family="Okafor", provider=adeyemi, room=room_2)  # flagged: prep and labs
    arrived = visit(
        11, family="Khan", ready=True, provider=adeyemi, room=room_1, status="checked_in"
    )

    def shown(query: str) -> list[int]:
        response = frontdesk_client.get(f"/today/?{query}")
        assert "3 appointments today. 2 still expected. 1 needs something fixed." in (
            response.content.decode()
        )
        return [a.pk for a in response.context["rows"]]

    assert shown(f"provider={lee.pk}") == [lees.pk]
    assert shown(f"room={room_1.pk}") == [lees.pk, arrived.pk]
    assert shown("status=to_fix") != [] and len(shown("status=to_fix")) == 1
    assert shown("status=checked_in") == [arrived.pk]
    assert shown("status=expected") == [lees.pk, shown("status=to_fix")[0]]
    assert shown(f"provider={adeyemi.pk}&room={room_1.pk}") == [arrived.pk]
    # A value that is not one of today's is ignored, not an error.
    assert len(shown("provider=999999&status=nonsense&page=x")) == 3


def test_the_filters_offer_the_sites_physicians_and_rooms_and_keep_the_choice(frontdesk_client):
    lee = ProviderFactory(display_name="Dr Lee")
    visit(9, provider=lee, room=RoomFactory(name="Room 1"))
    visit(10, provider=ProviderFactory(display_name="Dr Ade"), room=RoomFactory(name="Room 2"))
    ProviderFactory(display_name="Dr Idle")  # no visit today: still a choice, nobody shown
    idle_room = RoomFactory(name="Room 3")

    html = frontdesk_client.get(f"/today/?provider={lee.pk}").content.decode()
    nobody = frontdesk_client.get(f"/today/?room={idle_room.pk}").content.decode()

    assert '<label class="form-label" for="board-provider">Physician</label>' in html
    assert f'<option value="{lee.pk}" selected>Dr Lee</option>' in html
    assert html.index(">Dr Ade<") < html.index(">Dr Lee<")  # by name
    assert ">Room 2</option>" in html
    assert ">Dr Idle</option>" in html and ">Room 3</option>" in html
    assert "No arrival today matches these filters." in nobody
    assert '<a class="btn btn-link" href="/today/">Show everyone</a>' in html
    # Checking someone in comes back to the same filtered board.
    assert f'name="next" value="/today/?provider={lee.pk}"' in html


def test_every_value_on_the_board_is_escaped(frontdesk_client):
    patient = PatientFactory(family_name="O'Brien & Co", given_name="<b>Ann</b>")
    AppointmentFactory(
        patient=patient,
        provider=ProviderFactory(display_name="Dr <i>Lee</i>"),
        start_at=at(9),
        end_at=at(10),
    )

    html = frontdesk_client.get("/today/").content.decode()

    assert ">O&#x27;Brien &amp; Co, &lt;b&gt;Ann&lt;/b&gt;</a>" in html
    assert ">Dr &lt;i&gt;Lee&lt;/i&gt;</option>" in html
    assert "<b>Ann</b>" not in html and "<i>Lee</i>" not in html


def test_a_filter_that_matches_no_one_says_so(frontdesk_client):
    visit(9)

    response = frontdesk_client.get("/today/?status=no_show")

    assert response.context["rows"] == []
    html = response.content.decode()
    assert "No arrival today matches these filters." in html
    assert "1 appointment today." in html


def test_an_empty_day_says_so_without_filters(frontdesk_client):
    html = frontdesk_client.get("/today/").content.decode()

    assert "No appointments today." in html
    assert 'id="board-provider"' not in html


@pytest.mark.parametrize("count", [3, 60])
@pytest.mark.parametrize("bleeding", [False, True])
def test_the_board_takes_a_fixed_number_of_queries(
    frontdesk_client, django_assert_num_queries, count, bleeding
):
    extra = {"patient": PatientFactory(bleeding_disorder=True)} if bleeding else {}
    for a in busy_day(count, **extra):
        ReminderFactory(appointment=a, status=Reminder.Status.FAILED)

    # 11: session, user, roles; the filters' physicians and rooms (the site's, from
    # their tables); the day's length and its pages' ends (one query); the page's rows,
    # read on from its first visit, with what the escort, prep, email and checklist
    # flags need to know (one query: an EXISTS each) and their patients' active
    # medicines (one query); earlier days' visits not ended (results loop); the read
    # (one INSERT: the page's patients are on its rows); the header's site switcher
    # (the active sites). +1 when anyone on the page needs platelets and INR judged
    # (bleeding disorder or blood thinner): their recent blood results. The day's
    # counts come from the navigation's cache: the first request after a change works
    # them out (+2, +3 with bloods: the whole day's flags).
    with django_assert_num_queries(15 if bleeding else 13):
        frontdesk_client.get("/today/")
    with django_assert_num_queries(12 if bleeding else 11):
        response = frontdesk_client.get("/today/")

    assert len(response.context["rows"]) == min(count, 50)
    assert all(a.flags for a in response.context["rows"])


@pytest.mark.parametrize("count", [3, 60])
def test_the_navigation_counts_take_a_fixed_number_of_queries_then_come_from_the_cache(
    frontdesk_client, django_assert_num_queries, count
):
    busy_day(count)

    # Session, user, roles, the day's arrivals with their flags and their patients'
    # medicines (no one needs bloods judged here: that would be one more, as on the
    # board).
    with django_assert_num_queries(5):
        html = frontdesk_client.get("/today/counts/").content.decode()
    assert f"{count} expected" in html
    with django_assert_num_queries(3):  # session, user, roles: the counts are cached
        html = frontdesk_client.get("/today/counts/").content.decode()
    assert f"{count} expected" in html


def test_the_cached_navigation_counts_follow_a_check_in(frontdesk_client):
    first, *_rest = busy_day(3)
    assert "3 expected" in frontdesk_client.get("/today/counts/").content.decode()

    first.status = Appointment.Status.CHECKED_IN
    first.save()

    assert "2 expected" in frontdesk_client.get("/today/counts/").content.decode()


def test_the_boards_counts_are_the_navigations_and_follow_a_change(frontdesk_client):
    first, *_rest = busy_day(3, sedation_level=SedationLevel.IV_MODERATE)
    html = frontdesk_client.get("/today/").content.decode()
    assert "3 appointments today. 3 still expected. 3 need something fixed." in html
    assert "3 expected · 3 to fix" in frontdesk_client.get("/today/counts/").content.decode()

    first.status = Appointment.Status.CHECKED_IN
    first.escort_confirmed_at = NOW
    first.save()

    html = frontdesk_client.get("/today/").content.decode()
    assert "3 appointments today. 2 still expected. 2 need something fixed." in html
    assert "2 expected · 2 to fix" in frontdesk_client.get("/today/counts/").content.decode()


def test_an_unconfirmed_blood_thinner_hold_plan_is_flagged_with_its_fix(frontdesk_client):
    """A patient on apixaban due today, the hold plan not confirmed: said in the prep
    page's words, linking to the hold plan (the old "Preparation not acknowledged" did
    not say what)."""
    patient = PatientFactory(bleeding_disorder=False)
    Medication.objects.create(
        patient=patient, name="Apixaban", med_class=Medication.Class.ANTICOAGULANT
    )
    apixaban = AppointmentFactory(patient=patient, start_at=at(9), end_at=at(10))
    other = PatientFactory(bleeding_disorder=False)
    Medication.objects.create(patient=other, name="Metformin", med_class=Medication.Class.OTHER)
    metformin = AppointmentFactory(patient=other, start_at=at(10), end_at=at(11))

    rows = {a.pk: a for a in frontdesk_client.get("/today/").context["rows"]}

    prep = f"/appointments/{apixaban.pk}/prep/"
    assert ("Hold plan not confirmed (blood thinner)", f"{prep}#holds") in [
        (f.text, f.url) for f in rows[apixaban.pk].flags
    ]
    assert "Hold plan not confirmed" in [f.text for f in rows[metformin.pk].flags]
    html = frontdesk_client.get("/today/").content.decode()
    assert f'href="{prep}#holds">Hold plan not confirmed (blood thinner)' in html
    PrepPlan.objects.create(appointment=apixaban, hold_plan_confirmed_at=NOW)
    [row] = [a for a in frontdesk_client.get("/today/").context["rows"] if a.pk == apixaban.pk]
    assert not [f for f in row.flags if f.code.startswith("hold")]


def test_every_role_that_may_check_in_sees_the_button(client, nurse_user, physician_user):
    appointment = visit(9, ready=True)
    check_in = f'formaction="/appointments/{appointment.pk}/check-in/"'
    for user in (nurse_user, physician_user):
        client.force_login(user)
        html = client.get("/today/").content.decode()
        assert check_in in html, user
        assert 'id="board-check-in"' in html

    client.force_login(nurse_user)
    response = client.post(f"/appointments/{appointment.pk}/check-in/", {"next": "/today/"})
    assert response["Location"] == "/today/"
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CHECKED_IN
