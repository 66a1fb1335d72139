"""The hours and leave page (procedures/scheduling/views/hours.py) through the client:
clinic admins only, a warning listing the visits before anything is saved, the visits
to move listed after, bad input refused on the page."""

import datetime as dt

import pytest

from clinic.models import ReadAccess
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.hours import Unavailability, WorkingHours
from procedures.tests.factories import AppointmentFactory, ProviderFactory, RoomFactory

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(7, 0))  # Monday
MONDAY = dt.date(2025, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def lee():
    return ProviderFactory(display_name="Dr Lee")


@pytest.fixture
def visit(lee):
    return AppointmentFactory(
        provider=lee,
        start_at=clinic_datetime(MONDAY, dt.time(9)),
        end_at=clinic_datetime(MONDAY, dt.time(10)),
        patient__family_name="Okafor",
    )


def text(response) -> str:
    return " ".join(response.content.decode().split())


def own_hours(**sessions) -> dict:
    """The hours form's data: own hours with the given 'd<day>_s<n>_<from|until>'."""
    return {"mode": "own", "action": "save", **sessions}


def test_only_clinic_admins_open_it(client, frontdesk_user, physician_user, admin_user, lee):
    for user, code in ((frontdesk_user, 403), (physician_user, 403), (admin_user, 200)):
        client.force_login(user)
        assert client.get("/hours/").status_code == code
        assert client.get(f"/hours/physician/{lee.pk}/").status_code == code


def test_the_list_states_clinic_default_or_own_hours(admin_client, lee):
    room = RoomFactory(name="Procedure room 1")
    WorkingHours.objects.create(room=room, weekday=6, starts=dt.time(9), ends=dt.time(12))

    page = text(admin_client.get("/hours/"))

    lee_row = page[page.index("Dr Lee</a>") :][:200]
    assert "Clinic default</span> Mon-Fri 08:00-18:00" in lee_row
    assert "Own hours</span> Sun 09:00-12:00" in page
    assert 'href="/hours/">Hours and leave</a>' in page  # in the navigation's Manage menu


def test_own_hours_start_from_a_copy_of_the_default(admin_client, lee):
    page = admin_client.get(f"/hours/physician/{lee.pk}/")
    form = page.context["form"]

    assert form["mode"].value() == "default"
    assert form["d0_s1_from"].value() == dt.time(8)
    assert form["d4_s1_until"].value() == dt.time(18)
    assert form["d5_s1_from"].value() is None


def test_saving_hours_that_strand_a_visit_warns_first_and_saves_nothing(admin_client, lee, visit):
    response = admin_client.post(
        f"/hours/physician/{lee.pk}/", own_hours(d6_s1_from="09:00", d6_s1_until="12:00")
    )

    assert response.status_code == 200
    page = text(response)
    assert "would leave 1 booked visit outside hours. Nothing is saved yet." in page
    assert "Okafor" in page and "not working on Monday" in page
    assert f'name="confirm" value="{visit.pk}"' in page
    assert "Cancel: save nothing" in page
    assert "as proposed (not saved)" in page
    assert not WorkingHours.objects.exists()
    assert ReadAccess.objects.of_record("patients.patient", visit.patient_id).exists()


def test_once_confirmed_it_saves_and_lists_the_visits_to_move(admin_client, lee, visit):
    response = admin_client.post(
        f"/hours/physician/{lee.pk}/",
        {**own_hours(d6_s1_from="09:00", d6_s1_until="12:00"), "confirm": [visit.pk]},
    )

    assert response.status_code == 302
    assert WorkingHours.objects.filter(provider=lee, weekday=6).count() == 1
    page = text(admin_client.get(response["Location"]))
    assert "1 booked visit(s) are now outside hours: move them." in page
    assert "Visits to move" in page
    assert f'href="/appointments/{visit.pk}/"' in page
    # Shown once: the list belongs to the page that follows the save.
    assert "Visits to move" not in text(admin_client.get(response["Location"]))


def test_a_preview_shows_the_week_and_the_warning_without_saving(admin_client, lee, visit):
    response = admin_client.post(
        f"/hours/physician/{lee.pk}/",
        {
            **own_hours(d6_s1_from="09:00", d6_s1_until="12:00"),
            "action": "preview",
            "week": MONDAY.isoformat(),
        },
    )

    page = text(response)
    assert "The week of 10 March 2025, as proposed (not saved)" in page
    assert "Monday 10 Mar</th> <td>Not working</td>" in page
    assert "Sunday 16 Mar</th> <td>09:00-12:00</td>" in page
    assert "not working on Monday" in page
    assert not WorkingHours.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            own_hours(d0_s1_from="18:00", d0_s1_until="08:00"),
            "Monday: a session must end after it starts (18:00-08:00).",
        ),
        (own_hours(d0_s1_from="08:00"), "Give both the start and the end."),
        (own_hours(), "Own hours need at least one session."),
        (own_hours(d0_s1_from="8 o'clock", d0_s1_until="12:00"), "Enter a valid time."),
    ],
    ids=["end-before-start", "no-end", "no-session", "not-a-time"],
)
def test_bad_hours_are_refused_on_the_page(admin_client, lee, data, message):
    response = admin_client.post(f"/hours/physician/{lee.pk}/", data)

    assert response.status_code == 400
    assert "The hours were not saved." in text(response)
    assert message in text(response)
    assert not WorkingHours.objects.exists()


def test_leave_over_a_visit_is_confirmed_before_it_is_saved(admin_client, lee, visit):
    data = {
        "leave-starts_on": MONDAY.isoformat(),
        "leave-ends_on": (MONDAY + dt.timedelta(days=4)).isoformat(),
        "leave-reason": "leave",
        "leave-note": "Half term",
    }
    warned = admin_client.post(f"/hours/physician/{lee.pk}/leave/", data)
    assert warned.status_code == 200
    assert "Saving this leave would leave 1 booked visit outside hours" in text(warned)
    assert "Away: Leave, Mon 10 Mar to Fri 14 Mar (whole days)" in text(warned)
    assert not Unavailability.objects.exists()

    saved = admin_client.post(f"/hours/physician/{lee.pk}/leave/", {**data, "confirm": visit.pk})
    assert saved.status_code == 302
    leave = Unavailability.objects.get()
    assert (leave.provider, leave.reason, leave.note) == (lee, "leave", "Half term")

    removed = admin_client.post(f"/hours/physician/{lee.pk}/leave/{leave.pk}/remove/")
    assert removed.status_code == 302
    assert not Unavailability.objects.exists()


def test_leave_ending_before_it_starts_is_refused_on_the_page(admin_client, lee):
    response = admin_client.post(
        f"/hours/physician/{lee.pk}/leave/",
        {
            "leave-starts_on": "2025-03-12",
            "leave-ends_on": "2025-03-11",
            "leave-reason": "leave",
        },
    )
    assert response.status_code == 400
    assert "The leave must end after it starts." in text(response)
    assert not Unavailability.objects.exists()


def test_an_unknown_kind_or_resource_is_not_found(admin_client, lee):
    assert admin_client.get(f"/hours/patient/{lee.pk}/").status_code == 404
    assert admin_client.get("/hours/room/999999/").status_code == 404


def test_the_pages_read_a_fixed_number_of_queries(admin_client, django_assert_num_queries):
    for n in range(3):
        WorkingHours.objects.create(
            provider=ProviderFactory(), weekday=n, starts=dt.time(9), ends=dt.time(12)
        )
        RoomFactory()
    lee = ProviderFactory()
    # +1 each: the header's site switcher reads the sites (issue 18); +1 on the list:
    # the sites its closure forms offer.
    with django_assert_num_queries(10):
        admin_client.get("/hours/")
    # +2 on a physician's page: the sites they list and, listing none, every active
    # site: whose clocks the page and their leave are on (invariant 19).
    with django_assert_num_queries(13):
        admin_client.get(f"/hours/physician/{lee.pk}/")
