"""Roles carry model permissions (for the admin), and the admin is the clinic admin's."""

import datetime as dt

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User

from clinic import roles
from clinic.models import ReadAccess
from conftest import make_user
from patients.tests.factories import PatientFactory
from procedures.catalog.resources import Room

pytestmark = pytest.mark.django_db


def perms_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_it_gives_each_role_the_permissions_of_its_work():
    front_desk, nurse = perms_of(roles.FRONT_DESK), perms_of(roles.NURSE)
    physician, admin = perms_of(roles.PHYSICIAN), perms_of(roles.CLINIC_ADMIN)

    assert {"patients.add_patient", "procedures.add_appointment"} <= front_desk
    assert {"procedures.view_testorder", "procedures.change_appointment"} <= nurse
    assert {"procedures.add_testresult", "procedures.change_testresult"} <= physician
    assert {
        "procedures.add_room",
        "procedures.change_proceduretype",
        "auth.add_user",
        "auditlog.view_logentry",
        "clinic.view_readaccess",
        "axes.delete_accessattempt",
    } <= admin


def test_it_keeps_result_content_from_the_front_desk_and_nurses():
    for role in (roles.FRONT_DESK, roles.NURSE):
        assert not {p for p in perms_of(role) if p.endswith("_testresult")}, role


def test_it_lets_no_role_edit_or_delete_audit_rows_or_patients():
    for role in roles.ALL_ROLES:
        granted = perms_of(role)
        forbidden = {
            p
            for p in granted
            if p.startswith(("auditlog.add", "auditlog.change", "auditlog.delete"))
            or p in {"clinic.change_readaccess", "clinic.delete_readaccess"}
            or p == "patients.delete_patient"
        }
        assert forbidden == set(), role


def test_it_keeps_the_catalog_out_of_physicians_hands():
    assert "procedures.change_proceduretype" not in perms_of(roles.PHYSICIAN)
    assert "auth.change_user" not in perms_of(roles.PHYSICIAN)


@pytest.fixture
def clinic_admin_client(client):
    # A clinic admin by role and staff flag only: not a superuser.
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


def test_it_lets_a_clinic_admin_manage_the_catalog_and_resources_in_the_admin(
    clinic_admin_client,
):
    room = Room.objects.create(name="Room 9")

    for model in ("room", "provider", "proceduretype", "testtype"):
        assert clinic_admin_client.get(f"/admin/procedures/{model}/").status_code == 200, model
        assert clinic_admin_client.get(f"/admin/procedures/{model}/add/").status_code == 200, model
    # Clinic holidays are added on the hours page, which warns about booked visits first;
    # the admin shows them read-only.
    assert clinic_admin_client.get("/admin/procedures/clinicholiday/").status_code == 200
    assert clinic_admin_client.get("/admin/procedures/clinicholiday/add/").status_code == 403
    assert clinic_admin_client.get("/hours/").status_code == 200
    page = clinic_admin_client.get(f"/admin/procedures/room/{room.pk}/change/").content.decode()
    assert 'name="_save"' in page  # an editable form, not a read-only view
    assert clinic_admin_client.get("/admin/auth/user/add/").status_code == 200


@pytest.mark.parametrize("model", ["resultcoverage", "reminderpolicy"])
def test_it_lets_a_clinic_admin_set_results_cover_and_reminder_policies(clinic_admin_client, model):
    assert clinic_admin_client.get(f"/admin/procedures/{model}/").status_code == 200
    page = clinic_admin_client.get(f"/admin/procedures/{model}/add/")
    assert page.status_code == 200
    assert 'name="_save"' in page.content.decode()
    assert {
        f"procedures.{action}_{model}" for action in ("add", "change", "delete", "view")
    } <= perms_of(roles.CLINIC_ADMIN)


@pytest.mark.parametrize("model", ["resultcoverage", "reminderpolicy"])
def test_it_keeps_results_cover_and_reminder_policies_from_the_front_desk(client, model):
    client.force_login(make_user("desk", roles.FRONT_DESK, is_staff=True))

    for url in (f"/admin/procedures/{model}/", f"/admin/procedures/{model}/add/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    assert not {p for p in perms_of(roles.FRONT_DESK) if p.endswith(f"_{model}")}


def test_it_shows_a_clinic_admin_no_patient_records_in_the_admin(clinic_admin_client):
    patient = PatientFactory()

    assert clinic_admin_client.get("/admin/patients/patient/").status_code == 404
    assert clinic_admin_client.get(f"/admin/patients/patient/{patient.pk}/change/").status_code in (
        302,
        404,
    )


def test_it_shows_a_superuser_no_patient_records_in_the_admin_either(client, admin_user):
    """A superuser passes every model permission in the admin, which records no reads:
    patients are not in the admin at all, so nobody lists, reads or deletes them there."""
    patient = PatientFactory()
    client.force_login(admin_user)

    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/patients/patient/").status_code == 404
    assert client.get(f"/admin/patients/patient/{patient.pk}/change/").status_code == 404
    assert client.get(f"/admin/patients/patient/{patient.pk}/delete/").status_code == 404
    assert b"/admin/patients/patient/" not in client.get("/admin/").content


def test_it_lets_a_clinic_admin_create_staff_but_not_superusers(clinic_admin_client):
    response = clinic_admin_client.post(
        "/admin/auth/user/add/",
        {
            "username": "newnurse",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    nurse = User.objects.get(username="newnurse")
    nurse_group = Group.objects.get(name=roles.NURSE)

    response = clinic_admin_client.post(
        f"/admin/auth/user/{nurse.pk}/change/",
        {
            "username": "newnurse",
            "is_active": "on",
            "is_superuser": "on",
            "groups": [nurse_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "09:00:00",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    nurse.refresh_from_db()
    assert list(nurse.groups.values_list("name", flat=True)) == [roles.NURSE]
    assert nurse.is_superuser is False


def test_it_refuses_the_admin_to_staff_without_the_clinic_admin_role(client):
    client.force_login(make_user("desk", roles.FRONT_DESK, is_staff=True))

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_it_never_deletes_or_edits_audit_rows_even_for_a_superuser(client, admin_user):
    patient = PatientFactory()
    # Staff accounts are audited too (clinic/role_changes.py): take the patient's entry.
    entry = LogEntry.objects.get_for_object(patient).get()
    read = ReadAccess.objects.create(user=admin_user, object_type="patients.patient", object_id="1")
    client.force_login(admin_user)

    assert (
        client.post(f"/admin/auditlog/logentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert (
        client.post(f"/admin/clinic/readaccess/{read.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    response = client.post(f"/admin/clinic/readaccess/{read.pk}/change/", {"object_id": "2"})
    assert response.status_code in (403, 200)
    assert LogEntry.objects.filter(pk=entry.pk).exists()
    read.refresh_from_db()
    assert read.object_id == "1"


def test_it_links_the_admin_home_to_the_audit_trail(clinic_admin_client):
    response = clinic_admin_client.get("/admin/")

    assert response.status_code == 200
    assert 'href="/audit/"' in response.content.decode()


def test_a_clinic_admin_sets_a_rooms_hours_on_the_hours_page_not_in_the_admin(
    clinic_admin_client,
):
    """Issue 16: the Django admin shows a room's hours read-only (an added row used to
    replace the clinic default on every weekday without a word); the staff page sets
    them, starting from the default and warning about booked visits."""
    room = Room.objects.create(name="Room 9")
    url = f"/admin/procedures/room/{room.pk}/change/"
    # A room belongs to a site (issue 18).
    form = {"name": "Room 9", "site": str(room.site_id), "is_monitored": "on", "is_active": "on"}
    for prefix in ("working_hours", "unavailabilities"):
        form |= {
            f"{prefix}-TOTAL_FORMS": "1" if prefix == "working_hours" else "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    form |= {
        "working_hours-0-weekday": "2",
        "working_hours-0-starts": "09:00",
        "working_hours-0-ends": "13:00",
    }

    response = clinic_admin_client.post(url, form)

    assert response.status_code == 302
    assert not room.working_hours.exists()

    response = clinic_admin_client.post(
        f"/hours/room/{room.pk}/",
        {"mode": "own", "d2_s1_from": "09:00", "d2_s1_until": "13:00", "action": "save"},
    )

    assert response.status_code == 302
    [session] = room.working_hours.all()
    assert (session.weekday, session.starts, session.ends, session.provider_id) == (
        2,
        dt.time(9),
        dt.time(13),
        None,
    )


def test_it_gives_merges_to_clinic_admins_and_the_clinical_record_to_clinicians():
    admin = perms_of(roles.CLINIC_ADMIN)
    assert {"patients.view_patientmerge", "patients.change_patientmerge"} <= admin
    assert not {p for p in admin if p.endswith(("_allergy", "_bloodresult", "_patient"))}
    for role in (roles.NURSE, roles.PHYSICIAN):
        assert {"patients.add_allergy", "patients.add_bloodresult"} <= perms_of(role), role
    for role in (roles.FRONT_DESK, roles.NURSE, roles.PHYSICIAN):
        assert not {p for p in perms_of(role) if p.endswith("_patientmerge")}, role
    for role in roles.ALL_ROLES:
        assert "patients.delete_patientmerge" not in perms_of(role)


def test_it_keeps_the_merge_records_from_the_front_desk(client):
    client.force_login(make_user("desk2", roles.FRONT_DESK, is_staff=True))

    response = client.get("/admin/patients/patientmerge/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
