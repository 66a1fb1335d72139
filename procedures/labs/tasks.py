"""Celery tasks of the lab interfaces: ids in (or nothing), one service call each."""

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext as _

from procedures.labs.outbound import lab_orders_dispatch, lab_orders_sweep
from procedures.results.models import TestOrder


@shared_task(ignore_result=True)
def dispatch_lab_orders() -> dict:
    """Send every due order message to its lab (beat, every minute, and on wake-ups)."""
    lab_orders_sweep()
    report = lab_orders_dispatch()
    return {"claimed": report.claimed, "sent": report.sent, "failed": report.failed}


@shared_task(ignore_result=True)
def notify_corrected_result(order_id: int) -> bool:
    """Tell the order's physician that a corrected result reopened its review. The
    email names no patient and no test: only a link to the order page."""
    order = TestOrder.objects.select_related("responsible__user").get(pk=order_id)
    user = order.responsible.user if order.responsible else None
    if not user or not user.email:
        return False
    link = settings.SITE_URL.rstrip("/") + order.get_absolute_url()
    EmailMultiAlternatives(
        subject=_("A corrected lab result needs your review"),
        body=_(
            "A lab sent a corrected result for an order you are responsible for. "
            "Its review has been reopened.\n\nOpen it here (login required): %(link)s\n"
        )
        % {"link": link},
        to=[user.email],
    ).send()
    return True
