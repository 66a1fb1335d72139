"""Merging two records of one patient reopens what the merge changed (QA pass 3,
defects 1 and 6; invariant 32): a visit's hold plan confirmed before the other record's
medicines arrived goes back to the physician, its stop emails wait, a stop already
emailed becomes a front-desk call; the admin chooses the contact details kept, and the
emails follow them; the "different person" decision between the two is closed.

Through the merge page as the clinic admin, then the prep page and the emails as the
patient gets them (locmem). Here, not in patients/tests: patients never imports
procedures. No state machine merges patients (tests/stateful), so invariant 32 is
checked here, after every merge and undo (`_check_invariant_32`).
"""

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client

from clinic import roles
from conftest import make_user
from patients.medications import medication_add
from patients.merging import patient_merge_undo
from patients.models import DuplicateOverride, Medication, Patient, PatientMerge
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.models import CallTask, Reminder
from procedures.prep.facts import hold_rows, plan_of
from procedures.prep.models import MedicationHold
from procedures.scheduling.models import Appointment
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import prep_changes, visits

NOW = clinic_datetime(dt.date(2026, 12, 1), dt.time(9, 0))  # Tuesday 1 December 2026
DUP_DAY = dt.date(2026, 12, 9)  # the duplicate's visit: Wednesday 9 December
KEPT_DAY = dt.date(2026, 12, 16)  # the record kept's visit: Wednesday 16 December
ASPIRIN_STOP = clinic_datetime(dt.date(2026, 12, 5), dt.time(20, 0))
CLOPIDOGREL_STOP = clinic_datetime(dt.date(2026, 12, 11), dt.time(20, 0))
STOP_WORDS = "Your doctor has asked you to stop"  # the medicine-stop email

pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def clinic_admin(db):
    return make_user("ca", roles.CLINIC_ADMIN, is_staff=True)


@pytest.fixture
def physician(physician_user):
    return ProviderFactory(user=physician_user)


def _book(patient, day, physician, by):
    start = clinic_datetime(day, dt.time(10, 0))
    return visits.appointment_book(
        patient=patient,
        procedure_type=ProcedureTypeFactory(kind=ProcedureKind.BIOPSY),
        provider=physician,
        room=RoomFactory(),
        start_at=start,
        end_at=start + dt.timedelta(hours=1),
        sedation_level=SedationLevel.IV_MODERATE,
        by=by,
    )


def _stop_and_confirm(appointment, medication, stop_at, by):
    prep_changes.medication_hold_set(
        appointment_id=appointment.pk,
        medication_id=medication.pk,
        action=MedicationHold.Action.STOP,
        stop_at=stop_at,
        resume_guidance="The evening after the procedure",
        by=by,
    )
    prep_changes.hold_plan_confirm(appointment_id=appointment.pk, by=by)


@pytest.fixture
def aisha(physician, physician_user, frontdesk_user):
    """Aisha Khan registered twice: each record with its own medicine, visit and
    confirmed hold plan, and the duplicate's "different person" decision."""
    keep = PatientFactory(
        given_name="Aisha",
        family_name="Khan",
        date_of_birth=dt.date(1978, 1, 25),
        email="aisha.khan@example.com",
        phone="",
        address="1 Oak Street",
    )
    dup = PatientFactory(
        given_name="Aisha",
        family_name="Khan",
        date_of_birth=keep.date_of_birth,
        email="aisha.k@example.net",
        phone="07700 900999",
        address="9 Elm Road",
    )
    DuplicateOverride.objects.create(
        patient=dup,
        others=[{"id": keep.pk, "mrn": keep.mrn}],
        reason="Busy desk: different person",
        decided_by=frontdesk_user,
    )
    aspirin = medication_add(
        patient=dup, name="Aspirin", dose="75 mg", med_class=Medication.Class.ASPIRIN
    )
    clopidogrel = medication_add(
        patient=keep, name="Clopidogrel", dose="75 mg", med_class=Medication.Class.ANTIPLATELET
    )
    dup_visit = _book(dup, DUP_DAY, physician, frontdesk_user)
    kept_visit = _book(keep, KEPT_DAY, physician, frontdesk_user)
    _stop_and_confirm(dup_visit, aspirin, ASPIRIN_STOP, physician_user)
    _stop_and_confirm(kept_visit, clopidogrel, CLOPIDOGREL_STOP, physician_user)
    assert plan_of(dup_visit).hold_plan_confirmed and plan_of(kept_visit).hold_plan_confirmed
    return keep, dup, dup_visit, kept_visit


def _merge_on_the_page(admin, keep, dup, **choices):
    """The admin's two steps in their own browser: check the records (the preview),
    then merge, posting the choices as the page has them ticked (the record kept's
    details) unless told otherwise."""
    client = Client()
    client.force_login(admin)
    data = {"survivor_mrn": keep.mrn, "merged_mrn": dup.mrn, "reason": "Registered twice"}
    preview = client.post("/patients/merge/", data)
    assert preview.status_code == 200
    ticked = {
        name: value
        for name, value in re.findall(
            r'name="(\w+_from)" value="(\w+)"[^>]*checked', preview.content.decode()
        )
    }
    done = client.post(
        "/patients/merge/", {**data, **ticked, **choices, "confirm": "merge"}, follow=True
    )
    return preview.content.decode(), done


def _check_invariant_32():
    """After a merge no visit still ahead holds a confirmed hold plan that did not decide
    every active medicine of its patient."""
    ahead = Appointment.objects.exclude(
        status__in=[*Appointment.RELEASED_STATUSES, "in_procedure", "completed"]
    )
    for appointment in ahead:
        if plan_of(appointment).hold_plan_confirmed:
            undecided = [r.medication.name for r in hold_rows(appointment) if r.hold is None]
            assert undecided == [], f"visit {appointment.pk} confirmed without {undecided}"


def _stop_emails():
    return [m for m in mail.outbox if STOP_WORDS in m.body]


def test_a_merge_sends_both_visits_hold_plans_back_to_the_physician(
    aisha, clinic_admin, physician_client, physician_user, clock
):
    keep, dup, dup_visit, kept_visit = aisha

    preview, done = _merge_on_the_page(clinic_admin, keep, dup)

    assert "The medicine (hold) plans of 2 visits to come" in preview
    assert "will need a physician to confirm them again" in preview
    assert f"Record {dup.mrn} merged into {keep.mrn}" in done.content.decode()
    _check_invariant_32()
    for visit, undecided in ((dup_visit, "Clopidogrel 75 mg"), (kept_visit, "Aspirin 75 mg")):
        page = physician_client.get(f"/appointments/{visit.pk}/prep/").content.decode()
        assert "Hold plan not confirmed" in page
        assert "Hold plan confirmed" not in page
        # Readiness counts it, and the visit's timeline says why and what to decide.
        assert page.count("Hold plan not confirmed") >= 2
        detail = physician_client.get(f"/appointments/{visit.pk}/").content.decode()
        assert "Hold plan reopened" in detail
        assert f"Records {keep.mrn} and {dup.mrn} merged." in detail
        assert f"No decision yet for {undecided}" in detail
        # The patient's own timeline: keep taking the medicines until told otherwise.
        assert "Keep taking your medicines as usual" in page

    # The aspirin stop time comes: no stop email goes out while the plan is unconfirmed.
    clock.move_to(ASPIRIN_STOP, tick=False)
    reminders_dispatch()
    assert _stop_emails() == []
    assert not Reminder.objects.filter(
        kind=Reminder.Kind.MEDICATION_HOLD, status=Reminder.Status.PENDING
    ).exists()

    # The physician decides the medicine the other record brought and confirms again:
    # the stops are emailed, one each, and the plan reads confirmed.
    clock.move_to(clinic_datetime(dt.date(2026, 12, 6), dt.time(9, 0)), tick=False)
    physician_client.force_login(physician_user)  # days later: a new session
    aspirin = Medication.objects.get(name="Aspirin")
    response = physician_client.post(
        f"/appointments/{kept_visit.pk}/prep/holds/",
        {
            "hold-medication": aspirin.pk,
            "hold-action": MedicationHold.Action.STOP,
            "hold-stop_date": "2026-12-10",
            "hold-stop_time": "20:00",
            "hold-resume_guidance": "",
        },
    )
    assert response.status_code == 302
    physician_client.post(f"/appointments/{kept_visit.pk}/prep/holds/confirm/")
    page = physician_client.get(f"/appointments/{kept_visit.pk}/prep/").content.decode()
    assert "Hold plan confirmed" in page
    for stop_at in (clinic_datetime(dt.date(2026, 12, 10), dt.time(20, 0)), CLOPIDOGREL_STOP):
        clock.move_to(stop_at, tick=False)
        reminders_dispatch()
    stops = _stop_emails()
    assert [m.to for m in stops] == [["aisha.khan@example.com"]] * 2
    assert "Thursday 10 December" in stops[0].body
    assert "Friday 11 December" in stops[1].body


def test_a_stop_emailed_before_the_merge_becomes_a_call_due_now(
    aisha, clinic_admin, frontdesk_client, frontdesk_user, clock
):
    keep, dup, dup_visit, kept_visit = aisha
    clock.move_to(ASPIRIN_STOP, tick=False)
    reminders_dispatch()
    [aspirin_email] = _stop_emails()
    assert aspirin_email.to == ["aisha.k@example.net"]
    clock.move_to(clinic_datetime(dt.date(2026, 12, 6), dt.time(10, 0)), tick=False)

    _merge_on_the_page(clinic_admin, keep, dup)

    [call] = CallTask.objects.filter(reason=CallTask.Reason.RECORDS_MERGED)
    assert call.appointment_id == dup_visit.pk
    assert call.status == CallTask.Status.OPEN
    frontdesk_client.force_login(frontdesk_user)  # days later: a new session
    page = frontdesk_client.get(f"/appointments/{dup_visit.pk}/prep/").content.decode()
    assert "Records merged after a medicine stop was emailed: call the patient" in page
    # The other visit's stop was not sent yet: it waits for the physician, no call.
    assert not CallTask.objects.filter(appointment=kept_visit, reason="records_merged").exists()
    mail.outbox.clear()
    clock.move_to(CLOPIDOGREL_STOP, tick=False)
    reminders_dispatch()
    assert _stop_emails() == []
    _check_invariant_32()


def test_a_plan_that_decided_every_medicine_stays_confirmed(
    clinic_admin, physician, physician_user, frontdesk_user
):
    keep = PatientFactory(email="k@example.com")
    dup = PatientFactory(date_of_birth=keep.date_of_birth, email="")
    warfarin = medication_add(
        patient=dup, name="Warfarin", dose="3 mg", med_class=Medication.Class.ANTICOAGULANT
    )
    visit = _book(dup, DUP_DAY, physician, frontdesk_user)
    _stop_and_confirm(visit, warfarin, ASPIRIN_STOP, physician_user)

    preview, _done = _merge_on_the_page(clinic_admin, keep, dup)

    assert "will need a physician" not in preview
    assert plan_of(visit).hold_plan_confirmed
    # The visit's emails follow the record kept's address: its stop is still an email.
    [stop] = Reminder.objects.filter(appointment=visit, kind=Reminder.Kind.MEDICATION_HOLD)
    assert stop.status == Reminder.Status.PENDING


def test_the_admin_chooses_the_contact_details_kept_and_the_emails_follow(
    aisha, clinic_admin, frontdesk_client, frontdesk_user, clock
):
    keep, dup, _dup_visit, _kept_visit = aisha

    preview, done = _merge_on_the_page(
        clinic_admin, keep, dup, email_from="duplicate", address_from="kept"
    )
    assert f"Record {dup.mrn} merged into {keep.mrn}" in done.content.decode()

    assert "Contact details the record kept keeps" in preview
    assert "Use aisha.k@example.net (duplicate)" in preview
    assert "Keep 1 Oak Street (record kept)" in preview
    assert (
        "Phone"
        not in preview.split("Contact details the record kept keeps")[1].split("</fieldset>")[0]
    )  # only the record kept lacks one: filled, nothing to choose
    keep.refresh_from_db()
    assert (keep.email, keep.phone, keep.address) == (
        "aisha.k@example.net",
        "07700 900999",
        "1 Oak Street",
    )
    # Every visit's emails now go to the address chosen, the record kept's own visit too.
    clock.move_to(clinic_datetime(dt.date(2026, 12, 15), dt.time(12, 0)), tick=False)
    reminders_dispatch()
    assert mail.outbox
    assert {tuple(m.to) for m in mail.outbox} == {("aisha.k@example.net",)}

    # The "different person" decision between the two is closed, not moved onto the
    # record kept (where it would name its own MRN).
    frontdesk_client.force_login(frontdesk_user)  # days later: a new session
    page = frontdesk_client.get(f"/patients/{keep.pk}/").content.decode()
    assert "Aisha" in page
    assert "Registered as a different person from" not in page
    assert DuplicateOverride.objects.get().patient_id == dup.pk

    # The undo gives the record kept its own email back and reopens the decision.
    merge = PatientMerge.objects.get()
    patient_merge_undo(merge_id=merge.pk, user=clinic_admin)
    keep.refresh_from_db()
    assert (keep.email, keep.phone) == ("aisha.khan@example.com", "")
    assert DuplicateOverride.objects.get().closed_by_merge is None
    page = frontdesk_client.get(f"/patients/{dup.pk}/").content.decode()
    assert "Registered as a different person from" in page
    assert f"{keep.mrn}: Busy desk: different person" in page
    _check_invariant_32()


def test_a_bad_choice_is_refused_on_the_page_and_nothing_is_merged(aisha, clinic_admin):
    keep, dup, dup_visit, _kept_visit = aisha

    _preview, done = _merge_on_the_page(clinic_admin, keep, dup, email_from="both")

    page = done.content.decode()
    assert done.status_code == 400
    assert "Choose which one the record kept keeps." in page
    assert "Nothing has been merged" in page
    assert Patient.objects.get(pk=dup.pk).merged_into is None
    assert not PatientMerge.objects.exists()
    assert plan_of(dup_visit).hold_plan_confirmed
