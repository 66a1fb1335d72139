"""The operations dashboard's pages: who may open them, the filters, the CSV tables,
and the proof that they read from the `replica` database alias.

The page reads through `clinic.db_routers.reporting()` on the `replica` connection,
which in tests mirrors `default` over a connection of its own: it sees only committed
rows, so these tests are transactional.
"""

import csv
import io

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic import roles
from conftest import make_user
from procedures.catalog.resources import Room
from procedures.tests.factories import SiteFactory

from .world import NOW, build_world

pytestmark = [
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
    pytest.mark.clock(NOW),
]
URL = "/reports/operations/"
PERIOD = {"start": "2026-03-02", "end": "2026-03-15"}


@pytest.fixture
def manager(client):
    client.force_login(make_user("ops", roles.CLINIC_ADMIN))
    return client


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize(
    ("role", "code"),
    [
        (roles.FRONT_DESK, 403),
        (roles.NURSE, 403),
        (roles.PHYSICIAN, 200),
        (roles.CLINIC_ADMIN, 200),
    ],
)
def test_it_admits_physicians_and_clinic_admins(client, role, code):
    client.force_login(make_user("u", role))
    assert client.get(URL).status_code == code
    assert client.get(f"{URL}rooms.csv").status_code == code
    nav = client.get(reverse("procedures:today") if role != roles.CLINIC_ADMIN else URL)
    assert (b'href="/reports/operations/"' in nav.content) == (code == 200)


def test_it_sends_anonymous_visitors_to_log_in(client):
    assert client.get(URL)["Location"].startswith("/accounts/login/")


def test_it_shows_every_figure_with_a_chart_and_its_table(manager):
    build_world()
    page = manager.get(URL, PERIOD).content.decode()
    for heading in (
        "Room utilisation",
        "No-shows",
        "Cancellations by reason",
        "Days from booking to procedure",
        "Turnaround against target",
    ):
        assert heading in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 5
    assert page.count("<title id=") == 5
    assert "Preparation not done" in page and "No escort to take the patient home" in page
    assert "3 of 8 visits planned in the period were cancelled." in page
    assert "style=" not in page.split("<main", 1)[-1]  # the strict CSP allows none
    assert "<script>" not in page


def test_it_defaults_to_the_last_four_weeks(manager):
    page = manager.get(URL).content.decode()
    assert "17 Feb 2026 to 16 Mar 2026 (28 days)" in page
    assert 'value="2026-02-17"' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2026-03-15", "end": "2026-03-02"}, "The end date must not be before the start"),
        ({"start": "2024-01-01", "end": "2026-03-02"}, "Choose a period of at most a year"),
        ({"start": "not a date"}, "Enter a valid date."),
        ({"start": "0001-01-01"}, "Choose a date between 1900 and 2100."),
        ({"procedure_type": "999999"}, "Select a valid choice."),
    ],
)
def test_it_refuses_bad_filters_in_words(manager, query, message):
    response = manager.get(URL, query)
    assert response.status_code == 400
    assert message in response.content.decode()
    csv_response = manager.get(f"{URL}rooms.csv", query)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_it_answers_404_for_a_table_it_does_not_have(manager):
    assert manager.get(f"{URL}patients.csv").status_code == 404


def test_its_csv_tables_hold_the_figures_and_no_patient(manager):
    world = build_world()
    rooms = rows(manager.get(f"{URL}rooms.csv", PERIOD))
    assert rooms == [
        ["Room", "Open hours", "Booked hours", "Utilisation (%)"],
        ["Room A", "86.0", "4.8", "5.5"],
        ["Room B", "8.0", "3.0", "37.5"],
        ["All rooms", "94.0", "7.8", "8.2"],
    ]
    response = manager.get(f"{URL}no-shows.csv", PERIOD)
    assert response["Content-Disposition"] == (
        'attachment; filename="no-shows-2026-03-02-2026-03-15.csv"'
    )
    assert rows(response)[1:] == [
        ["2026-03-02", "1", "1", "50.0", "0"],
        ["2026-03-09", "0", "2", "0.0", "1"],
    ]
    cancellations = {r[0]: r[1:] for r in rows(manager.get(f"{URL}cancellations.csv", PERIOD))}
    assert cancellations["Preparation not done (e.g. medication not held)"] == ["1", "33.3"]
    assert cancellations["No escort to take the patient home"] == ["1", "33.3"]
    assert cancellations["Not recorded"] == ["1", "33.3"]
    lead = rows(manager.get(f"{URL}lead-time.csv", PERIOD))
    assert lead[1] == ["Same day", "1"]
    turnaround = rows(manager.get(f"{URL}turnaround.csv", PERIOD))
    assert turnaround[1:] == [
        ["Cytogenetics", "Genetics lab", "5", "1", "8", "8", "0"],
        ["Flow cytometry", "Haematology lab", "2", "3", "2", "2.8", "67"],
    ]
    everything = b"".join(
        manager.get(f"{URL}{t}.csv", PERIOD).content
        for t in ("rooms", "no-shows", "cancellations", "lead-time", "turnaround")
    ).decode()
    patient = world.visits[1].patient
    assert patient.family_name not in everything and patient.mrn not in everything


def test_it_narrows_to_a_procedure(manager):
    world = build_world()
    rooms = rows(manager.get(f"{URL}rooms.csv", {**PERIOD, "procedure_type": world.aspiration.pk}))
    assert rooms[1] == ["Room A", "86.0", "2.0", "2.3"]


def _reads(manager, url: str) -> tuple[list[str], list[str]]:
    """The SQL a report at `url` ran on the primary and on the replica; the page must
    answer with its figures, and the primary see only the login's look-ups."""
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        response = manager.get(url, PERIOD)
    assert response.status_code == 200
    assert "Flow cytometry" in response.content.decode()
    on_primary = [q["sql"] for q in primary.captured_queries]
    assert all(
        '"django_session"' in sql or '"auth_user' in sql or '"auth_group' in sql
        for sql in on_primary
    ), on_primary
    return on_primary, [q["sql"] for q in replica.captured_queries]


def test_it_reads_the_report_from_the_replica(manager):
    """Item 5: the dashboard's queries run on the `replica` alias; the primary sees only
    the login's session and user look-ups."""
    build_world()
    # The first page of a session chooses its site (the home site, one look-up on the
    # primary, then kept in the session): the pinned page is a later one.
    manager.get(URL, PERIOD)
    on_primary, on_replica = _reads(manager, URL)
    assert any('"procedures_appointment"' in sql for sql in on_replica)
    assert any('"procedures_testorder"' in sql for sql in on_replica)
    assert any('"procedures_room"' in sql for sql in on_replica)
    assert any('"procedures_reportday"' in sql for sql in on_replica)  # the roll-up too
    assert on_primary, "the login is read from the primary"
    # Pinned: session, user and roles on the primary; the report and the filter's
    # procedure list on the replica.
    # 12: the header's site switcher reads the sites (issue 18); 13: turnaround reads
    # the tests' names after counting by test id (its covering index, issue 18).
    # Still 13 with the daily roll-up: its rows are one query more, and the visits of
    # the days counted live one fewer (three grouped queries instead of four).
    assert (len(on_primary), len(on_replica)) == (3, 13)


def test_its_csv_reads_from_the_replica(manager):
    build_world()
    with CaptureQueriesContext(connections["replica"]) as replica:
        assert manager.get(f"{URL}turnaround.csv", PERIOD).status_code == 200
    assert any('"procedures_testorder"' in q["sql"] for q in replica.captured_queries)


def test_the_turnaround_page_and_its_csv_read_from_the_replica(manager):
    """The other report: its figures on the `replica` alias too, the primary only asked
    for the login (and the session's site, on the first page)."""
    build_world()
    manager.get("/results/turnaround/", PERIOD)
    for url in ("/results/turnaround/", "/results/turnaround.csv"):
        _on_primary, on_replica = _reads(manager, url)
        assert any('"procedures_testorder"' in sql for sql in on_replica), url
        assert any('"procedures_reportday"' in sql for sql in on_replica), url


def test_it_shows_the_current_sites_figures_or_the_networks(manager):
    world = build_world()
    north = SiteFactory(name="Northgate", code="north")
    Room.objects.filter(pk=world.room_b.pk).update(site=north)

    def listed_rooms():
        table = rows(manager.get(f"{URL}rooms.csv", PERIOD))
        return [row[0] for row in table[1:] if row[0] != "All rooms"]

    assert listed_rooms() == ["Room A"]  # the admin's home site: the first one
    manager.post("/site/", {"site": north.pk, "next": URL})
    assert listed_rooms() == ["Room B"]
    manager.post("/site/", {"site": "all", "next": URL})
    assert sorted(listed_rooms()) == ["Room A", "Room B"]
