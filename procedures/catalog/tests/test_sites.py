"""Sites (issue 18): a network of clinics. Every board, calendar, list, worklist and
count shows the current site's work; "All sites" only for the roles allowed it; a
visit's room and physician are at the same site; patients read the visit's site."""

import datetime as dt
import email
import re

import pytest
from django.core.exceptions import ValidationError
from icalendar import Calendar

from clinic import policy, roles
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.sites import (
    ALL_SITES,
    SESSION_KEY,
    Site,
    StaffProfile,
    at_site,
    default_site,
)
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.links import link_token
from procedures.messaging.models import CallTask, Reminder
from procedures.prep.models import FrontDeskTask
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import slots_find
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.tests.factories import (
    AppointmentFactory,
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
    TestOrderFactory,
)
from procedures.workflows.visits import appointment_book

NOW = clinic_datetime(dt.date(2025, 3, 10), dt.time(7, 0))  # a Monday, before the day
TODAY = NOW.date()
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


def at(hour: int, day: dt.date = TODAY) -> dt.datetime:
    return clinic_datetime(day, dt.time(hour))


@pytest.fixture
def network(db):
    """Two sites: the main clinic (the CLINIC_* settings) and a satellite, each with a
    room and a physician of its own, and one physician who works at both."""
    main = default_site()
    north = SiteFactory(
        code="north",
        name="Northgate Satellite Clinic",
        address="14 Northgate Road, Leeds",
        phone="0113 496 0100",
        time_zone="America/New_York",
    )
    lee = ProviderFactory(display_name="Dr Lee")
    lee.sites.set([main])
    okafor = ProviderFactory(display_name="Dr Okafor")
    okafor.sites.set([north])
    both = ProviderFactory(display_name="Dr Both")
    both.sites.set([main, north])
    return {
        "main": main,
        "north": north,
        "main_room": RoomFactory(name="Main room 1", site=main),
        "north_room": RoomFactory(name="North room 1", site=north),
        "lee": lee,
        "okafor": okafor,
        "both": both,
    }


def visit(network, where: str, family_name: str, **extra) -> Appointment:
    provider = network["lee"] if where == "main" else network["okafor"]
    extra.setdefault("start_at", at(10))
    extra.setdefault("end_at", extra["start_at"] + dt.timedelta(hours=1))
    return AppointmentFactory(
        patient=PatientFactory(family_name=family_name, given_name="Pat"),
        provider=provider,
        room=network[f"{where}_room"],
        **extra,
    )


def login(client, role: str, *, home: Site | None = None, username: str = "someone"):
    user = make_user(username, role)
    if home is not None:
        StaffProfile.objects.create(user=user, home_site=home)
    client.force_login(user)
    return user


def switch(client, choice, follow=False):
    return client.post("/site/", {"site": choice, "next": "/today/"}, follow=follow)


# --- The site ----------------------------------------------------------------------


def test_it_takes_only_a_time_zone_name_the_server_knows():
    site = Site(name="Lisbon", code="lisbon", address="Rua 1", phone="1", time_zone="GMT+1")
    with pytest.raises(ValidationError) as refused:
        site.full_clean()
    assert "is not a time zone name" in str(refused.value.message_dict["time_zone"])
    site.time_zone = "Europe/Lisbon"
    site.full_clean()


def test_a_room_without_a_site_is_at_the_networks_first_site(network):
    assert RoomFactory().site == network["main"] == Site.objects.order_by("pk").first()


def test_at_site_narrows_visits_orders_tasks_and_calls_in_one_query(
    network, django_assert_num_queries
):
    here, there = visit(network, "main", "Here"), visit(network, "north", "There")
    for appointment in (here, there):
        TestOrderFactory(appointment=appointment)
        FrontDeskTask.objects.create(
            appointment=appointment, kind=FrontDeskTask.Kind.TRANSPORT, due_date=TODAY
        )
        CallTask.objects.create(appointment=appointment, reason=CallTask.Reason.NO_EMAIL)
    main = network["main"].pk
    for model in (Appointment, FrontDeskTask, CallTask):
        with django_assert_num_queries(1):
            rows = list(at_site(model.objects.all(), main))
        assert {getattr(r, "appointment_id", r.pk) for r in rows} == {here.pk}
    orders = at_site(TestOrderFactory._meta.model.objects.all(), main)
    assert {o.appointment_id for o in orders} == {here.pk}
    assert at_site(Appointment.objects.all(), None).count() == 2


# --- Every page is the current site's ---------------------------------------------------

PAGES = [
    # (role, url, what the page shows of a visit at its site)
    (roles.FRONT_DESK, "/today/", "{name}"),
    (roles.FRONT_DESK, "/calendar/?date=2025-03-10", "{name}"),
    (roles.FRONT_DESK, "/calendar/print/?date=2025-03-10", "{name}"),
    (roles.FRONT_DESK, "/appointments/", "{name}"),
    (roles.FRONT_DESK, "/tasks/", "{name}"),
    (roles.FRONT_DESK, "/waitlist/", "{name}"),
    (roles.FRONT_DESK, "/reminders/", "{name}"),
    (roles.NURSE, "/today/checklists/", "{name}"),
    (roles.NURSE, "/results/?scope=all", "{name}"),
]


@pytest.fixture
def two_days_of_work(network):
    """A visit at each site today, each with an order, a task, a call and an email."""
    visits = {}
    for where, name in (("main", "Mainsworth"), ("north", "Northcott")):
        appointment = visit(network, where, name)
        visits[where] = appointment
        TestOrderFactory(
            appointment=AppointmentFactory(
                patient=appointment.patient,
                provider=appointment.provider,
                room=appointment.room,
                start_at=at(9, TODAY - dt.timedelta(days=7)),
                end_at=at(10, TODAY - dt.timedelta(days=7)),
                status=Appointment.Status.COMPLETED,
            ),
            expected_by=TODAY - dt.timedelta(days=1),
        )
        FrontDeskTask.objects.create(  # overdue
            appointment=appointment,
            kind=FrontDeskTask.Kind.TRANSPORT,
            due_date=TODAY - dt.timedelta(days=1),
        )
        Reminder.objects.create(appointment=appointment, kind=Reminder.Kind.DAY_BEFORE, due_at=NOW)
        WaitlistEntry.objects.create(  # waiting for this site's physician
            patient=appointment.patient,
            procedure_type=appointment.procedure_type,
            provider=appointment.provider,
        )
    return visits


@pytest.mark.parametrize(("role", "url", "shown"), PAGES)
def test_a_visit_at_another_site_never_shows_on_this_sites_page(
    client, network, two_days_of_work, role, url, shown
):
    login(client, role, home=network["main"])
    page = client.get(url).content.decode()
    assert shown.format(name="Mainsworth") in page
    assert "Northcott" not in page

    assert switch(client, str(network["north"].pk)).status_code == 302
    page = client.get(url).content.decode()
    assert shown.format(name="Northcott") in page
    assert "Mainsworth" not in page


def test_a_patient_waiting_for_any_physician_is_on_every_sites_waitlist(client, network):
    WaitlistEntry.objects.create(
        patient=PatientFactory(family_name="Anyone"), procedure_type=ProcedureTypeFactory()
    )
    login(client, roles.FRONT_DESK, home=network["main"])
    assert "Anyone" in client.get("/waitlist/").content.decode()
    switch(client, str(network["north"].pk))
    assert "Anyone" in client.get("/waitlist/").content.decode()


def test_the_navigation_counts_are_the_sites(client, network, two_days_of_work):
    extra = visit(network, "north", "Extra", start_at=at(14))
    FrontDeskTask.objects.create(
        appointment=extra, kind=FrontDeskTask.Kind.WHEELCHAIR, due_date=TODAY - dt.timedelta(1)
    )
    login(client, roles.FRONT_DESK, home=network["main"])
    assert "1 expected" in client.get("/today/counts/").content.decode()
    assert "1<span" in client.get("/tasks/overdue/").content.decode()
    switch(client, str(network["north"].pk))
    assert "2 expected" in client.get("/today/counts/").content.decode()
    assert "2<span" in client.get("/tasks/overdue/").content.decode()


def test_the_nurses_results_badge_counts_the_sites_overdue_results(
    client, network, two_days_of_work
):
    login(client, roles.NURSE, home=network["north"])
    badge = client.get("/results/attention/").content.decode()
    assert "1<span" in badge, badge


def test_the_worklists_physician_filter_offers_the_sites_physicians(client, network):
    ProviderFactory(display_name="Dr Anywhere")  # lists no site: works at every one
    login(client, roles.NURSE, home=network["main"])

    def offered():
        form = client.get("/results/?scope=all").context["form"]
        return {str(name) for pk, name in form.fields["physician"].choices if pk}

    here = offered()
    switch(client, str(network["north"].pk))
    north = offered()
    refused = client.get(f"/results/?scope=all&physician={network['lee'].pk}")

    assert here == {"Dr Lee", "Dr Both", "Dr Anywhere"}
    assert north == {"Dr Okafor", "Dr Both", "Dr Anywhere"}
    # Another site's physician is not a choice here: said, and no filter applied.
    assert "Some filters were not understood" in refused.content.decode()


def test_the_open_loops_are_the_sites_and_the_day_is_signed_off_from_all_sites(
    client, network, two_days_of_work
):
    login(client, roles.PHYSICIAN, home=network["main"])
    page = client.get("/open-loops/").content.decode()
    assert "Mainsworth" in page or "1 open loop" in page
    assert "Northcott" not in page
    assert "choose “All sites” in the header to sign the day off" in page

    refused = client.post("/open-loops/sign-off/", {"day": TODAY.isoformat()})
    assert refused.status_code == 302
    assert not client.get("/open-loops/").context["report"].sign_off

    switch(client, ALL_SITES)
    client.post("/open-loops/sign-off/", {"day": TODAY.isoformat()})
    assert client.get("/open-loops/").context["report"].sign_off.signed_off_at


# --- The switcher ----------------------------------------------------------------------


def test_the_switcher_starts_on_the_home_site_and_lists_every_site(client, network):
    login(client, roles.FRONT_DESK, home=network["north"])
    page = client.get("/today/").content.decode()
    assert client.session[SESSION_KEY] == network["north"].pk
    assert re.search(rf'<option value="{network["north"].pk}" selected>Northgate', page)
    assert "Riverside Procedure Clinic</option>" in page
    assert "All sites" not in page  # the front desk works at one site at a time


def test_the_header_and_footer_name_the_site_the_pages_show(client, network, settings):
    """Below 1400 px the switcher folds into the menu: the clinic's name at the top is
    then what tells the front desk which site's board they are on."""
    login(client, roles.PHYSICIAN, home=network["north"])
    page = client.get("/today/").content.decode()
    assert re.search(r'class="navbar-brand"[^>]*>Northgate Satellite Clinic</a>', page)
    assert "Northgate Satellite Clinic · Phone 0113 496 0100" in page

    switch(client, ALL_SITES)
    page = client.get("/today/").content.decode()
    assert re.search(rf'class="navbar-brand"[^>]*>{settings.CLINIC_NAME} · all sites</a>', page)


def test_a_physician_starts_at_the_site_they_work_at(client, network):
    user = make_user("okafor", roles.PHYSICIAN)
    network["okafor"].user = user
    network["okafor"].save()
    client.force_login(user)
    assert client.session[SESSION_KEY] == network["north"].pk


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_all_sites_is_for_the_roles_the_policy_allows(client, network, two_days_of_work, role):
    login(client, role, home=network["main"])
    allowed = role in policy.ACTIONS["sites_all"]
    response = switch(client, ALL_SITES, follow=True)
    page = response.content.decode()
    if allowed:
        assert "Showing all sites." in page
        assert client.session[SESSION_KEY] == ALL_SITES
    else:
        assert "Your role works at one site at a time." in page
        assert client.session[SESSION_KEY] == network["main"].pk
    if role in policy.ACTIONS["today_board"]:
        board = client.get("/today/").content.decode()
        assert "Mainsworth" in board
        assert ("Northcott" in board) is allowed


def test_at_all_sites_the_board_names_each_room_with_its_site(client, network):
    # At "All sites" the rows and the room filter say which clinic the patient comes to.
    here, there = visit(network, "main", "Mainsworth"), visit(network, "north", "Northcott")
    login(client, roles.PHYSICIAN, home=network["main"])

    site_board = client.get("/today/").content.decode()
    switch(client, ALL_SITES)
    board = client.get("/today/").content.decode()

    main, north = network["main"].name, network["north"].name
    assert f"Dr Lee · Main room 1 ({main})" in board
    assert f"Dr Okafor · North room 1 ({north})" in board
    assert f'<option value="{here.room_id}">Main room 1 ({main})</option>' in board
    assert f'<option value="{there.room_id}">North room 1 ({north})</option>' in board
    # One site's board names its rooms alone.
    assert "Dr Lee · Main room 1</div>" in site_board
    assert f'<option value="{here.room_id}">Main room 1</option>' in site_board


def test_all_sites_falls_back_to_the_home_site_once_the_role_is_gone(client, network):
    user = login(client, roles.PHYSICIAN, home=network["north"])
    switch(client, ALL_SITES)
    user.groups.clear()
    user.groups.add(roles_group(roles.NURSE))
    page = client.get("/today/checklists/")
    assert page.status_code == 200
    assert re.search(rf'<option value="{network["north"].pk}" selected>', page.content.decode())


def roles_group(name):
    from django.contrib.auth.models import Group

    return Group.objects.get_or_create(name=name)[0]


@pytest.mark.parametrize("choice", ["999999", "north", "", "-1"])
def test_the_switcher_refuses_a_site_that_is_not_listed(client, network, choice):
    login(client, roles.FRONT_DESK, home=network["main"])
    page = switch(client, choice, follow=True).content.decode()
    assert "Choose one of the sites listed." in page
    assert client.session[SESSION_KEY] == network["main"].pk


def test_the_switcher_refuses_a_closed_site(client, network):
    Site.objects.filter(pk=network["north"].pk).update(is_active=False)
    login(client, roles.FRONT_DESK, home=network["main"])
    page = switch(client, str(network["north"].pk), follow=True).content.decode()
    assert "Choose one of the sites listed." in page


def test_the_switcher_goes_back_only_to_our_own_pages(client, network):
    login(client, roles.FRONT_DESK, home=network["main"])
    response = client.post(
        "/site/", {"site": str(network["north"].pk), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_a_single_clinic_shows_no_switcher(client, db):
    Site.objects.exclude(pk=default_site().pk).delete()
    login(client, roles.FRONT_DESK)
    assert 'id="site-switcher"' not in client.get("/today/").content.decode()


# --- Booking ------------------------------------------------------------------------


def book(network, provider, room, days: int = 1):
    day = TODAY + dt.timedelta(days=days)
    # 10:00 on the room's site's clock (invariant 19).
    start = dt.datetime.combine(day, dt.time(10), tzinfo=room.site.tz)
    return appointment_book(
        patient=PatientFactory(),
        procedure_type=ProcedureTypeFactory(default_sedation_level=SedationLevel.IV_MODERATE),
        provider=provider,
        room=room,
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=None,
    )


def test_booking_refuses_a_room_at_a_site_the_physician_does_not_work_at(network):
    with pytest.raises(ValidationError) as refused:
        book(network, network["okafor"], network["main_room"])
    assert refused.value.message_dict["room"] == [
        "Dr Okafor does not work at the site of Main room 1; choose a room at one of "
        "their sites or another physician."
    ]
    assert not Appointment.objects.exists()


def test_a_physician_books_at_any_site_they_work_at(network):
    assert book(network, network["both"], network["north_room"]).room.site == network["north"]
    tuesday = book(network, network["both"], network["main_room"], days=2)
    assert tuesday.room.site == network["main"]


def test_a_physician_who_lists_no_site_works_at_every_site(network):
    anywhere = ProviderFactory(display_name="Dr Anywhere")
    assert book(network, anywhere, network["north_room"]).pk


def booking(provider, room) -> dict:
    return {
        "patient_mrn": PatientFactory().mrn,
        "procedure_type": ProcedureTypeFactory().pk,
        "provider": provider.pk,
        "room": room.pk,
        "date": (TODAY + dt.timedelta(days=1)).isoformat(),
        "start_time": "10:00",
        "transport_mode": "escort_driving",
    }


def test_the_booking_forms_list_the_sites_physicians_and_rooms(client, network):
    """A site's front desk picks among what it can book: its physicians (and those of
    every site) and its rooms; the visit's own when moving one from another site."""
    login(client, roles.FRONT_DESK, home=network["north"])
    for url in ("/waitlist/", "/appointments/book/"):
        page = client.get(url).content.decode()
        assert "Dr Okafor" in page and "Dr Both" in page, url
        assert "Dr Lee" not in page, url
    assert "North room 1" in page and "Main room 1" not in page  # the booking page's rooms
    moving = visit(network, "main", "Moved", start_at=at(10, TODAY + dt.timedelta(days=2)))
    page = client.get(f"/appointments/{moving.pk}/reschedule/").content.decode()
    assert "Dr Lee" in page and "Main room 1" in page  # the visit's own
    assert "Dr Okafor" in page and "North room 1" in page  # the site's
    # Posted anyway (an old tab): the field's message, nothing booked.
    response = client.post("/appointments/book/", booking(network["lee"], network["main_room"]))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Appointment.objects.exclude(pk=moving.pk).exists()


def test_all_sites_lists_every_physician_and_room(client, network):
    login(client, roles.PHYSICIAN, home=network["main"])
    assert switch(client, ALL_SITES).status_code == 302
    page = client.get("/appointments/book/").content.decode()
    for name in ("Dr Lee", "Dr Okafor", "Dr Both", "Main room 1", "North room 1"):
        assert name in page


def test_the_move_page_says_why_a_room_at_another_site_is_refused(client, network):
    """From the north desk a main-site visit keeps its own physician on the list, next
    to the north rooms: that pairing is refused in words, and the visit stays."""
    login(client, roles.FRONT_DESK, home=network["north"])
    moving = visit(network, "main", "Moved", start_at=at(10, TODAY + dt.timedelta(days=2)))
    response = client.post(
        f"/appointments/{moving.pk}/reschedule/",
        {
            "date": (TODAY + dt.timedelta(days=3)).isoformat(),
            "start_time": "10:00",
            "provider": network["lee"].pk,
            "room": network["north_room"].pk,
        },
    )
    assert response.status_code == 200
    assert "Dr Lee does not work at the site of North room 1" in response.content.decode()
    moving.refresh_from_db()
    assert moving.room == network["main_room"] and moving.start_at == at(
        10, TODAY + dt.timedelta(days=2)
    )


def test_the_slot_finder_pairs_a_sites_rooms_with_its_physicians(network):
    procedure = ProcedureTypeFactory()
    kwargs = {
        "procedure_type": procedure,
        "sedation_level": SedationLevel.IV_MODERATE,
        "first_day": TODAY + dt.timedelta(days=1),
        "limit": 20,
    }
    for where, expected in (("north", {"Dr Okafor", "Dr Both"}), ("main", {"Dr Lee", "Dr Both"})):
        slots = slots_find(site_id=network[where].pk, **kwargs)
        assert slots
        assert {s.room.site_id for s in slots} == {network[where].pk}
        assert {s.provider.display_name for s in slots} <= expected
    # A chosen physician is offered only the rooms of their sites.
    slots = slots_find(provider=network["okafor"], **kwargs)
    assert {s.room.site_id for s in slots} == {network["north"].pk}


def test_a_physician_of_two_sites_is_busy_here_while_booked_there(client, network):
    """The slot finder and the calendar read the site's physicians' and rooms' bookings
    only, but all of them: Dr Both's visit at North keeps them off the main site's
    slots then, and the main site's calendar suggests nobody busy elsewhere."""
    procedure = ProcedureTypeFactory(default_duration_minutes=60)
    tomorrow = TODAY + dt.timedelta(days=1)
    network["lee"].is_active = False  # Dr Both is the main site's only physician
    network["lee"].save()
    AppointmentFactory(
        provider=network["both"],
        room=network["north_room"],
        start_at=at(9, tomorrow),
        end_at=at(12, tomorrow),
    )
    # Another site's visit of somebody else takes nothing from the main site.
    AppointmentFactory(
        provider=network["okafor"],
        room=network["north_room"],
        start_at=at(13, tomorrow),
        end_at=at(14, tomorrow),
    )
    slots = slots_find(
        site_id=network["main"].pk,
        procedure_type=procedure,
        sedation_level=SedationLevel.LOCAL,
        first_day=tomorrow,
        last_day=tomorrow,
        limit=40,
        per_day=40,
    )
    starts = [s.start_at for s in slots]
    assert at(8, tomorrow) in starts and at(13, tomorrow) in starts
    assert all(s.end_at <= at(9, tomorrow) or s.start_at >= at(12, tomorrow) for s in slots)
    assert {s.provider for s in slots} == {network["both"]}

    # The main site's day by room: the booking form of a free 10:00 suggests no
    # physician (Dr Both is at North), a free 13:00's suggests Dr Both.
    login(client, roles.FRONT_DESK, home=network["main"])
    response = client.get(f"/calendar/?show=rooms&date={tomorrow.isoformat()}")
    grid = response.context["grid"]
    assert [c.title for c in grid.columns] == ["Main room 1"]
    ten, one = (grid.rows[grid.times.index(hhmm)][0] for hhmm in ("10:00", "13:00"))
    assert ten.state == one.state == "free"
    assert "provider" not in client.get(ten.href).context["form"].initial
    assert client.get(one.href).context["form"].initial["provider"] == network["both"].pk


def test_at_all_sites_a_free_time_suggests_only_what_the_booking_allows(client, network):
    """Invariant 17: the booking form opened from a free time at "All sites" suggests a
    room at the physician's own sites, and for a room a physician who works at its
    site, though another comes first by name."""
    login(client, roles.PHYSICIAN, home=network["main"])
    switch(client, ALL_SITES)
    book = f"/appointments/book/?date={TODAY.isoformat()}&time=10%3A00"

    okafor = client.get(f"{book}&provider={network['okafor'].pk}").context["form"]
    assert okafor.initial["room"] == network["north_room"].pk  # not "Main room 1"

    network["both"].is_active = False  # the first by name of North's physicians
    network["both"].save()
    north = client.get(f"{book}&room={network['north_room'].pk}").context["form"]
    assert north.initial["provider"] == network["okafor"].pk  # not Dr Lee (main only)


def test_the_slot_finders_physician_choice_lists_the_sites_physicians(client, network):
    login(client, roles.FRONT_DESK, home=network["north"])
    page = client.get("/appointments/find/").content.decode()
    assert "Dr Okafor" in page and "Dr Both" in page
    assert "Dr Lee" not in page  # works at the main site only
    # Posted anyway (an old tab): refused with the field's message, not a 500.
    response = client.post(
        "/appointments/find/",
        {
            "patient": PatientFactory().pk,
            "procedure_type": ProcedureTypeFactory().pk,
            "provider": network["lee"].pk,
            "action": "find",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_a_sites_closure_closes_that_site_only(network):
    tomorrow = TODAY + dt.timedelta(days=1)
    ClinicHoliday.objects.create(date=tomorrow, name="North closed", site=network["north"])
    procedure = ProcedureTypeFactory()
    kwargs = {
        "procedure_type": procedure,
        "sedation_level": SedationLevel.IV_MODERATE,
        "first_day": tomorrow,
        "last_day": tomorrow,
    }
    assert not slots_find(site_id=network["north"].pk, **kwargs)
    assert slots_find(site_id=network["main"].pk, **kwargs)
    with pytest.raises(ValidationError):
        book(network, network["okafor"], network["north_room"])


# --- What patients read ----------------------------------------------------------------


def test_emails_and_invites_carry_the_visits_site(network, smtp_mail, frontdesk_user):
    patient = PatientFactory(given_name="Maria", email="maria@example.com")
    appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(),
        provider=network["okafor"],
        room=network["north_room"],
        start_at=at(15, TODAY + dt.timedelta(days=7)),  # 15:00 London = 11:00 New York
        end_at=at(16, TODAY + dt.timedelta(days=7)),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )
    reminders_dispatch()
    [message] = [m for m in smtp_mail.messages if m.get_content_type() == "multipart/mixed"]
    text = "".join(p.get_content() for p in message.walk() if p.get_content_type() == "text/plain")
    assert "Northgate Satellite Clinic, 14 Northgate Road, Leeds" in text
    assert "0113 496 0100" in text
    assert "Monday 17 March 2025, 11:00 EDT" in text
    assert "Riverside" not in text
    [invite] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    event = Calendar.from_ical(invite.get_payload(decode=True)).walk("VEVENT")[0]
    assert str(event["location"]) == "14 Northgate Road, Leeds"
    assert str(event["summary"]) == "Appointment at Northgate Satellite Clinic"
    assert event["organizer"].params["cn"] == "Northgate Satellite Clinic"
    # Times in UTC: the patient's calendar shows 11:00 in New York.
    assert event.decoded("dtstart") == dt.datetime(2025, 3, 17, 15, 0, tzinfo=dt.UTC)
    assert isinstance(email.message_from_bytes(message.as_bytes()), email.message.Message)


def test_the_link_page_shows_the_sites_time_phone_and_address(client, network):
    appointment = visit(
        network,
        "north",
        "Garcia",
        start_at=at(15, TODAY + dt.timedelta(days=7)),
        end_at=at(16, TODAY + dt.timedelta(days=7)),
    )
    appointment.patient.date_of_birth = dt.date(1961, 4, 12)
    appointment.patient.save()
    url = f"/p/details/{link_token(appointment=appointment, purpose='details')}/"
    first = client.get(url).content.decode()
    assert "0113 496 0100" in first
    assert "Northgate Satellite Clinic" in first
    page = client.post(url, {"date_of_birth": "12/04/1961"}, follow=True).content.decode()
    assert "Monday 17 March 2025, 11:00\u201312:00 EDT" in page
    assert "14 Northgate Road, Leeds" in page
