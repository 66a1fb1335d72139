"""The clinical record: allergies (or a dated "no known allergies"), weight, height,
ASA class, pregnancy, pre-procedure bloods; bad input saves nothing; alerts."""

import datetime as dt
import html

import pytest
from auditlog.models import LogEntry

from clinic.models import ReadAccess
from patients.models import Allergy, BloodResult, Medication, Patient
from patients.selectors import bloods_status, patient_alerts
from patients.tests.factories import PatientFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.clock(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)),
]


@pytest.fixture
def patient():
    return PatientFactory(given_name="Ruth", family_name="Ellery")


@pytest.fixture
def clinician(physician_client, care_for_all):
    return physician_client


def test_it_records_an_allergy_and_shows_it_on_every_patient_page(
    nurse_client, nurse_user, patient
):
    response = nurse_client.post(
        f"/patients/{patient.pk}/allergies/",
        {"substance": "latex", "reaction": "Hives", "severity": "moderate"},
    )

    assert response["Location"] == f"/patients/{patient.pk}/clinical/"
    allergy = Allergy.objects.get()
    assert (allergy.substance, allergy.recorded_by) == ("latex", nurse_user)
    assert LogEntry.objects.get_for_object(allergy).exists()
    for url in (f"/patients/{patient.pk}/", f"/patients/{patient.pk}/clinical/"):
        page = nurse_client.get(url).content.decode()
        assert 'aria-label="Patient alerts"' in page
        assert "Allergy: Latex: Hives (Moderate)" in page


def test_the_same_allergy_posted_twice_is_recorded_once_and_said(nurse_client, nurse_user, patient):
    """QA 1, #9: a resubmit or Back added "Latex: rash (Mild)" twice to every banner."""
    url = f"/patients/{patient.pk}/allergies/"
    latex = {"substance": "latex", "reaction": "rash", "severity": "mild"}
    assert nurse_client.post(url, latex).status_code == 302

    again = nurse_client.post(url, {**latex, "reaction": "Hives"})

    assert again.status_code == 200
    assert (
        "Latex is already on file (rash, Mild; recorded 3 March 2025 by "
        f"{nurse_user.get_full_name()}). To change it, remove it and record it again."
    ) in html.unescape(again.content.decode())
    assert Allergy.objects.filter(patient=patient).count() == 1


def test_another_something_else_allergy_is_recorded_but_not_the_same_one(nurse_client, patient):
    url = f"/patients/{patient.pk}/allergies/"
    for name in ("Penicillin", "Sticking plaster", "penicillin "):
        nurse_client.post(
            url,
            {"substance": "other", "substance_other": name, "reaction": "Rash", "severity": "mild"},
        )

    assert sorted(Allergy.objects.values_list("substance_other", flat=True)) == [
        "Penicillin",
        "Sticking plaster",
    ]
    # Removed, the same allergy may be recorded again (a changed reaction).
    Allergy.objects.filter(substance_other="Penicillin").update(is_active=False)
    nurse_client.post(
        url,
        {
            "substance": "other",
            "substance_other": "Penicillin",
            "reaction": "Hives",
            "severity": "mild",
        },
    )
    assert Allergy.objects.filter(substance_other="Penicillin", is_active=True).count() == 1


def test_an_allergy_to_something_else_needs_its_name(nurse_client, patient):
    response = nurse_client.post(
        f"/patients/{patient.pk}/allergies/",
        {"substance": "other", "reaction": "Rash", "severity": "mild"},
    )

    assert response.status_code == 200
    assert "Name the substance." in response.content.decode()
    assert not Allergy.objects.exists()


def test_no_known_allergies_is_a_dated_statement_that_an_allergy_replaces(
    nurse_client, nurse_user, patient
):
    assert [a.kind for a in patient_alerts(patient)] == ["allergies_unknown"]

    nurse_client.post(f"/patients/{patient.pk}/allergies/none/")

    patient.refresh_from_db()
    assert patient.no_known_allergies_by == nurse_user
    assert patient.no_known_allergies_at is not None
    assert [a.text for a in patient_alerts(patient)] == ["No known allergies (stated 3 Mar 2025)"]

    nurse_client.post(
        f"/patients/{patient.pk}/allergies/",
        {"substance": "chlorhexidine", "reaction": "Anaphylaxis", "severity": "severe"},
    )
    patient.refresh_from_db()
    assert patient.no_known_allergies_at is None
    alerts = patient_alerts(patient)
    assert [(a.kind, a.severe) for a in alerts] == [("allergy", True)]
    # With an allergy on file, "no known allergies" is refused.
    response = nurse_client.post(f"/patients/{patient.pk}/allergies/none/", follow=True)
    assert "Allergies are recorded for this patient" in response.content.decode()


def test_a_removed_allergy_leaves_the_alerts_but_stays_on_the_record(nurse_client, patient):
    allergy = Allergy.objects.create(
        patient=patient, substance="opioid", reaction="Vomiting", severity="mild"
    )

    nurse_client.post(f"/patients/{patient.pk}/allergies/{allergy.pk}/remove/")

    allergy.refresh_from_db()
    assert not allergy.is_active and allergy.removed_at
    assert "allergy" not in [a.kind for a in patient_alerts(patient)]


def test_it_saves_weight_height_asa_and_pregnancy(clinician, patient):
    response = clinician.post(
        f"/patients/{patient.pk}/clinical/",
        {
            "weight_kg": "72.5",
            "height_cm": "168",
            "measured_on": "2025-03-01",
            "asa_class": "2",
            "pregnancy": "no",
        },
    )

    assert response.status_code == 302
    patient.refresh_from_db()
    assert str(patient.weight_kg) == "72.5"
    assert patient.asa_class == "2"
    assert not patient.needs_pregnancy_check
    assert LogEntry.objects.get_for_object(patient).filter(action=LogEntry.Action.UPDATE).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weight_kg": "0"}, "A weight of less than 0.5 kg cannot be right."),
        ({"weight_kg": "900"}, "A weight of more than 350 kg cannot be right."),
        ({"height_cm": "400"}, "A height of more than 250 cm cannot be right."),
        ({"measured_on": "2025-03-04"}, "The date of the measurement cannot be in the future."),
        ({"measured_on": ""}, "Enter the date of the weight and height."),
    ],
)
def test_it_refuses_impossible_measurements_and_saves_nothing(clinician, patient, data, message):
    before = Patient.objects.values().get(pk=patient.pk)
    post = {"weight_kg": "70", "height_cm": "170", "measured_on": "2025-03-01", **data}

    response = clinician.post(f"/patients/{patient.pk}/clinical/", post)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Patient.objects.values().get(pk=patient.pk) == before


def test_a_date_that_does_not_exist_is_refused_once(clinician, patient):
    """QA pass 1, #11: 29 February 2027 also said "Enter the date of the weight and
    height.", under the date just typed."""
    post = {"weight_kg": "70", "height_cm": "170", "measured_on": "2027-02-29"}

    response = clinician.post(f"/patients/{patient.pk}/clinical/", post)

    page = response.content.decode()
    assert "Enter a valid date." in page
    assert "Enter the date of the weight and height." not in page


def test_a_future_date_of_birth_is_refused(frontdesk_client, patient):
    response = frontdesk_client.post(
        "/patients/new/",
        {
            "submission_key": "0b9f8a5e-2c62-4a3c-9a0e-111111111111",
            "given_name": "Baby",
            "family_name": "Future",
            "date_of_birth": "2025-03-04",
            "email": "b@example.com",
            "email_reminders": "on",
            "preferred_language": "en",
            "sex": "other",
        },
    )
    assert "The date of birth cannot be in the future." in response.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"taken_on": "2025-03-04", "inr": "1.1"},
            "The blood cannot have been taken after today.",
        ),
        ({"taken_on": "2025-03-02"}, "Enter the platelet count, the INR, or both."),
        ({"taken_on": "2025-03-02", "inr": "40"}, "An INR above 15 cannot be right."),
        ({"taken_on": "2025-03-02", "platelets": "5000"}, "A platelet count over 2000"),
    ],
)
def test_it_refuses_impossible_blood_results(nurse_client, patient, data, message):
    response = nurse_client.post(f"/patients/{patient.pk}/bloods/", data)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BloodResult.objects.exists()


def test_bloods_are_needed_for_a_blood_thinner_and_judged_against_the_clinics_thresholds(
    nurse_client, patient, settings
):
    settings.CLINIC_BLOODS_MAX_INR = 1.5
    settings.CLINIC_BLOODS_MIN_PLATELETS = 50
    assert not bloods_status(patient).required
    Medication.objects.create(patient=patient, name="Warfarin", med_class="anticoagulant")

    status = bloods_status(patient)
    assert status.required and status.missing_inr and status.missing_platelets
    page = nurse_client.get(f"/patients/{patient.pk}/").content.decode()
    assert "Blood thinner: Warfarin" in page
    assert "No INR in the 7 days before." in page

    nurse_client.post(
        f"/patients/{patient.pk}/bloods/",
        {"taken_on": "2025-03-01", "platelets": "40", "inr": "2.4"},
    )

    status = bloods_status(patient)
    assert not status.missing_inr
    assert status.problems == [
        "Platelets 40 (taken 1 Mar 2025): below the clinic's 50.",
        "INR 2.40 (taken 1 Mar 2025): above the clinic's 1.5.",
    ]
    # A result older than the window no longer counts.
    assert bloods_status(patient, on=dt.date(2025, 3, 20)).missing_inr


def test_the_clinical_record_page_is_a_read_like_the_record(nurse_client, nurse_user, patient):
    nurse_client.get(f"/patients/{patient.pk}/clinical/")

    assert ReadAccess.objects.filter(
        user=nurse_user, object_type="patients.patient", object_id=str(patient.pk)
    ).exists()


def test_the_front_desk_cannot_change_the_clinical_record(frontdesk_client, patient):
    response = frontdesk_client.post(
        f"/patients/{patient.pk}/allergies/",
        {"substance": "latex", "reaction": "Hives", "severity": "mild"},
    )
    assert response.status_code == 403
    assert not Allergy.objects.exists()


def test_the_patient_page_shows_dates_one_way_and_details_of_contact_and_referral(
    frontdesk_client, patient
):
    patient.date_of_birth = dt.date(1965, 3, 14)
    patient.next_of_kin_name = "Tom Ellery"
    patient.referring_clinician = "Dr Haematology"
    patient.indication = "lymphoma_staging"
    patient.save()

    page = frontdesk_client.get(f"/patients/{patient.pk}/").content.decode()

    assert "born 14 Mar 1965" in page
    assert "Tom Ellery" in page
    assert "Staging lymphoma" in page
    assert 'id="id_date_of_birth"' not in page
    form = frontdesk_client.get(f"/patients/{patient.pk}/edit/").content.decode()
    assert 'type="date" name="date_of_birth" value="1965-03-14"' in form


# --- QA: the bleeding-disorder flag, and plausible clinical values --------------------


@pytest.mark.parametrize("who", ["physician_client", "nurse_client"])
def test_a_clinician_records_and_clears_a_bleeding_disorder_on_the_clinical_record(
    request, care_for_all, patient, who
):
    client = request.getfixturevalue(who)
    page = client.get(f"/patients/{patient.pk}/clinical/").content.decode()
    assert "Record: the patient has a bleeding disorder" in page

    response = client.post(
        f"/patients/{patient.pk}/bleeding-disorder/", {"bleeding_disorder": "yes"}
    )

    assert response["Location"] == f"/patients/{patient.pk}/clinical/"
    patient.refresh_from_db()
    assert patient.bleeding_disorder
    entry = LogEntry.objects.get_for_object(patient).latest("timestamp")
    assert "bleeding_disorder" in entry.changes_dict
    page = client.get(f"/patients/{patient.pk}/clinical/").content.decode()
    assert "The patient has a bleeding disorder." in page
    assert "Bleeding disorder" in page  # the alert banner

    client.post(f"/patients/{patient.pk}/bleeding-disorder/", {"bleeding_disorder": "no"})

    patient.refresh_from_db()
    assert not patient.bleeding_disorder


def test_the_front_desk_cannot_set_the_flag_from_the_clinical_record(frontdesk_client, patient):
    response = frontdesk_client.post(
        f"/patients/{patient.pk}/bleeding-disorder/", {"bleeding_disorder": "yes"}
    )

    assert response.status_code == 403
    patient.refresh_from_db()
    assert not patient.bleeding_disorder


@pytest.mark.parametrize(
    ("taken_on", "message"),
    [
        ("1900-01-01", "before the patient was born (01/05/1960)"),
        ("2025-03-04", "cannot have been taken after today"),
    ],
)
def test_it_refuses_bloods_dated_before_birth_or_in_the_future(
    clinician, patient, taken_on, message
):
    patient.date_of_birth = dt.date(1960, 5, 1)
    patient.save(update_fields=["date_of_birth"])

    response = clinician.post(
        f"/patients/{patient.pk}/bloods/", {"taken_on": taken_on, "platelets": "150"}
    )

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BloodResult.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weight_kg": "10000"}, "A weight of more than 350 kg cannot be right."),
        ({"height_cm": "12345"}, "A height of more than 250 cm cannot be right."),
        ({"weight_kg": "70", "measured_on": "1950-01-01"}, "before the patient was born"),
    ],
)
def test_it_names_the_plausible_range_of_a_measurement(clinician, patient, data, message):
    patient.date_of_birth = dt.date(1960, 5, 1)
    patient.save(update_fields=["date_of_birth"])

    response = clinician.post(
        f"/patients/{patient.pk}/clinical/", {"measured_on": "2025-03-01", **data}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert message in page
    assert "digits in total" not in page
    patient.refresh_from_db()
    assert patient.weight_kg is None and patient.height_cm is None


def test_an_inr_out_of_range_says_so(clinician, patient):
    response = clinician.post(
        f"/patients/{patient.pk}/bloods/", {"taken_on": "2025-03-01", "inr": "100"}
    )

    page = response.content.decode()
    assert "An INR above 15 cannot be right." in page
    assert "digits in total" not in page
