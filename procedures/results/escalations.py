"""Chasing late results: one row per (order, level), written once, emailed once.

A beat task runs `escalations_run` every few minutes. Planning inserts the rows
that have become due with ON CONFLICT DO NOTHING against the unique
(order, level) constraint, so two runs at once cannot write a level twice.
Sending claims one recipient's unsent rows with `select_for_update(skip_locked=True)`
and marks them in the same transaction, a transaction per recipient: a row locked
by one run is skipped by the other, one already marked is no longer selected, and
a failed send repeats nobody else's digest. Emails carry links only. A row with
nobody to email (no lead address configured, a physician without one) is never
marked as told: it waits, logged on every run, until an address exists.
"""

import logging
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from clinic.mail import build_email
from procedures.catalog.clock import clinic_now
from procedures.results.models import ResultCoverage, ResultEscalation, TestOrder

log = logging.getLogger(__name__)
Level = ResultEscalation.Level
S = TestOrder.Status


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass
class EscalationReport:
    planned: int = 0
    emails: int = 0


def _due_orders(level: str, now: datetime) -> QuerySet[TestOrder]:
    """Orders that have reached `level` and have no row for it yet."""
    today = now.astimezone(clinic_now().tzinfo).date()
    unreviewed_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_HOURS", 48))
    lead_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_LEAD_HOURS", 96))
    lead_days = _setting("RESULTS_OVERDUE_LEAD_DAYS", 3)
    told_after = timedelta(days=_setting("RESULTS_UNCOMMUNICATED_DAYS", 7))
    conditions: dict[str, Q] = {
        Level.OVERDUE: Q(status__in=TestOrder.PENDING_STATUSES, expected_by__lt=today),
        Level.OVERDUE_LEAD: Q(
            status__in=TestOrder.PENDING_STATUSES,
            expected_by__lt=today - timedelta(days=lead_days),
        ),
        Level.UNREVIEWED: Q(status=S.FINAL, final_at__lte=now - unreviewed_after),
        Level.UNREVIEWED_LEAD: Q(status=S.FINAL, final_at__lte=now - lead_after),
        Level.UNCOMMUNICATED: Q(status=S.REVIEWED, reviewed_at__lte=now - told_after),
    }
    done = ResultEscalation.objects.filter(order=OuterRef("pk"), level=level)
    return TestOrder.objects.filter(conditions[level]).exclude(Exists(done))


def _physician_email(order: TestOrder, today: date) -> str:
    """The responsible physician's address, or their cover's while they are away."""
    cover = (
        ResultCoverage.objects.filter(
            absent_id=order.responsible_id, starts_on__lte=today, ends_on__gte=today
        )
        .select_related("covering__user")
        .first()
    )
    provider = cover.covering if cover else order.responsible
    user = getattr(provider, "user", None)
    return (user.email if user else "") or ""


LEAD_LEVELS = (Level.OVERDUE_LEAD, Level.UNREVIEWED_LEAD)


def _lead_recipient() -> str:
    return ", ".join(_setting("RESULTS_CLINIC_LEAD_EMAILS", []))[:254]


def escalations_address(*, now: datetime) -> int:
    """Give unsent rows that had nobody to email an address, if there now is one
    (a lead address configured, a physician's email added). Returns how many."""
    today = now.astimezone(clinic_now().tzinfo).date()
    unaddressed = ResultEscalation.objects.filter(notified_at__isnull=True, recipient="")
    addressed = 0
    lead = _lead_recipient()
    if lead:
        addressed += unaddressed.filter(level__in=LEAD_LEVELS).update(recipient=lead)
    for row in unaddressed.exclude(level__in=LEAD_LEVELS).select_related(
        "order__responsible__user"
    ):
        if recipient := _physician_email(row.order, today):
            # Conditional: a concurrent run may have addressed (and sent) it already.
            addressed += unaddressed.filter(pk=row.pk).update(recipient=recipient)
    return addressed


def escalations_plan(*, now: datetime | None = None) -> int:
    """Write a row for every (order, level) that has become due. Returns how many."""
    now = now or timezone.now()
    local = now.astimezone(clinic_now().tzinfo)
    digest_hour = _setting("RESULTS_DIGEST_HOUR", 7)
    lead = _lead_recipient()
    levels = list(Level)
    if local.time() < time(digest_hour):
        # Overdue results go out as one digest a day, from the digest hour on.
        levels = [lv for lv in levels if lv not in (Level.OVERDUE, Level.OVERDUE_LEAD)]
    rows = []
    for level in levels:
        for order in _due_orders(level, now).select_related("responsible__user"):
            recipient = lead if level in LEAD_LEVELS else _physician_email(order, local.date())
            rows.append(
                ResultEscalation(order=order, level=level, recipient=recipient, created_at=now)
            )
    # The unique (order, level) constraint decides between concurrent runs.
    created = ResultEscalation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def escalations_notify(*, now: datetime | None = None) -> int:
    """Email each recipient one digest of their unsent rows. Returns emails sent.

    Each recipient's digest is claimed, sent and marked in a transaction of its
    own: an SMTP failure for one recipient leaves only their rows unsent (retried
    on the next run) and neither holds back nor repeats anyone else's digest.
    """
    now = now or timezone.now()
    escalations_address(now=now)
    recipients = (
        ResultEscalation.objects.filter(notified_at__isnull=True)
        .exclude(recipient="")
        .order_by("recipient")
        .values_list("recipient", flat=True)
        .distinct()
    )
    sent = 0
    for recipient in list(recipients):
        try:
            sent += _notify_recipient(recipient, now=now)
        except (smtplib.SMTPException, OSError) as exc:
            log.warning("an escalation digest was not sent (%s); next run retries it", exc)
    # Not marked as told: they stay "email not sent yet" on the order's timeline
    # (the order is on the worklist anyway) and go out once someone can be emailed.
    unaddressed = list(
        ResultEscalation.objects.filter(notified_at__isnull=True, recipient="").values_list(
            "pk", flat=True
        )
    )
    if unaddressed:
        log.warning(
            "escalations %s have nobody to email (RESULTS_CLINIC_LEAD_EMAILS, or the "
            "physician's email); left unsent",
            unaddressed,
        )
    return sent


def _notify_recipient(recipient: str, *, now: datetime) -> int:
    with transaction.atomic():
        rows = list(
            ResultEscalation.objects.filter(notified_at__isnull=True, recipient=recipient)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "pk")
        )
        if not rows:  # another run has them
            return 0
        addresses = [a.strip() for a in recipient.split(",") if a.strip()]
        escalation_message(rows, to=addresses).send()
        ResultEscalation.objects.filter(pk__in=[r.pk for r in rows]).update(notified_at=now)
    return 1


def escalation_message(rows: list[ResultEscalation], *, to: list[str]) -> EmailMultiAlternatives:
    """A digest of links only: no patient, test or result is named."""
    site = settings.SITE_URL
    items = [
        {
            "label": Level(row.level).label,
            "url": site + reverse("procedures:result_log", args=[row.order_id]),
        }
        for row in rows
    ]
    return build_email(
        "results_escalation",
        {
            "items": items,
            "count": len(items),
            "worklist_url": site + reverse("procedures:worklist") + "?scope=mine",
            "clinic_name": settings.CLINIC_NAME,
            "clinic_phone": settings.CLINIC_PHONE,
            "clinic_address": settings.CLINIC_ADDRESS,
        },
        to=to,
    )


def escalations_run(*, now: datetime | None = None) -> EscalationReport:
    """Plan what has become due, then email it."""
    now = now or timezone.now()
    report = EscalationReport()
    report.planned = escalations_plan(now=now)
    report.emails = escalations_notify(now=now)
    return report
