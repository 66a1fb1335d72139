"""Our deploy checks: what `manage.py check --deploy` warns about."""

from django.core.checks import run_checks


def deploy_warnings() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True)}


def test_it_warns_when_no_clinic_lead_would_hear_of_late_results(settings):
    settings.DEBUG = False
    settings.RESULTS_CLINIC_LEAD_EMAILS = []

    assert "clinic.W002" in deploy_warnings()


def test_it_is_quiet_once_a_clinic_lead_address_is_set(settings):
    settings.DEBUG = False
    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.example"]

    assert "clinic.W002" not in deploy_warnings()


def test_it_leaves_development_alone(settings):
    settings.DEBUG = True
    settings.RESULTS_CLINIC_LEAD_EMAILS = []

    assert "clinic.W002" not in deploy_warnings()
