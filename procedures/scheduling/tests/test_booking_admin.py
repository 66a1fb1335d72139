"""The clinic admin edits what the booking rules read: buffers in the Django admin; hours and
leave on the staff page (test_hours_admin.py), which the admin lists and links to."""

import datetime as dt

import pytest

from clinic import roles
from conftest import make_user
from procedures.catalog.hours import WorkingHours
from procedures.catalog.models import ProcedureType
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clinic_admin_client(client):
    # A clinic admin by role and staff flag only: not a superuser.
    client.force_login(make_user("ca", roles.CLINIC_ADMIN, is_staff=True))
    return client


def test_the_admin_states_default_or_own_hours_and_sends_changes_to_the_hours_page(
    clinic_admin_client,
):
    lee = ProviderFactory(display_name="Dr Lee")
    adeyemi = ProviderFactory(display_name="Dr Adeyemi")
    WorkingHours.objects.create(provider=adeyemi, weekday=6, starts=dt.time(9), ends=dt.time(12))

    listing = clinic_admin_client.get("/admin/procedures/provider/").content.decode()
    assert "Clinic default: Mon-Fri 08:00-18:00" in listing
    assert "Own hours: Sun 09:00-12:00" in listing
    assert "0 working hours" not in listing
    assert f"/hours/physician/{lee.pk}/" in listing

    page = clinic_admin_client.get(f"/admin/procedures/provider/{lee.pk}/change/").content.decode()
    assert "none: the clinic default applies" in page.lower()
    # Read-only here: no row can be added that would silently replace the default.
    assert 'name="working_hours-MAX_NUM_FORMS" value="0"' in page
    assert clinic_admin_client.get("/admin/procedures/workinghours/add/").status_code == 404
    assert clinic_admin_client.get("/admin/procedures/unavailability/add/").status_code == 403


def test_a_clinic_admin_sets_a_procedures_buffers(clinic_admin_client):
    procedure = ProcedureTypeFactory()
    page = clinic_admin_client.get(f"/admin/procedures/proceduretype/{procedure.pk}/change/")
    html = page.content.decode()
    for label in ("Room set-up before", "Room turnover after", "Recovery after IV sedation"):
        assert label in html
    ProcedureType.objects.filter(pk=procedure.pk).update(recovery_minutes_iv=30)


def test_a_physician_cannot_change_hours_in_the_admin():
    from django.contrib.auth.models import Group

    codes = {p.codename for p in Group.objects.get(name=roles.PHYSICIAN).permissions.all()}
    assert not {c for c in codes if c.endswith(("_workinghours", "_unavailability"))}
