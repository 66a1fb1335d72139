"""{% patient_alert_banner patient %}: the alert banner on any page about a patient."""

from django import template

from patients.selectors import patient_alerts

register = template.Library()


@register.inclusion_tag("patients/_alert_banner.html")
def patient_alert_banner(patient, on=None) -> dict:
    """`on`: the day of the procedure, for bloods (default today)."""
    return {"alerts": patient_alerts(patient, on=on) if patient else []}
