"""The audit page: clinic admins see who wrote and read what, filter it and export it."""

import csv
import io
from datetime import date

import pytest
import time_machine
from auditlog.models import LogEntry
from django.utils import timezone

from clinic import roles
from clinic.models import EmergencyAccess, ReadAccess
from conftest import make_user
from patients.tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(client):
    user = make_user("auditor", roles.CLINIC_ADMIN, is_staff=True)
    client.force_login(user)
    return client


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_it_lists_changes_by_type_and_id_without_the_patients_data(auditor):
    patient = PatientFactory(given_name="Imelda", family_name="Quist")
    patient.phone = "0207 111 2222"
    patient.save()

    response = auditor.get("/audit/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"patients.patient #{patient.pk}" in page
    assert "created" in page and "changed" in page
    assert "phone" in page  # the name of the changed field...
    assert "0207 111 2222" not in page  # ...never its value
    assert "Quist" not in page


def test_it_lists_reads_and_filters_them_by_user_type_and_date(auditor, frontdesk_user):
    patient = PatientFactory()
    other = make_user("other", roles.NURSE)
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 3, 2, 10)), tick=False):
        ReadAccess.objects.create(
            user=frontdesk_user, object_type="patients.patient", object_id=str(patient.pk)
        )
    with time_machine.travel(timezone.make_aware(timezone.datetime(2026, 3, 5, 10)), tick=False):
        ReadAccess.objects.create(
            user=frontdesk_user, object_type="procedures.testorder", object_id="77"
        )
        ReadAccess.objects.create(user=other, object_type="patients.patient", object_id="5")

    everything = auditor.get("/audit/", {"kind": "reads"})
    by_user = auditor.get("/audit/", {"kind": "reads", "user": "fd"})
    by_type = auditor.get(
        "/audit/", {"kind": "reads", "user": "fd", "object_type": "patients.patient"}
    )
    by_date = auditor.get(
        "/audit/", {"kind": "reads", "date_from": "2026-03-04", "date_to": "2026-03-05"}
    )

    assert everything.context["page"].paginator.count == 3
    assert by_user.context["page"].paginator.count == 2
    assert [r["object_id"] for r in by_type.context["rows"]] == [str(patient.pk)]
    assert {r["object_id"] for r in by_date.context["rows"]} == {"77", "5"}


def test_it_finds_who_read_a_patient_on_their_page_and_in_lists(auditor, frontdesk_user):
    """Who has seen patient X? The reads of X's own page and every list that
    showed X (a search, a board, a calendar: one row for the page), none other."""
    x, y = PatientFactory(), PatientFactory()
    nurse = make_user("nurse1", roles.NURSE)
    ReadAccess.objects.create(
        user=frontdesk_user,
        object_type="patients.patient",
        object_id=str(x.pk),
        view_name="patients:detail",
    )
    ReadAccess.objects.create(
        user=nurse,
        object_type="patients.patient",
        object_ids=[str(y.pk), str(x.pk), "990"],
        view_name="procedures:calendar",
    )
    ReadAccess.objects.create(
        user=nurse,
        object_type="patients.patient",
        object_ids=[str(y.pk), "991"],
        view_name="procedures:today",
    )

    response = auditor.get(
        "/audit/", {"kind": "reads", "object_type": "patients.patient", "object_id": str(x.pk)}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert [(r["user"], r["detail"]) for r in response.context["rows"]] == [
        ("nurse1", "procedures:calendar"),
        ("fd", "patients:detail"),
    ]
    assert f"patients.patient #{x.pk} " in page and "(in a list of 3)" in page
    assert "procedures:today" not in page


def test_it_shows_a_list_read_with_the_ids_it_listed(auditor, frontdesk_user):
    ReadAccess.objects.create(
        user=frontdesk_user,
        object_type="patients.patient",
        object_ids=["11", "12"],
        view_name="procedures:today",
    )

    page = auditor.get("/audit/", {"kind": "reads"}).content.decode()

    assert "<summary>patients.patient: a list of 2</summary>#11, #12</details>" in page


def test_it_exports_a_list_read_as_a_line_per_patient_shown(auditor, frontdesk_user):
    ReadAccess.objects.create(
        user=frontdesk_user,
        object_type="patients.patient",
        object_ids=["11", "12", "13"],
        view_name="procedures:calendar",
        ip_address="203.0.113.5",
    )
    ReadAccess.objects.create(
        user=frontdesk_user, object_type="patients.patient", object_id="12", view_name="p:d"
    )

    patients = {"kind": "reads", "object_type": "patients.patient"}
    everything = rows_of(auditor.get("/audit/export.csv", patients))
    one = rows_of(auditor.get("/audit/export.csv", {**patients, "object_id": "12"}))

    assert sorted((r[4], r[5], r[6]) for r in everything[1:]) == [
        ("11", "procedures:calendar", "203.0.113.5"),
        ("12", "p:d", ""),
        ("12", "procedures:calendar", "203.0.113.5"),
        ("13", "procedures:calendar", "203.0.113.5"),
    ]
    assert sorted((r[4], r[5]) for r in one[1:]) == [("12", "p:d"), ("12", "procedures:calendar")]


def test_a_record_id_needs_its_type(auditor, frontdesk_user):
    ReadAccess.objects.create(
        user=frontdesk_user, object_type="patients.patient", object_id="12", view_name="p:d"
    )

    response = auditor.get("/audit/", {"kind": "reads", "object_id": "12"})

    assert response.status_code == 200
    assert "Give the record type with a record id" in response.content.decode()
    assert response.context["form"].errors["object_type"]


def test_it_explains_a_date_range_that_ends_before_it_starts(auditor):
    response = auditor.get("/audit/", {"date_from": "2026-03-05", "date_to": "2026-03-01"})

    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


def test_it_exports_the_filtered_rows_as_csv_and_records_the_export(auditor, frontdesk_user):
    ReadAccess.objects.create(user=frontdesk_user, object_type="patients.patient", object_id="1")
    ReadAccess.objects.create(
        user=frontdesk_user, object_type="procedures.testorder", object_id="2"
    )

    response = auditor.get(
        "/audit/export.csv", {"kind": "reads", "object_type": "patients.patient"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0] == ["at", "user", "action", "object_type", "object_id", "detail", "ip_address"]
    assert [(r[1], r[3], r[4]) for r in rows[1:]] == [("fd", "patients.patient", "1")]
    export = ReadAccess.objects.get(object_type="clinic.audit_export")
    assert export.user.username == "auditor"


def test_it_defuses_spreadsheet_formulas_in_the_export(auditor):
    physician = make_user("md", roles.PHYSICIAN)
    EmergencyAccess.objects.create(
        user=physician,
        object_type="patients.patient",
        object_id="9",
        reason='=HYPERLINK("http://evil.example")',
        expires_at=timezone.now(),
    )

    rows = rows_of(auditor.get("/audit/export.csv", {"kind": "emergency"}))

    assert rows[1][5] == '\'=HYPERLINK("http://evil.example")'


def test_it_pages_the_audit_with_a_fixed_number_of_queries(
    auditor, frontdesk_user, django_assert_num_queries
):
    def count_queries_with(n: int) -> None:
        ReadAccess.objects.all().delete()
        ReadAccess.objects.bulk_create(
            ReadAccess(user=frontdesk_user, object_type="patients.patient", object_id=str(i))
            for i in range(n)
        )
        ReadAccess.objects.create(
            user=frontdesk_user,
            object_type="patients.patient",
            object_ids=[str(i) for i in range(n)],
        )
        # session, user, groups, count, page; the header's site switcher's sites (#18)
        with django_assert_num_queries(6):
            assert auditor.get("/audit/", {"kind": "reads"}).status_code == 200

    count_queries_with(3)
    count_queries_with(120)


def test_it_shows_the_audit_to_clinic_admins_only(client, frontdesk_user, physician_user):
    for user in (frontdesk_user, physician_user):
        client.force_login(user)
        assert client.get("/audit/").status_code == 403
        assert client.get("/audit/export.csv").status_code == 403


def test_it_offers_no_way_to_change_audit_rows_from_the_page(auditor):
    PatientFactory()
    before = LogEntry.objects.count()

    assert auditor.post("/audit/", {"kind": "changes"}).status_code == 405
    assert auditor.delete("/audit/").status_code == 405
    assert LogEntry.objects.count() == before


def test_it_shows_no_rows_for_a_day_without_activity(auditor):
    PatientFactory()
    day = date(2001, 1, 1).isoformat()

    response = auditor.get("/audit/", {"date_from": day, "date_to": day})

    assert "No rows match this filter." in response.content.decode()


def test_it_names_a_list_read_in_the_admin_and_shows_its_ids(admin_client, frontdesk_user):
    listed = ReadAccess.objects.create(
        user=frontdesk_user,
        object_type="patients.patient",
        object_ids=["11", "12"],
        view_name="procedures:calendar",
    )
    ReadAccess.objects.create(user=frontdesk_user, object_type="patients.patient", object_id="7")

    changelist = admin_client.get("/admin/clinic/readaccess/").content.decode()
    detail = admin_client.get(f"/admin/clinic/readaccess/{listed.pk}/change/").content.decode()

    assert "a list of 2" in changelist and ">7</td>" in changelist
    assert "[&quot;11&quot;, &quot;12&quot;]" in detail
