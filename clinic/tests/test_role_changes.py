"""The audit admin shows no patient data; role changes are audited, shown on
/audit/, told to the other clinic admins, and never self-granted
(clinic/admin.py, clinic/role_changes.py)."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.test import Client

from clinic import roles
from conftest import make_user
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def groups():
    return {name: Group.objects.get_or_create(name=name)[0] for name in roles.ALL_ROLES}


@pytest.fixture
def admin_a(groups):
    return make_user("ada", roles.CLINIC_ADMIN, is_staff=True, email="ada@clinic.example")


@pytest.fixture
def admin_b(groups):
    return make_user("bob", roles.CLINIC_ADMIN, is_staff=True, email="bob@clinic.example")


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_roles(client: Client, user, role_names: list[str], groups):
    """Submit the admin's change form for `user` with these roles."""
    return client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "is_active": "on",
            **({"is_staff": "on"} if user.is_staff else {}),
            "groups": [groups[name].pk for name in role_names],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "09:00:00",
        },
    )


# --- The audit admin --------------------------------------------------------------


def test_the_audit_admin_names_changed_fields_never_their_values(admin_a):
    patient = PatientFactory(
        given_name="Imelda",
        family_name="Quist",
        date_of_birth=dt.date(1950, 2, 3),
        email="imelda@example.com",
        phone="0207 111 2222",
    )
    patient.phone = "0207 333 4444"
    patient.email = "quist@example.com"
    patient.save()
    entries = LogEntry.objects.get_for_object(patient).order_by("timestamp")
    client = logged_in(admin_a)

    pages = [client.get("/admin/auditlog/logentry/")] + [
        client.get(f"/admin/auditlog/logentry/{entry.pk}/change/") for entry in entries
    ]

    for page in pages:
        text = page.content.decode()
        assert page.status_code == 200
        for value in ("Quist", "Imelda", "1950", "imelda@", "quist@", "0207 111", "0207 333"):
            assert value not in text, value
    assert "phone" in pages[-1].content.decode() and "email" in pages[-1].content.decode()
    assert f"patients.patient #{patient.pk}" in pages[-1].content.decode()


def test_the_audit_admin_does_not_search_inside_the_values(admin_a):
    patient = PatientFactory(family_name="Quist")
    patient.phone = "0207 333 4444"
    patient.save()

    page = logged_in(admin_a).get("/admin/auditlog/logentry/", {"q": "0207 333 4444"})

    assert page.context["cl"].result_count == 0


# --- Role changes ------------------------------------------------------------------


def test_a_role_change_is_audited_shown_on_the_audit_page_and_told_to_the_other_admins(
    admin_a, admin_b, groups, mailoutbox, django_capture_on_commit_callbacks
):
    nurse = make_user("nia", roles.NURSE, is_staff=False)
    client = logged_in(admin_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = change_roles(client, nurse, [roles.NURSE, roles.PHYSICIAN], groups)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert set(nurse.groups.values_list("name", flat=True)) == {roles.NURSE, roles.PHYSICIAN}
    audit = client.get("/audit/", {"object_type": "auth.user", "object_id": nurse.pk})
    assert "groups (added: Physician)" in audit.content.decode()  # the role's label
    [message] = mailoutbox
    assert message.to == ["bob@clinic.example"]  # the other admin, not the one who did it
    assert message.subject == "A staff member's roles changed"
    assert "ada changed the roles of the account nia" in message.body
    assert "Added: Physician" in message.body


def test_the_set_up_superuser_is_told_of_another_admins_role_change(
    admin_a, groups, mailoutbox, django_capture_on_commit_callbacks, settings
):
    """QA pass 2, #6: recipients came from the clinic admin group only, which the
    createsuperuser account is not in, so the first admin's grants reached nobody."""
    settings.SITE_URL = "https://clinic.test"
    make_user("root", None, is_staff=True, is_superuser=True, email="root@clinic.example")
    make_user("gone", None, is_superuser=True, is_active=False, email="gone@clinic.example")
    nurse = make_user("nia", roles.NURSE, is_staff=False)

    with django_capture_on_commit_callbacks(execute=True):
        change_roles(logged_in(admin_a), nurse, [roles.NURSE, roles.FRONT_DESK], groups)

    [message] = mailoutbox
    assert message.to == ["root@clinic.example"]  # active; not the admin who did it
    assert "Added: Front desk" in message.body
    assert message.message()["Message-ID"].endswith("@clinic.test>")  # not the machine's name


def test_an_admin_cannot_give_themselves_a_clinical_role(admin_a, groups, mailoutbox):
    client = logged_in(admin_a)

    response = change_roles(client, admin_a, [roles.CLINIC_ADMIN, roles.PHYSICIAN], groups)

    assert response.status_code == 200
    assert "You cannot add a role to your own account" in response.content.decode()
    assert set(admin_a.groups.values_list("name", flat=True)) == {roles.CLINIC_ADMIN}
    assert mailoutbox == []


def test_a_second_admin_can_give_an_admin_a_clinical_role(
    admin_a, admin_b, groups, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = change_roles(
            logged_in(admin_b), admin_a, [roles.CLINIC_ADMIN, roles.PHYSICIAN], groups
        )

    assert response.status_code == 302
    assert roles.PHYSICIAN in set(admin_a.groups.values_list("name", flat=True))
