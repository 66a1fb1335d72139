"""Every page or fragment that shows a patient's data records the read (issue 15).

The walk: every URL of the project (the names of tests/url_rules.py, so a new
URL is walked too), for every role, with a seeded patient, their appointments today,
a test order, a waitlist entry, a front-desk task and a reminder with its email.
Each URL is opened (GET, with the query strings that choose the patient), posted
empty (a refused form shown again) and, for the searches, posted with the patient's
name. Any answer that is not a redirect and shows the patient's name or MRN must
have recorded a read by that user, naming the patient or one of their records.
"""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic import roles
from clinic.models import ReadAccess
from patients.tests.factories import PatientFactory
from procedures.catalog.clock import clinic_today
from tests.url_rules import project_url_names
from tests.url_world import patient_world, role_users

# The operations dashboard reads from the `replica` alias (clinic/db_routers.py).
pytestmark = pytest.mark.django_db(databases=["default", "replica"])

FAMILY, GIVEN, MRN = "Quernby-Vask", "Ottoline", "C90000017"

# An empty POST would carry these out (they need no form), or ends the session:
# they answer with a redirect anyway, so nothing is shown to check.
ACTS_ON_EMPTY_POST = {
    "logout",
    "logout_everywhere",
    "session_keepalive",
    "procedures:appointment_confirm",
    "procedures:appointment_check_in",
    "procedures:appointment_start",
    "procedures:appointment_no_show",
    "procedures:appointment_complete",
    "procedures:prep_hold_confirm",
    "procedures:prep_task_done",
    "procedures:waitlist_remove",
    "procedures:reminder_resend",
    "procedures:reminder_resolve",
    "patients:allergy_none",
    "patients:allergy_remove",
}


@pytest.fixture
def world(settings, tmp_path):
    settings.DEBUG = True  # the local outbox pages open only in development
    settings.EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
    settings.CLINIC_OUTBOX_DIR = tmp_path
    users = role_users()
    seeded = patient_world(
        tmp_path,
        physician=users[roles.PHYSICIAN],
        given=GIVEN,
        family=FAMILY,
        mrn=MRN,
        email="oq@example.com",
    )
    patient = seeded["patient"]
    records = {
        ("patients.patient", str(patient.pk)),
        ("procedures.testorder", str(seeded["order"].pk)),
        ("procedures.reminder", str(seeded["reminder"].pk)),
        *(
            ("procedures.appointment", str(pk))
            for pk in patient.appointments.values_list("pk", flat=True)
        ),
    }
    return {
        "patient": patient,
        "users": users,
        "records": records,
        "args": seeded["args"],
        "provider": seeded["provider"],
    }


def _requests(world) -> list[tuple[str, str, str, dict, dict]]:
    """(url name, method, query or "", POST data, headers) for the walk."""
    patient, provider = world["patient"], world["provider"]
    walk = []
    for name in sorted(set(project_url_names())):
        walk.append((name, "get", "", {}, {}))
        if name not in ACTS_ON_EMPTY_POST:
            walk.append((name, "post", "", {}, {}))
    walk += [
        # Query strings that choose the patient or show their day.
        ("procedures:slot_finder", "get", f"patient={patient.pk}", {}, {}),
        ("procedures:appointment_book", "get", f"patient={patient.pk}", {}, {}),
        ("procedures:calendar", "get", f"by=provider&id={provider.pk}&view=week", {}, {}),
        ("procedures:calendar", "get", "", {}, {"HX-Request": "true", "HX-Target": "calendar"}),
        ("procedures:day_sheet", "get", f"by=provider&id={provider.pk}", {}, {}),
        ("procedures:worklist", "get", "scope=all", {}, {}),
        ("procedures:outbox_list", "get", "status=pending", {}, {}),
        # Searches: the results are one list read.
        ("patients:list", "post", "", {"q": FAMILY}, {}),
        ("patients:list", "post", "", {"q": FAMILY}, {"HX-Request": "true"}),
        ("patients:list", "post", "", {"lookup": MRN}, {}),
        ("patients:pick", "post", "", {"q": FAMILY}, {"HX-Request": "true"}),
        ("procedures:slot_finder", "post", "", {"action": "search", "q": FAMILY}, {}),
        ("procedures:waitlist", "post", "", {"action": "search", "q": FAMILY}, {}),
        # Refused forms shown again with the patient chosen.
        ("procedures:slot_finder", "post", "", {"patient": patient.pk}, {}),
        ("procedures:slot_finder", "post", "", {"patient": patient.pk, "slot": "x"}, {}),
        ("procedures:waitlist", "post", "", {"patient": patient.pk}, {}),
        ("procedures:appointment_book", "post", "", {"patient_mrn": MRN}, {}),
        ("procedures:prep_medication_add", "post", "", {"name": "", "dose": "5 mg"}, {}),
        # Hours that would leave the patient's visit outside hours list it (issue 16).
        (
            "procedures:hours_detail",
            "post",
            "",
            {"mode": "own", "d6_s1_from": "09:00", "d6_s1_until": "10:00", "action": "save"},
            {},
        ),
        # A closure of every site today lists the patient's visit today (issue 18).
        (
            "procedures:hours_closure_add",
            "post",
            "",
            {
                "closure-date": clinic_today().isoformat(),
                "closure-name": "Strike",
                "closure-site": "",
            },
            {},
        ),
        # A registration that looks like this patient lists them as a likely duplicate.
        (
            "patients:create",
            "post",
            "",
            {
                "submission_key": str(uuid.uuid4()),
                "given_name": "Ann",
                "family_name": "Other",
                "date_of_birth": "1970-01-01",
                "sex": "female",
                "email": patient.email,
                "phone": "07700 900222",
                "preferred_language": "en",
            },
            {},
        ),
    ]
    return walk


def _shows_the_patient(response) -> bool:
    if response.status_code in (301, 302, 303, 307, 308) or response.streaming:
        return False
    content = response.content.decode("utf-8", "replace")
    return FAMILY in content or MRN in content


def test_it_records_a_read_wherever_a_page_shows_the_patient(client, world):
    unrecorded, shown = [], 0
    for who, user in world["users"].items():
        client.force_login(user)
        for name, method, query, data, headers in _requests(world):
            url = reverse(name, args=world["args"].get(name, []))
            if query:
                url += "?" + query
            last = ReadAccess.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            response = getattr(client, method)(url, data, headers=headers)
            if not _shows_the_patient(response):
                continue
            shown += 1
            reads = {
                (read.object_type, record)
                for read in ReadAccess.objects.filter(pk__gt=last, user=user)
                for record in read.records  # a record's own, or a list's
            }
            if not reads & world["records"]:
                unrecorded.append(f"{who} {method.upper()} {url} {query} {data}")
    assert not unrecorded, "shown without recording the read:\n" + "\n".join(unrecorded)
    assert shown > 60  # the walk did reach the patient's pages


def test_it_records_a_list_read_as_one_row_naming_each_patient_in_one_insert(client, world):
    """The search results: one read of the list, naming each patient shown (by id),
    found by each patient's id as a read of their own page is."""
    others = [PatientFactory(family_name=FAMILY, mrn=f"C9000010{n}") for n in range(3)]
    shown = [world["patient"], *others]
    user = world["users"][roles.FRONT_DESK]
    client.force_login(user)

    with CaptureQueriesContext(connection) as queries:
        response = client.post(reverse("patients:list"), {"q": FAMILY})

    assert response.status_code == 200
    inserts = [q for q in queries if q["sql"].startswith('INSERT INTO "clinic_readaccess"')]
    assert len(inserts) == 1
    read = ReadAccess.objects.get(user=user, view_name="patients:list")
    assert read.object_type == "patients.patient"
    assert sorted(read.records) == sorted(str(p.pk) for p in shown)
    for patient in shown:
        assert list(ReadAccess.objects.of_record("patients.patient", patient.pk)) == [read]
    # The data itself is never in the audit: only types, ids, the page and the address.
    row = ReadAccess.objects.filter(pk=read.pk).values().get()
    assert FAMILY not in str(row) and MRN not in str(row)


@pytest.mark.services
def test_a_list_read_goes_straight_into_the_index_of_who_read_whom(postgres, client, world):
    """No GIN pending list on the lists' ids: "who read patient X" reads the index, not
    a list of unmerged rows one by one, and no page view pays for merging them."""
    client.force_login(world["users"][roles.FRONT_DESK])
    client.post(reverse("patients:list"), {"q": FAMILY})
    assert ReadAccess.objects.filter(view_name="patients:list").exists()
    with connection.cursor() as cursor:
        # The number of pending pages it had to merge.
        cursor.execute("SELECT gin_clean_pending_list('readaccess_object_ids_idx'::regclass)")
        assert cursor.fetchone()[0] == 0


def test_it_records_nothing_for_a_list_that_shows_no_patient(client, world):
    user = world["users"][roles.FRONT_DESK]
    client.force_login(user)

    client.post(reverse("patients:list"), {"q": "Nobody-By-This-Name"})

    assert not ReadAccess.objects.filter(user=user, view_name="patients:list").exists()
