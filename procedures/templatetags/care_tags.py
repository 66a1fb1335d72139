"""{% patient_care patient %}: the patient page's visits and open test orders.

The patient page belongs to `patients`, which knows nothing of procedures; this tag
is how procedures fills its `patient_care` block. Result content is never shown here:
an order's state only, with a link for the roles that may open it."""

from django import template
from django.utils import timezone

from patients.models import Patient
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment

register = template.Library()

CLOSED_ORDERS = (TestOrder.Status.COMMUNICATED, TestOrder.Status.CANCELLED)


@register.inclusion_tag("procedures/_patient_care.html", takes_context=True)
def patient_care(context: template.Context, patient: Patient) -> dict:
    now = timezone.now()
    visits = list(
        Appointment.objects.filter(patient=patient)
        .select_related("procedure_type", "provider", "site")
        .order_by("-start_at")
    )
    upcoming = [
        a for a in reversed(visits) if a.start_at >= now and a.status not in a.RELEASED_STATUSES
    ]
    past = [a for a in visits if a not in upcoming]
    orders = list(
        TestOrder.objects.filter(appointment__patient=patient)
        .exclude(status__in=CLOSED_ORDERS)
        .select_related("test_type", "responsible")
        .order_by("expected_by", "pk")
    )
    return {"upcoming": upcoming, "past": past, "orders": orders, "may": context.get("may")}
