"""Clinical rules: services/prep_rules.py."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_datetime
from procedures.prep import rules as prep_rules
from procedures.prep.models import ClinicalOverride, PrepPlan
from procedures.tests.factories import AppointmentFactory, ProcedureTypeFactory

NOW = clinic_datetime(dt.date(2027, 3, 1), dt.time(9, 0))
DAY = dt.date(2027, 3, 10)
pytestmark = pytest.mark.clock(NOW)


def make(kind=ProcedureKind.ASPIRATION_BIOPSY, born=dt.date(1970, 1, 1), **patient):
    return AppointmentFactory(
        procedure_type=ProcedureTypeFactory(code=f"p-{kind}", kind=kind),
        patient=PatientFactory(date_of_birth=born, **patient),
        start_at=clinic_datetime(DAY, dt.time(9, 0)),
        end_at=clinic_datetime(DAY, dt.time(10, 0)),
    )


def site_set(appointment, by, **kwargs):
    return prep_rules.procedure_site_set(
        appointment_id=appointment.pk, **{"side": "left", **kwargs}, by=by
    )


@pytest.mark.django_db
def test_a_biopsy_is_only_taken_from_the_pelvis(physician_user):
    appointment = make()
    with pytest.raises(ValidationError) as exc:
        site_set(appointment, physician_user, site="tibia", override_reason="I insist")
    assert exc.value.message_dict["site"] == [
        "A biopsy is only taken from the pelvis: choose the back or front of the pelvis."
    ]
    assert not PrepPlan.objects.exists()
    assert not ClinicalOverride.objects.exists()
    site_set(appointment, physician_user, site="posterior_iliac")
    assert PrepPlan.objects.get().site == "posterior_iliac"


@pytest.mark.django_db
def test_young_children_are_offered_tibial_aspiration_only(physician_user):
    toddler = make(born=dt.date(2025, 12, 1))
    with pytest.raises(ValidationError) as exc:
        site_set(toddler, physician_user, site="posterior_iliac", override_reason="why not")
    assert "For children under 2, only aspiration from the tibia is offered" in str(exc.value)

    aspiration = make(kind=ProcedureKind.ASPIRATION, born=dt.date(2025, 12, 1))
    with pytest.raises(ValidationError) as exc:
        site_set(aspiration, physician_user, site="anterior_iliac")
    assert "Record a reason to use another site" in str(exc.value.message_dict["override_reason"])
    site_set(aspiration, physician_user, site="tibia", side="right")
    assert not ClinicalOverride.objects.exists()


@pytest.mark.django_db
def test_the_child_age_limit_is_configurable(physician_user, settings):
    settings.PREP_CHILD_MAX_AGE_YEARS = 5
    four = make(kind=ProcedureKind.ASPIRATION, born=dt.date(2023, 1, 1))
    assert [f.rule for f in prep_rules.rule_findings(four, site="posterior_iliac")] == [
        prep_rules.CHILD_TIBIA
    ]
    settings.PREP_CHILD_MAX_AGE_YEARS = 2
    assert prep_rules.rule_findings(four, site="posterior_iliac") == []


@pytest.mark.django_db
def test_the_sternum_needs_a_recorded_reason(physician_user):
    appointment = make(kind=ProcedureKind.ASPIRATION)
    with pytest.raises(ValidationError) as exc:
        site_set(appointment, physician_user, site="sternum", side="midline")
    assert "record the reason for choosing it" in str(exc.value.message_dict["override_reason"])
    site_set(
        appointment,
        physician_user,
        site="sternum",
        side="midline",
        override_reason="Pelvis irradiated; sternum agreed with haematology",
    )
    override = ClinicalOverride.objects.get()
    assert (override.rule, override.by) == (prep_rules.STERNUM_REASON, physician_user)
    assert override.reason == "Pelvis irradiated; sternum agreed with haematology"
    assert override.at == NOW
    (finding,) = prep_rules.rule_findings(appointment)
    assert finding.resolved


@pytest.mark.django_db
def test_the_sternum_is_midline_and_the_pelvis_has_a_side(physician_user):
    appointment = make(kind=ProcedureKind.ASPIRATION)
    with pytest.raises(ValidationError, match="midline"):
        site_set(appointment, physician_user, site="sternum", side="left", override_reason="x")
    with pytest.raises(ValidationError, match="left, right or both"):
        site_set(appointment, physician_user, site="posterior_iliac", side="midline")


@pytest.mark.django_db
def test_bmac_with_an_infection_or_cancer_needs_an_override(physician_user):
    appointment = make(kind=ProcedureKind.BMAC)
    with pytest.raises(ValidationError) as exc:
        site_set(appointment, physician_user, site="posterior_iliac", cancer=True)
    assert exc.value.message_dict["override_reason"] == [
        "BMAC is not for patients with an active infection or cancer: record a reason to go ahead."
    ]
    site_set(
        appointment,
        physician_user,
        site="posterior_iliac",
        cancer=True,
        override_reason="Cancer in remission 10 years; oncology agrees",
    )
    assert ClinicalOverride.objects.get().rule == prep_rules.BMAC_INFECTION_CANCER
    # Changing other answers does not ask again for the same rule.
    site_set(appointment, physician_user, site="posterior_iliac", side="right", cancer=True)
    assert ClinicalOverride.objects.count() == 1


@pytest.mark.django_db
def test_a_bleeding_disorder_adds_labs_and_an_extended_pressure_note(physician_user):
    appointment = make(bleeding_disorder=True)
    (finding,) = prep_rules.rule_findings(appointment)
    assert finding.rule == prep_rules.BLEEDING_DISORDER
    assert "blood count and clotting" in finding.message
    assert "at least 10 minutes" in finding.message
    assert finding.resolved  # a note for the team, not a refusal
