"""What a clinic admin (the role, not a superuser) meets: where the site's root and the
admin's header links lead, the Manage page, roles by their labels, and wording meant
for them."""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group

from clinic import roles
from clinic.audit_views import changed_fields
from conftest import make_user
from procedures.tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_admin(client):
    user = make_user("ca", roles.CLINIC_ADMIN, is_staff=True)
    client.force_login(user)
    return client


def text(response) -> str:
    return " ".join(response.content.decode().split())


def test_the_sites_root_takes_a_clinic_admin_to_the_manage_page_not_back_to_the_admin(
    clinic_admin,
):
    response = clinic_admin.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/manage/"

    page = text(clinic_admin.get("/manage/"))
    for link in ('href="/reports/operations/"', 'href="/hours/"', 'href="/audit/"'):
        assert link in page, link
    assert 'href="/admin/"' in page


def test_the_admins_header_links_lead_to_the_manage_page(clinic_admin):
    page = clinic_admin.get("/admin/").content.decode()

    assert 'href="/manage/">View site</a>' in page
    assert 'href="/manage/">Back to the clinic' in page


def test_only_clinic_admins_open_the_manage_page(client):
    client.force_login(make_user("fd", roles.FRONT_DESK))
    assert client.get("/manage/").status_code == 403


def test_roles_read_as_their_labels_in_the_user_form_and_the_audit(clinic_admin):
    for role in roles.ALL_ROLES:
        Group.objects.get_or_create(name=role)
    colleague = make_user("fd2", roles.FRONT_DESK)

    page = text(clinic_admin.get(f"/admin/auth/user/{colleague.pk}/change/"))
    assert ">Clinic admin</option>" in page and ">Front desk</option>" in page
    assert ">clinic_admin</option>" not in page

    colleague.groups.add(Group.objects.get(name=roles.NURSE))
    entry = LogEntry.objects.filter(object_pk=str(colleague.pk)).latest("timestamp")
    assert changed_fields(entry) == "groups (added: Nurse)"


def test_the_read_access_table_is_spelt_right(clinic_admin):
    from clinic.models import ReadAccess

    assert ReadAccess._meta.verbose_name_plural == "read accesses"


def test_a_physician_is_linked_only_to_an_active_physicians_unlinked_account(clinic_admin):
    free = make_user("drfree", roles.PHYSICIAN)
    taken = make_user("drtaken", roles.PHYSICIAN)
    ProviderFactory(user=taken, display_name="Dr Taken")
    make_user("drgone", roles.PHYSICIAN, is_active=False)
    make_user("fd", roles.FRONT_DESK)
    provider = ProviderFactory(display_name="Dr New")

    form = (
        clinic_admin.get(f"/admin/procedures/provider/{provider.pk}/change/")
        .context["adminform"]
        .form
    )

    assert list(form.fields["user"].queryset) == [free]


def test_the_not_allowed_page_speaks_to_a_clinic_admin_as_one(clinic_admin):
    page = text(clinic_admin.get("/calendar/"))

    assert "ask the clinic admin" not in page
    assert "ask another clinic admin to give your account that role" in page
