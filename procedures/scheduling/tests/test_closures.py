"""Clinic holidays on the hours page (procedures/scheduling/closures.py): a closure of
one site or every site, a site's public holidays in one go, the booked visits a closure
falls on listed before anything is saved, bookings refused on a closed day, bad input
refused in words, and the Django admin read-only."""

import datetime as dt
import html

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ClinicHoliday
from procedures.scheduling import closures
from procedures.scheduling.hours_admin import HoursNeedConfirmation
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
)
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(7, 0))  # Monday
MONDAY = dt.date(2025, 3, 10)
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture
def north():
    return SiteFactory(code="north", name="North clinic")


@pytest.fixture
def north_visit(north):
    return AppointmentFactory(
        room=RoomFactory(site=north, name="North room 1"),
        start_at=clinic_datetime(MONDAY, dt.time(9)),
        end_at=clinic_datetime(MONDAY, dt.time(10)),
        patient__family_name="Okafor",
    )


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_a_closure_on_booked_visits_saves_nothing_until_they_are_confirmed(
    north, north_visit, admin_user
):
    training = [(MONDAY, "Staff training")]
    with pytest.raises(HoursNeedConfirmation) as need:
        closures.closures_add(days=training, site=north, confirmed=[], by=admin_user)

    [affected] = need.value.affected
    assert affected.appointment == north_visit
    assert affected.reason == "North clinic is closed that day (Staff training)"
    assert not ClinicHoliday.objects.exists()

    made, moved = closures.closures_add(
        days=training, site=north, confirmed=[north_visit.pk], by=admin_user
    )
    assert [(c.date, c.name, c.site) for c in made] == [(MONDAY, "Staff training", north)]
    assert [a.appointment for a in moved] == [north_visit]
    entry = LogEntry.objects.get_for_object(made[0]).get()
    assert entry.actor == admin_user


def test_a_sites_closure_lists_only_that_sites_visits_and_the_networks_lists_all(
    north, north_visit, admin_user
):
    elsewhere = AppointmentFactory(
        start_at=clinic_datetime(MONDAY, dt.time(11)), end_at=clinic_datetime(MONDAY, dt.time(12))
    )
    other = SiteFactory(code="south", name="South clinic")

    assert (
        closures.closures_add(days=[(MONDAY, "Flood")], site=other, confirmed=[], by=admin_user)[1]
        == []
    )
    with pytest.raises(HoursNeedConfirmation) as need:
        closures.closures_add(days=[(MONDAY, "Strike")], site=None, confirmed=[], by=admin_user)
    assert {a.appointment for a in need.value.affected} == {north_visit, elsewhere}


def test_a_booking_on_a_closed_day_is_refused_in_words(north, admin_user):
    room = RoomFactory(site=north, name="North room 1")
    closures.closures_add(
        days=[(MONDAY, "Staff training")], site=north, confirmed=[], by=admin_user
    )

    with pytest.raises(ValidationError) as refused:
        visits.appointment_book(
            patient=PatientFactory(),
            procedure_type=ProcedureTypeFactory(),
            provider=ProviderFactory(),
            room=room,
            start_at=clinic_datetime(MONDAY, dt.time(10)),
            end_at=clinic_datetime(MONDAY, dt.time(11)),
            sedation_level=SedationLevel.LOCAL,
            by=admin_user,
        )
    assert "closed on Monday 10 March 2025 (Staff training)" in " ".join(refused.value.messages)


def test_a_past_day_or_no_name_is_refused_and_a_day_already_closed_is_skipped(north, admin_user):
    with pytest.raises(ValidationError) as past:
        closures.closures_add(
            days=[(dt.date(2025, 3, 1), "Late")], site=north, confirmed=[], by=admin_user
        )
    assert past.value.message_dict["date"] == [
        "1 March 2025 is in the past: a closure is for today or later."
    ]
    with pytest.raises(ValidationError) as nameless:
        closures.closures_add(days=[(MONDAY, "  ")], site=north, confirmed=[], by=admin_user)
    assert "name" in nameless.value.message_dict
    closures.closures_add(days=[(MONDAY, "Strike")], site=None, confirmed=[], by=admin_user)
    made, _moved = closures.closures_add(
        days=[(MONDAY, "Training")], site=north, confirmed=[], by=admin_user
    )
    assert made == []  # every site is already closed that day
    assert ClinicHoliday.objects.count() == 1


def test_a_sites_public_holidays_come_from_its_country_and_region(north):
    north.holidays_country, north.holidays_subdivision = "GB", "SCT"
    days = dict(closures.public_holidays_of(north, 2025))
    assert days[dt.date(2025, 1, 2)] == "New Year Holiday"  # Scotland's second of January
    assert dt.date(2025, 12, 25) in days
    north.holidays_country = ""
    assert closures.public_holidays_of(north, 2025) == []


# --- The page ---------------------------------------------------------------------------


def test_only_clinic_admins_add_or_remove_closures(client, frontdesk_user, physician_user):
    closure = ClinicHoliday.objects.create(date=MONDAY, name="Strike")
    for user in (frontdesk_user, physician_user):
        client.force_login(user)
        data = {"closure-date": "2025-03-11", "closure-name": "Training", "closure-site": ""}
        assert client.post("/hours/closures/add/", data).status_code == 403
        assert client.post(f"/hours/closures/{closure.pk}/remove/").status_code == 403
    assert ClinicHoliday.objects.count() == 1


def test_the_page_warns_then_saves_then_lists_the_visits_to_move(admin_client, north, north_visit):
    data = {
        "closure-date": MONDAY.isoformat(),
        "closure-name": "Training",
        "closure-site": north.pk,
    }

    page = text(admin_client.post("/hours/closures/add/", data))
    assert "This closure falls on 1 booked visit. Nothing is saved yet." in page
    assert "Okafor" in page and "North clinic is closed that day (Training)" in page
    assert not ClinicHoliday.objects.exists()

    response = admin_client.post("/hours/closures/add/", {**data, "confirm": north_visit.pk})
    assert response.status_code == 302
    page = text(admin_client.get(response["Location"]))
    assert "Closure saved. 1 booked visit(s) fall on it: move them." in page
    assert "Booked visits on the new closure: move them" in page
    assert "Monday 10 March 2025: Training · North clinic" in page


def test_bad_input_is_refused_on_the_page_and_saves_nothing(admin_client, north):
    response = admin_client.post(
        "/hours/closures/add/",
        {"closure-date": "2025-03-01", "closure-name": "", "closure-site": north.pk},
    )
    assert response.status_code == 400
    page = text(response)
    assert "The closure was not saved." in page
    assert "This field is required." in page
    response = admin_client.post(
        "/hours/closures/add/",
        {"closure-date": "2025-03-01", "closure-name": "Late", "closure-site": north.pk},
    )
    assert response.status_code == 400
    assert "1 March 2025 is in the past: a closure is for today or later." in text(response)
    assert not ClinicHoliday.objects.exists()


def test_a_sites_public_holidays_are_added_from_today_on(admin_client, north):
    north.holidays_country, north.holidays_subdivision = "GB", "ENG"
    north.save()
    year_2025 = {"public-site": north.pk, "public-year": 2025}
    response = admin_client.post("/hours/closures/public/", year_2025)
    assert response.status_code == 302
    added = list(ClinicHoliday.objects.filter(site=north).values_list("date", "name"))
    # The message counts them: not "Closure saved." for a year's holidays.
    assert f"{len(added)} closures saved." in text(admin_client.get(response["Location"]))
    assert (dt.date(2025, 12, 25), "Christmas Day") in added
    assert all(day >= NOW.date() for day, _name in added)  # New Year's Day had passed
    # Again: nothing new.
    admin_client.post("/hours/closures/public/", year_2025)
    assert ClinicHoliday.objects.filter(site=north).count() == len(added)


def test_removing_a_closure_opens_the_day_again(admin_client):
    closure = ClinicHoliday.objects.create(date=MONDAY, name="Strike")
    response = admin_client.post(f"/hours/closures/{closure.pk}/remove/", follow=True)
    assert "Closure of Monday 10 March 2025 removed: the day is open again." in text(response)
    assert not ClinicHoliday.objects.exists()
    assert admin_client.post(f"/hours/closures/{closure.pk}/remove/").status_code == 404


def test_the_django_admin_shows_closures_read_only(admin_client):
    ClinicHoliday.objects.create(date=MONDAY, name="Strike")
    assert admin_client.get("/admin/procedures/clinicholiday/").status_code == 200
    assert admin_client.get("/admin/procedures/clinicholiday/add/").status_code == 403


# --- Public holidays of a country or region the calendar does not know (QA 1, #4) ---


def site_form(**overrides) -> dict:
    return {
        "name": "Lisbon clinic",
        "code": "lisbon",
        "address": "Rua 1",
        "phone": "01234 567890",
        "time_zone": "Europe/Lisbon",
        "holidays_country": "",
        "holidays_subdivision": "",
        "is_active": "on",
        **overrides,
    }


@pytest.mark.parametrize(
    ("country", "region", "said"),
    [
        ("XX", "", "“XX” is not a country the public-holiday calendar knows"),
        ("\U0001f600", "", "is not a country the public-holiday calendar knows"),
        (
            "GB",
            "ZZZ",
            "“ZZZ” is not a region of GB the public-holiday calendar knows; use one "
            "of ENG, NIR, SCT, WLS, or leave it empty.",
        ),
        ("", "ENG", "Give the country of the region ENG, or leave the region empty."),
    ],
    ids=["country", "emoji", "region", "region-alone"],
)
def test_the_admin_refuses_a_holiday_country_or_region_it_cannot_look_up(
    admin_client, country, region, said
):
    from procedures.catalog.sites import Site

    response = admin_client.post(
        "/admin/procedures/site/add/",
        site_form(holidays_country=country, holidays_subdivision=region),
    )

    assert response.status_code == 200
    assert said in text(response)
    assert not Site.objects.filter(code="lisbon").exists()


def test_the_admin_takes_a_known_country_and_region_in_any_case(admin_client):
    from procedures.catalog.sites import Site

    response = admin_client.post(
        "/admin/procedures/site/add/",
        site_form(holidays_country="gb", holidays_subdivision="sct"),
    )

    assert response.status_code == 302
    site = Site.objects.get(code="lisbon")
    assert (site.holidays_country, site.holidays_subdivision) == ("GB", "SCT")


def test_adding_public_holidays_of_an_unknown_region_saved_before_is_refused_in_words(
    admin_client, north
):
    # An older database may hold codes the admin did not check then.
    north.holidays_country, north.holidays_subdivision = "GB", "ZZZ"
    north.save()

    response = admin_client.post(
        "/hours/closures/public/", {"public-site": north.pk, "public-year": 2025}
    )

    assert response.status_code == 400
    page = html.unescape(text(response))
    assert "North clinic's public holidays cannot be added: “ZZZ” is not a region of GB" in page
    assert "Correct it in the admin." in page
    assert not ClinicHoliday.objects.exists()


def test_working_days_at_a_site_with_an_unknown_country_count_no_public_holidays(north):
    """The turnaround of its orders is counted, not a 500; the hours page says why."""
    from procedures.catalog.clock import closed_days

    north.holidays_country = "XX"
    north.save()

    assert closed_days(dt.date(2025, 12, 1), dt.date(2025, 12, 31), site=north) == set()
