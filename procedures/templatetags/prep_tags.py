from django import template

from procedures.services import prep, prep_checklist

register = template.Library()


@register.inclusion_tag("procedures/prep/_summary.html")
def prep_summary(appointment):
    """READY or what is missing, for the appointment page."""
    return {
        "appointment": appointment,
        "plan": prep.plan_of(appointment),
        "readiness": prep_checklist.readiness(appointment),
        "has_medications": bool(prep.active_medications(appointment)),
        "short_notice": prep.is_short_notice(appointment),
    }
