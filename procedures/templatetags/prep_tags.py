from django import template

from procedures.prep import checklist as prep_checklist
from procedures.prep import facts

register = template.Library()


@register.inclusion_tag("procedures/prep/_summary.html")
def prep_summary(appointment):
    """READY or what is missing, for the appointment page."""
    return {
        "appointment": appointment,
        "plan": facts.plan_of(appointment),
        "readiness": prep_checklist.readiness(appointment),
        "has_medications": bool(facts.active_medications(appointment)),
        "short_notice": facts.is_short_notice(appointment),
    }
