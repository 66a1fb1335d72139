"""Patient link pages (views/patient_links.py): no login, date of birth first,
single-purpose, expiring, single-use, rate-limited, and one friendly page for
every link that cannot be used."""

import datetime as dt
import re

import pytest
from django.core.cache import cache

from patients.medications import medication_add
from patients.models import Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.links import link_token
from procedures.messaging.models import CallTask, EmailOptOut, PatientLinkUse, Reminder
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows.visits import appointment_book, appointment_reschedule

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(9, 0))
VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 30))
DOB = dt.date(1961, 4, 12)
INVALID = "This link cannot be used"
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def appointment(frontdesk_user):
    patient = PatientFactory(
        given_name="Maria", family_name="Garcia", date_of_birth=DOB, email="maria@example.com"
    )
    return appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(name="Bone marrow aspiration and biopsy"),
        provider=ProviderFactory(display_name="Dr Lee"),
        room=RoomFactory(),
        start_at=VISIT,
        end_at=VISIT + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=frontdesk_user,
    )


def link(appointment, purpose: str) -> str:
    return f"/p/{purpose}/{link_token(appointment=appointment, purpose=purpose)}/"


def links_in(message) -> dict[str, str]:
    """purpose -> path, as read from the text part of an email."""
    [text] = [p.get_content() for p in message.walk() if p.get_content_type() == "text/plain"]
    return {m[1]: m[0] for m in re.findall(r"https?://[^/\s]+(/p/([a-z]+)/[^/\s]+/)", text)}


def unlock(client, url: str, dob: str = "12/04/1961"):
    return client.post(url, {"date_of_birth": dob})


def test_the_escort_request_email_carries_a_link_that_confirms_the_escort(
    client, appointment, smtp_mail, clock
):
    clock.move_to(clinic_datetime(dt.date(2025, 3, 8), dt.time(10, 0)), tick=False)
    reminders_dispatch()
    [escort_email] = [m for m in smtp_mail.messages if "taking you home" in str(m["Subject"])]
    url = links_in(escort_email)["escort"]

    page = client.get(url)
    assert page.status_code == 200
    assert b"date of birth" in page.content
    for secret in (b"Maria", b"Garcia", b"Bone marrow", b"Dr Lee", b"10 March"):
        assert secret not in page.content

    page = client.post(url, {"date_of_birth": "01/01/1970"}, follow=True)
    assert b"does not match our records" in page.content
    assert b"Bone marrow" not in page.content

    page = unlock(client, url)
    assert page.status_code == 302
    page = client.get(url)
    assert b"Bone marrow aspiration and biopsy" in page.content
    assert b"Monday 10 March 2025, 09:30" in page.content

    done = client.post(url, {"name": "Ana Garcia", "phone": "07700 900123"})
    assert b"we have noted who is taking you home" in done.content
    appointment.refresh_from_db()
    assert appointment.escort_name == "Ana Garcia"
    assert appointment.escort_phone.replace(" ", "")[-10:] == "7700900123"
    assert appointment.escort_confirmed_at == clinic_datetime(dt.date(2025, 3, 8), dt.time(10))
    # Single use: the same link now gets the friendly page.
    assert INVALID.encode() in client.get(url).content


def test_a_wrong_escort_phone_is_refused_in_words_and_changes_nothing(client, appointment):
    url = link(appointment, "escort")
    unlock(client, url)

    page = client.post(url, {"name": "Ana Garcia", "phone": "call me"})

    assert page.status_code == 200
    assert b"phone" in page.content.lower()
    assert b"is-invalid" in page.content
    appointment.refresh_from_db()
    assert appointment.escort_confirmed_at is None
    assert not PatientLinkUse.objects.exists()


def test_a_missing_name_and_a_wrong_phone_are_both_said_at_once(client, appointment):
    url = link(appointment, "escort")
    unlock(client, url)

    page = client.post(url, {"name": "", "phone": "abc"}).content.decode()

    assert "This field is required." in page
    assert "abc is not a phone number." in page
    assert not PatientLinkUse.objects.exists()


def test_a_patient_who_reads_spanish_is_told_in_spanish_what_is_wrong_with_the_phone(
    client, appointment
):
    appointment.patient.preferred_language = "es"
    appointment.patient.save()
    url = link(appointment, "escort")
    unlock(client, url)

    page = client.post(url, {"name": "Ana Garcia", "phone": "call me"})

    assert "call me no es un número de teléfono. Escríbalo con su prefijo" in page.content.decode()
    assert not PatientLinkUse.objects.exists()


def test_a_patient_confirms_they_will_come(client, appointment):
    url = link(appointment, "attend")
    unlock(client, url)

    page = client.post(url, {})

    assert b"we have noted that you will come" in page.content
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED
    assert AppointmentEvent.objects.filter(appointment=appointment, kind="patient_confirmed")


def test_asking_for_another_time_becomes_a_front_desk_call(client, appointment):
    url = link(appointment, "reschedule")
    unlock(client, url)

    client.post(url, {"note": "Any morning after the 20th"})

    [call] = CallTask.objects.filter(reason=CallTask.Reason.RESCHEDULE_REQUEST)
    assert (call.appointment, call.note, call.status) == (
        appointment,
        "Any morning after the 20th",
        "open",
    )


def test_unsubscribing_stops_optional_emails_only(client, appointment, frontdesk_user):
    url = link(appointment, "unsubscribe")
    unlock(client, url)

    client.post(url, {})

    assert EmailOptOut.objects.filter(patient=appointment.patient).exists()


def test_the_details_link_can_be_opened_again(client, appointment):
    url = link(appointment, "details")
    unlock(client, url)

    assert b"Bone marrow" in client.get(url).content
    assert b"Bone marrow" in client.get(url).content


def test_the_date_of_birth_unlocks_one_link_only(client, appointment):
    unlock(client, link(appointment, "details"))

    page = client.get(link(appointment, "escort"))

    assert b"Bone marrow" not in page.content
    assert b"date of birth" in page.content


@pytest.fixture
def invalid_pages(client, appointment, frontdesk_user, clock):
    """The answer to each kind of bad link."""
    escort = link(appointment, "escort")
    token = escort.split("/")[3]
    pages = {
        "garbage": client.get("/p/escort/abc/"),
        "tampered": client.get(f"/p/escort/{token[:-2]}xx/"),
        "other purpose": client.get(f"/p/attend/{token}/"),
        "unknown purpose": client.get(f"/p/admin/{token}/"),
    }
    used = link(appointment, "attend")
    unlock(client, used)
    client.post(used, {})
    pages["used"] = client.get(used)
    old = link(appointment, "details")
    appointment_reschedule(
        appointment_id=appointment.pk,
        start_at=clinic_datetime(dt.date(2025, 3, 12), dt.time(10)),
        by=frontdesk_user,
    )
    pages["rescheduled"] = client.get(old)
    fresh = link(Appointment.objects.get(pk=appointment.pk), "escort")
    clock.move_to(clinic_datetime(dt.date(2025, 3, 12), dt.time(10, 1)), tick=False)
    pages["expired"] = client.get(fresh)
    return pages


def test_every_bad_link_gets_the_same_friendly_page(invalid_pages):
    # The same bytes but for the per-request CSRF token.
    contents = {
        name: re.sub(rb'"X-CSRFToken": "[^"]+"', b"", page.content)
        for name, page in invalid_pages.items()
    }
    assert {page.status_code for page in invalid_pages.values()} == {200}
    assert len(set(contents.values())) == 1, "the pages must not tell the reasons apart"
    page = next(iter(contents.values())).decode()
    assert INVALID in page
    assert "020 7946 0000" in page  # the clinic's phone number


def test_too_many_wrong_dates_of_birth_lock_the_link(client, appointment, settings):
    settings.PATIENT_LINK_MAX_DOB_TRIES = 3
    url = link(appointment, "details")
    for _ in range(2):
        assert b"does not match" in unlock(client, url, "01/01/1970").content

    page = unlock(client, url, "01/01/1970")

    assert INVALID.encode() in page.content
    # Even the right date no longer opens it.
    assert INVALID.encode() in unlock(client, url).content


def test_a_link_locked_by_one_web_process_is_locked_for_the_others(
    client, appointment, settings, redis_url
):
    """With CACHE_URL on Redis the counters are shared: a second process (here a
    second cache client on the same Redis) sees the lock the first one set."""
    location = redis_url.rsplit("/", 1)[0] + "/14"
    backend = "django.core.cache.backends.redis.RedisCache"
    settings.PATIENT_LINK_MAX_DOB_TRIES = 2
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": location}}
    cache.clear()
    url = link(appointment, "details")
    for _ in range(2):
        unlock(client, url, "01/01/1970")

    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": location, "KEY_PREFIX": ""}}

    assert INVALID.encode() in unlock(client, url).content
    cache.clear()


def test_a_date_that_is_not_a_date_is_refused_in_words(client, appointment):
    page = unlock(client, link(appointment, "details"), "the twelfth")

    assert b"Enter your date of birth as day/month/year, for example 23/09/1975." in page.content


def test_links_are_rate_limited_per_token(client, appointment, settings):
    settings.PATIENT_LINK_MAX_PER_TOKEN = 3
    url = link(appointment, "details")
    for _ in range(3):
        assert client.get(url).status_code == 200

    page = client.get(url)

    assert page.status_code == 429
    assert INVALID.encode() in page.content


def test_links_are_rate_limited_per_address(client, appointment, settings):
    settings.PATIENT_LINK_MAX_PER_IP = 3
    for _ in range(3):
        client.get(f"/p/details/guess-{_}/")

    page = client.get(link(appointment, "details"))

    assert page.status_code == 429


def test_the_page_speaks_the_patients_language(client, appointment):
    appointment.patient.preferred_language = "es"
    appointment.patient.save()

    page = client.get(link(appointment, "details"))

    assert b"fecha de nacimiento" in page.content.lower()


def test_a_notice_is_headed_please_note_not_with_the_minute_of_booking(client, appointment):
    """A patient on a medicine their doctor has not yet planned for is told to keep
    taking it: a notice, with no time of its own. Their page heads it "Please note"
    (in their language), not "Monday 3 March, 09:00" (when the visit was booked)."""
    medication_add(patient=appointment.patient, name="Aspirin", med_class=Medication.Class.ASPIRIN)
    url = link(appointment, "details")
    unlock(client, url)

    page = client.get(url).content.decode()

    assert "<strong>Please note</strong>: Keep taking your medicines as usual" in page
    assert "Monday 3 March, 09:00" not in page
    # The steps that have a time keep it.
    assert "<strong>Monday 10 March, 09:30</strong>: Your appointment." in page

    appointment.patient.preferred_language = "es"
    appointment.patient.save()
    assert "<strong>Tenga en cuenta</strong>:" in client.get(url).content.decode()


def test_a_token_names_no_patient_and_is_long(appointment):
    token = link_token(appointment=appointment, purpose="escort")

    assert len(token) > 40
    for secret in ("Maria", "Garcia", "1961", "biopsy"):
        assert secret not in token


def test_the_emails_carry_the_links_each_kind_needs(appointment, smtp_mail, clock):
    clock.move_to(clinic_datetime(dt.date(2025, 3, 9), dt.time(12, 0)), tick=False)
    reminders_dispatch()

    found = {str(m["Subject"]): set(links_in(m)) for m in smtp_mail.messages}
    assert found["Your appointment is booked"] == {"details", "attend", "reschedule"}
    assert found["Please confirm who is taking you home"] == {"escort"}
    assert found["Reminder: your appointment tomorrow"] == {"details", "reschedule"}
    assert found["Preparing for your appointment"] == {"details"}
    assert Reminder.objects.filter(status="sent").count() == 4


# --- The page a link that cannot be used shows, and the gate's date formats ------------


@pytest.fixture
def new_york_visit(frontdesk_user):
    """A Spanish-reading patient's visit at a New York site (US dates)."""
    from procedures.tests.factories import SiteFactory

    site = SiteFactory(
        code="nyc",
        name="Manhattan Clinic",
        phone="+1 212 555 0100",
        time_zone="America/New_York",
        holidays_country="US",
    )
    start = dt.datetime(2025, 3, 10, 10, tzinfo=dt.timezone(dt.timedelta(hours=-4)))
    return appointment_book(
        patient=PatientFactory(date_of_birth=DOB, preferred_language="es"),
        procedure_type=ProcedureTypeFactory(
            name="Bone marrow aspiration and biopsy", kind="aspiration_biopsy"
        ),
        provider=ProviderFactory(display_name="Dr Okafor"),
        room=RoomFactory(site=site),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.LOCAL,
        by=frontdesk_user,
    )


def test_a_used_link_names_the_visits_site_and_phone_in_the_patients_language(
    client, new_york_visit
):
    used = link(new_york_visit, "attend")
    unlock(client, used, "04/12/1961")
    client.post(used, {})

    page = client.get(used).content.decode()

    assert "Este enlace no se puede usar" in page
    assert "Manhattan Clinic" in page
    assert '<a href="tel:+12125550100">+1 212 555 0100</a>' in page
    assert "020 7946 0000" not in page
    for secret in ("Okafor", "Bone marrow", "10 March", "marzo"):
        assert secret not in page


def test_a_tampered_link_keeps_the_networks_page(client, new_york_visit):
    token = link(new_york_visit, "attend").split("/")[3]

    page = client.get(f"/p/attend/{token[:-2]}xx/").content.decode()

    assert INVALID in page
    assert "Manhattan Clinic" not in page
    assert '<a href="tel:02079460000">020 7946 0000</a>' in page


def test_link_pages_dial_the_phone_and_do_not_link_the_staff_login(client, appointment):
    url = link(appointment, "details")
    gate = client.get(url).content.decode()
    assert 'class="navbar-brand" href="/"' not in gate
    assert 'href="tel:02079460000"' in gate

    unlock(client, url)
    page = client.get(url).content.decode()

    # One heading says it (the page's), not the page's and then the card's.
    assert re.findall(r"<h[1-6][^>]*>Your appointment</h[1-6]>", page) == [
        '<h1 class="h3" id="page-heading">Your appointment</h1>'
    ]
    assert 'href="tel:02079460000"' in page


def test_a_us_site_asks_for_month_day_year_with_an_example_nobody_has(client, new_york_visit):
    url = link(new_york_visit, "details")
    with_example = client.get(url).content.decode()
    assert "09/23/1975" in with_example
    assert "12/04/1961" not in with_example  # Maria Garcia's birthday in the demo

    assert unlock(client, url, "04/12/1961").status_code == 302


def test_a_uk_site_asks_for_day_month_year_and_takes_iso(client, appointment):
    url = link(appointment, "details")
    assert "23/09/1975" in client.get(url).content.decode()
    # 04/12/1961 is 4 December here, not Maria's 12 April.
    assert b"does not match" in unlock(client, url, "04/12/1961").content
    assert unlock(client, url, "1961-04-12").status_code == 302


def test_a_spanish_page_names_the_procedure_by_its_kind_not_its_english_name(
    client, new_york_visit
):
    url = link(new_york_visit, "details")
    unlock(client, url, "1961-04-12")

    page = client.get(url).content.decode()

    assert "Bone marrow aspiration and biopsy" not in page
    assert "Su cita" in page


def test_too_many_tries_from_one_network_say_so_and_how_long_to_wait(client, appointment, settings):
    settings.PATIENT_LINK_MAX_PER_IP = 3
    for n in range(3):
        client.get(f"/p/details/guess-{n}/")

    page = client.get(link(appointment, "details"))

    assert page.status_code == 429
    assert "Too many tries from this network: please wait 10 minutes" in page.content.decode()
    assert "It may have expired" not in page.content.decode()
