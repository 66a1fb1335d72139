"""Who may open what: login everywhere but /healthz, then roles per page."""

import pytest
from django.contrib.auth.models import Group, User

from clinic import roles
from patients.tests.factories import PatientFactory
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment
from procedures.tests import factories

pytestmark = pytest.mark.django_db

FD, RN, MD, ADMIN = roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN, roles.CLINIC_ADMIN


@pytest.fixture
def records():
    order = factories.TestOrderFactory()
    return {
        "patient": order.appointment.patient.pk,
        "appointment": order.appointment.pk,
        "order": order.pk,
        "provider": order.appointment.provider,
    }


# Every page, and the roles that may open it (GET).
PAGES = {
    "/patients/": {FD, RN, MD},
    "/patients/new/": {FD},
    "/patients/{patient}/": {FD, RN, MD},
    "/patients/{patient}/edit/": {FD},
    "/appointments/": {FD, RN, MD},
    "/appointments/book/": {FD, RN, MD},  # physicians and nurses: the results discussion
    "/appointments/{appointment}/": {FD, RN, MD},
    "/results/": {RN, MD},
    "/results/{order}/": {RN, MD},
}
ACTIONS = [
    "/appointments/{appointment}/complete/",
    "/appointments/{appointment}/cancel/",
]
OUTBOX = ["/outbox/", "/outbox/20250101T000000-abc.eml/", "/outbox/20250101T000000-abc.eml/html/"]


def user_with(role: str | None, treating=None) -> User:
    user = User.objects.create_user(username=f"user-{role}")  # force_login needs no password
    if role:
        user.groups.add(Group.objects.get(name=role))
    if treating is not None:
        # The physician who performs the procedure: the patient is one of theirs.
        treating.user = user
        treating.save()
    return user


@pytest.mark.parametrize("path", ["/", *PAGES, *OUTBOX, "/admin/"])
def test_it_sends_anonymous_visitors_to_the_login_page(client, records, path):
    url = path.format(**records)

    response = client.get(url)

    assert response.status_code == 302
    login = "/admin/login/" if url.startswith("/admin/") else "/accounts/login/"
    assert response["Location"].startswith(f"{login}?next=")


@pytest.mark.parametrize("path", ACTIONS)
def test_it_changes_nothing_for_anonymous_visitors(client, records, path):
    response = client.post(path.format(**records), {"reason": "x"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert Appointment.objects.get().status == "completed"


def test_it_shows_the_login_page_and_healthz_to_anyone(client):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/healthz")["Content-Type"] == "application/json"


@pytest.mark.parametrize("role", [FD, RN, MD, ADMIN, None])
@pytest.mark.parametrize("path", PAGES)
def test_it_opens_each_page_only_to_its_roles(client, records, role, path):
    client.force_login(user_with(role, treating=records["provider"] if role == MD else None))

    response = client.get(path.format(**records))

    expected = 200 if role in PAGES[path] else 403
    assert response.status_code == expected


def test_it_lets_a_superuser_open_only_the_clinic_admins_pages(client, records, admin_user):
    """A superuser is the setup account, a clinic admin: no patient record, result or
    prep decision opens to it (a physician or nurse is made with that role)."""
    client.force_login(admin_user)

    for path, allowed in PAGES.items():
        expected = 200 if ADMIN in allowed else 403
        assert client.get(path.format(**records)).status_code == expected, path


def test_it_does_not_let_the_front_desk_log_results(frontdesk_client, records):
    response = frontdesk_client.post(
        f"/results/{records['order']}/",
        {"interpretation": "normal", "report_text": "Normal marrow.", "is_final": "on"},
    )

    assert response.status_code == 403
    assert not TestOrder.objects.get().results.exists()


def test_it_records_no_read_when_the_page_was_refused(frontdesk_client, records):
    from clinic.models import ReadAccess

    assert frontdesk_client.get(f"/results/{records['order']}/").status_code == 403
    assert not ReadAccess.objects.exists()


def test_it_does_not_let_a_clinic_admin_book(client):
    patient = PatientFactory()
    client.force_login(user_with(ADMIN))
    response = client.post("/appointments/book/", {"patient_mrn": patient.mrn})

    assert response.status_code == 403
    assert not patient.appointments.exists()


@pytest.mark.parametrize(
    ("role", "start_page"),
    [(FD, "/today/"), (RN, "/results/"), (MD, "/results/"), (ADMIN, "/manage/")],
)
def test_it_starts_each_role_on_its_own_screen(client, role, start_page):
    client.force_login(user_with(role))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == start_page


def test_it_tells_a_user_without_a_role_to_ask_for_one(client):
    client.force_login(user_with(None))

    response = client.get("/")

    assert response.status_code == 403
    assert "clinic/no_role.html" in [t.name for t in response.templates]


def test_it_declares_the_roles_of_every_role_checked_view():
    from django.urls import resolve

    for path, allowed in PAGES.items():
        view = resolve(path.format(patient=1, appointment=1, order=1)).func
        assert set(view.allowed_roles) == allowed, path
