"""Merging two records of one person (patients/merging.py) against the real relations
that procedures adds: visits move, overlapping visits refuse, the merge is undone.

Here, not in patients/tests: patients never imports procedures, its tests included.
"""

from datetime import timedelta

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.db import connection

from clinic import roles
from clinic.models import ReadAccess
from conftest import make_user
from patients.merging import patient_merge, patient_merge_undo
from patients.models import Allergy, Medication, Patient, PatientMerge
from patients.tests.factories import PatientFactory
from procedures.models import Appointment, EmailOptOut, WaitlistEntry
from procedures.tests.factories import AppointmentFactory, TestOrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(db):
    return make_user("ca", roles.CLINIC_ADMIN, is_staff=True)


@pytest.fixture
def pair():
    keep = PatientFactory(given_name="Zoë", family_name="O'Brien-Núñez", email="", phone="")
    dup = PatientFactory(
        given_name="Zoe",
        family_name="Obrien",
        date_of_birth=keep.date_of_birth,
        phone="07700 900111",
        address="1 Hill Road",
    )
    return keep, dup


def test_it_moves_everything_to_the_record_kept_and_back_again(pair, admin):
    keep, dup = pair
    kept_visit = AppointmentFactory(patient=keep)
    visit = AppointmentFactory(
        patient=dup,
        start_at=kept_visit.start_at + timedelta(days=2),
        end_at=kept_visit.end_at + timedelta(days=2),
    )
    order = TestOrderFactory(
        appointment__patient=dup,
        appointment__start_at=kept_visit.start_at - timedelta(days=5),
        appointment__end_at=kept_visit.end_at - timedelta(days=5),
    )
    medicine = Medication.objects.create(patient=dup, name="Warfarin", med_class="anticoagulant")
    allergy = Allergy.objects.create(
        patient=dup, substance="latex", reaction="Hives", severity="mild"
    )
    waiting = WaitlistEntry.objects.create(patient=dup, procedure_type=visit.procedure_type)
    opt_out = EmailOptOut.objects.create(patient=dup)

    merge = patient_merge(survivor=keep, merged=dup, reason="Registered twice", user=admin)

    for row in (visit, order.appointment, medicine, allergy, waiting, opt_out):
        row.refresh_from_db()
    assert visit.patient == order.appointment.patient == keep
    assert medicine.patient == allergy.patient == waiting.patient == opt_out.patient == keep
    keep.refresh_from_db()
    dup.refresh_from_db()
    assert dup.merged_into == keep
    assert (keep.phone, keep.address) == ("07700 900111", "1 Hill Road")  # blanks filled
    assert set(merge.moved["procedures.appointment:patient"]) == {visit.pk, order.appointment.pk}
    assert LogEntry.objects.get_for_object(merge).exists()
    assert Patient.objects.search_fuzzy(dup.mrn) == [keep]

    patient_merge_undo(merge_id=merge.pk, user=admin)

    for row in (visit, medicine, allergy, waiting, opt_out):
        row.refresh_from_db()
    assert visit.patient == medicine.patient == allergy.patient == dup
    assert waiting.patient == opt_out.patient == dup
    assert Appointment.objects.get(pk=kept_visit.pk).patient == keep
    keep.refresh_from_db()
    dup.refresh_from_db()
    assert dup.merged_into is None
    assert (keep.phone, keep.address) == ("", "")
    merge.refresh_from_db()
    assert merge.undone_by == admin
    with pytest.raises(ValidationError):
        patient_merge_undo(merge_id=merge.pk, user=admin)


def test_it_keeps_the_survivors_own_email_opt_out(pair, admin):
    keep, dup = pair
    EmailOptOut.objects.create(patient=keep)
    theirs = EmailOptOut.objects.create(patient=dup)

    patient_merge(survivor=keep, merged=dup, reason="Registered twice", user=admin)

    theirs.refresh_from_db()
    assert theirs.patient == dup


@pytest.mark.services
def test_it_refuses_a_merge_that_would_double_book_the_person(postgres, pair, admin):
    keep, dup = pair
    mine = AppointmentFactory(patient=keep)
    AppointmentFactory(patient=dup, start_at=mine.start_at, end_at=mine.end_at)

    with pytest.raises(ValidationError, match="would overlap or clash"):
        patient_merge(survivor=keep, merged=dup, reason="Registered twice", user=admin)

    assert Appointment.objects.filter(patient=dup).count() == 1
    dup.refresh_from_db()
    assert dup.merged_into is None
    assert not PatientMerge.objects.exists()
    assert connection.vendor == "postgresql"


def test_a_clinic_admin_merges_through_the_page_and_the_old_mrn_opens_the_survivor(
    client, pair, admin, frontdesk_user
):
    keep, dup = pair
    client.force_login(admin)
    data = {"survivor_mrn": keep.mrn, "merged_mrn": dup.mrn.lower(), "reason": "Same person"}

    preview = client.post("/patients/merge/", data).content.decode()
    assert f"Merge {dup.mrn} into {keep.mrn}" in preview
    assert ReadAccess.objects.filter(user=admin, object_id=str(dup.pk)).exists()
    assert Patient.objects.get(pk=dup.pk).merged_into is None  # nothing yet

    response = client.post("/patients/merge/", {**data, "confirm": "merge"}, follow=True)
    assert f"Record {dup.mrn} merged into {keep.mrn}" in response.content.decode()
    assert Patient.objects.get(pk=dup.pk).merged_into == keep

    client.force_login(frontdesk_user)
    response = client.get(f"/patients/{dup.pk}/", follow=True)
    assert response.redirect_chain[-1][0] == f"/patients/{keep.pk}/"
    assert f"Record {dup.mrn} was merged into this one." in response.content.decode()


def test_the_merge_page_refuses_unknown_or_equal_mrns(client, pair, admin):
    keep, _dup = pair
    client.force_login(admin)

    page = client.post(
        "/patients/merge/", {"survivor_mrn": keep.mrn, "merged_mrn": "C0000", "reason": "x"}
    ).content.decode()
    assert "No patient has this MRN." in page
    page = client.post(
        "/patients/merge/", {"survivor_mrn": keep.mrn, "merged_mrn": keep.mrn, "reason": "x"}
    ).content.decode()
    assert "Enter two different MRNs." in page
    assert not PatientMerge.objects.exists()


def test_the_merge_page_says_every_problem_at_once(client, pair, admin):
    """QA pass 1, #11: an unknown duplicate MRN with a blank reason said only "reason
    required"; the unknown MRN came on the next try."""
    keep, _dup = pair
    client.force_login(admin)

    response = client.post(
        "/patients/merge/", {"survivor_mrn": keep.mrn, "merged_mrn": "C0000", "reason": ""}
    )

    errors = response.context["form"].errors
    assert errors["merged_mrn"] == ["No patient has this MRN."]
    assert errors["reason"] == ["This field is required."]
    page = response.content.decode()
    assert "No patient has this MRN." in page and "This field is required." in page
    assert not PatientMerge.objects.exists()


def test_a_clinic_admin_undoes_a_merge_from_the_admins_record_of_it(client, pair, admin):
    keep, dup = pair
    merge = patient_merge(survivor=keep, merged=dup, reason="Same", user=admin)
    client.force_login(admin)

    assert client.get("/admin/patients/patientmerge/").status_code == 200
    assert client.get(f"/admin/patients/patientmerge/{merge.pk}/change/").status_code == 200
    response = client.post(
        "/admin/patients/patientmerge/",
        {"action": "undo_merges", "_selected_action": [merge.pk]},
        follow=True,
    )

    assert f"Undone: {dup.mrn} is a record of its own again." in response.content.decode()
    dup.refresh_from_db()
    assert dup.merged_into is None


def test_the_front_desk_cannot_merge_or_undo(frontdesk_client, pair):
    keep, dup = pair
    data = {"survivor_mrn": keep.mrn, "merged_mrn": dup.mrn, "reason": "x", "confirm": "merge"}

    assert frontdesk_client.post("/patients/merge/", data).status_code == 403
    assert Patient.objects.get(pk=dup.pk).merged_into is None


def test_booking_by_the_merged_records_id_or_mrn_reaches_the_survivor(
    pair, admin, frontdesk_client
):
    keep, dup = pair
    patient_merge(survivor=keep, merged=dup, reason="Same person", user=admin)

    page = frontdesk_client.get(f"/appointments/book/?patient={dup.pk}")
    assert page.context["form"].initial["patient_mrn"] == keep.mrn
    finder = frontdesk_client.get(f"/appointments/find/?patient={dup.pk}")
    assert finder.context["form"].initial["patient"] == keep.pk
    assert Patient.objects.current(mrn=dup.mrn) == keep
