"""Chasing late results: one row per (order, level, review episode), written once,
emailed once, and emailed again every RESULTS_REPEAT_DIGEST_DAYS while the order is
still late at that level.

Every late step has a ladder, the responsible physician (or their cover) first, then
the clinic lead: overdue → overdue_lead, final unreviewed → unreviewed_lead, reviewed
but the patient untold → uncommunicated_lead. An amendment after the review (or
after the patient was told) opens a new review episode (`TestOrder.episode`), whose
late steps are chased afresh.

A beat task runs `escalations_run` every few minutes. Planning inserts the rows
that have become due with ON CONFLICT DO NOTHING against the unique
(order, level, episode) constraint, so two runs at once cannot write a level twice.
Sending claims one recipient's unsent rows with `select_for_update(skip_locked=True)`
and marks them in the same transaction, a transaction per recipient: a row locked
by one run is skipped by the other, one already marked is no longer selected, and
a failed send repeats nobody else's digest. Emails carry links only. A row with
nobody to email (no lead address configured, a physician without one) is never
marked as told: it waits, logged on every run, until an address exists.
"""

import functools
import logging
import operator
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from clinic.mail import build_email
from procedures.catalog.clock import clinic_now
from procedures.catalog.sites import Site
from procedures.results.models import ResultCoverage, ResultEscalation, TestOrder

log = logging.getLogger(__name__)
Level = ResultEscalation.Level
S = TestOrder.Status


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass
class EscalationReport:
    planned: int = 0
    repeated: int = 0
    emails: int = 0


def _expected_before_site_day(now: datetime, *, days_back: int = 0) -> Q:
    """Orders whose `expected_by` is before the day at their own site `days_back` days
    ago (invariant 19): at 02:00 UTC a London order due yesterday is late, a New York
    one due "yesterday" in London is not yet (one small query, the sites' zones)."""
    back = timedelta(days=days_back)
    by_zone = [
        Q(site__time_zone=zone, expected_by__lt=now.astimezone(ZoneInfo(zone)).date() - back)
        for zone in Site.objects.order_by().values_list("time_zone", flat=True).distinct()
    ]
    return functools.reduce(operator.or_, by_zone, Q(pk__in=[]))


def late_conditions(now: datetime) -> dict[str, Q]:
    """For each level, the orders late enough to reach it at `now` (on TestOrder)."""
    unreviewed_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_HOURS", 48))
    lead_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_LEAD_HOURS", 96))
    lead_days = _setting("RESULTS_OVERDUE_LEAD_DAYS", 3)
    told_after = timedelta(days=_setting("RESULTS_UNCOMMUNICATED_DAYS", 7))
    told_lead_after = timedelta(days=_setting("RESULTS_UNCOMMUNICATED_LEAD_DAYS", 14))
    return {
        Level.OVERDUE: Q(status__in=TestOrder.PENDING_STATUSES) & _expected_before_site_day(now),
        Level.OVERDUE_LEAD: Q(status__in=TestOrder.PENDING_STATUSES)
        & _expected_before_site_day(now, days_back=lead_days),
        Level.UNREVIEWED: Q(status=S.FINAL, review_clock__lte=now - unreviewed_after),
        Level.UNREVIEWED_LEAD: Q(status=S.FINAL, review_clock__lte=now - lead_after),
        Level.UNCOMMUNICATED: Q(status=S.REVIEWED, reviewed_at__lte=now - told_after),
        Level.UNCOMMUNICATED_LEAD: Q(status=S.REVIEWED, reviewed_at__lte=now - told_lead_after),
    }


def late_orders(level: str, now: datetime) -> QuerySet[TestOrder]:
    """Orders late at `level` now, whatever has been written for them."""
    return TestOrder.objects.annotate(review_clock=Coalesce("episode_at", "final_at")).filter(
        late_conditions(now)[level]
    )


def _due_orders(level: str, now: datetime) -> QuerySet[TestOrder]:
    """Orders that have reached `level` and have no row for it in their episode yet."""
    done = ResultEscalation.objects.filter(
        order=OuterRef("pk"), level=level, episode=OuterRef("episode")
    )
    return late_orders(level, now).exclude(Exists(done))


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


LEAD_LEVELS = (Level.OVERDUE_LEAD, Level.UNREVIEWED_LEAD, Level.UNCOMMUNICATED_LEAD)
OVERDUE_LEVELS = (Level.OVERDUE, Level.OVERDUE_LEAD)


def unaddressed() -> "models.QuerySet[ResultEscalation]":
    """Escalations waiting with nobody to email: an alarm on staff pages and /healthz."""
    return ResultEscalation.objects.filter(notified_at__isnull=True, recipient="")


def _lead_recipient() -> str:
    return ", ".join(_setting("RESULTS_CLINIC_LEAD_EMAILS", []))[:254]


def escalations_address(*, now: datetime) -> int:
    """Give unsent rows that had nobody to email an address, if there now is one
    (a lead address configured, a physician's email added). Returns how many."""
    today = now.astimezone(clinic_now().tzinfo).date()
    waiting = unaddressed()
    addressed = 0
    lead = _lead_recipient()
    if lead:
        addressed += waiting.filter(level__in=LEAD_LEVELS).update(recipient=lead)
    for row in waiting.exclude(level__in=LEAD_LEVELS).select_related("order__responsible__user"):
        if recipient := _physician_email(row.order, today):
            # Conditional: a concurrent run may have addressed (and sent) it already.
            addressed += waiting.filter(pk=row.pk).update(recipient=recipient)
    return addressed


def _levels_now(now: datetime) -> list[str]:
    local = now.astimezone(clinic_now().tzinfo)
    levels: list[str] = list(Level)
    if local.time() < time(_setting("RESULTS_DIGEST_HOUR", 7)):
        # Overdue results go out as one digest a day, from the digest hour on.
        levels = [lv for lv in levels if lv not in OVERDUE_LEVELS]
    return levels


def escalations_plan(*, now: datetime | None = None) -> int:
    """Write a row for every (order, level, episode) that has become due. Returns how many."""
    now = now or timezone.now()
    local = now.astimezone(clinic_now().tzinfo)
    lead = _lead_recipient()
    rows = []
    for level in _levels_now(now):
        for order in _due_orders(level, now).select_related("responsible__user"):
            recipient = lead if level in LEAD_LEVELS else _physician_email(order, local.date())
            rows.append(
                ResultEscalation(
                    order=order,
                    level=level,
                    episode=order.episode,
                    recipient=recipient,
                    created_at=now,
                )
            )
    # The unique (order, level, episode) constraint decides between concurrent runs.
    created = ResultEscalation.objects.bulk_create(rows, ignore_conflicts=True)
    return len(created)


def escalations_repeat(*, now: datetime | None = None) -> int:
    """Queue again the rows of orders still late at their level, in the same episode,
    RESULTS_REPEAT_DIGEST_DAYS after they were last emailed: a repeat digest instead
    of silence. Returns how many rows were queued again."""
    now = now or timezone.now()
    every = timedelta(days=_setting("RESULTS_REPEAT_DIGEST_DAYS", 2))
    repeated = 0
    for level in _levels_now(now):
        still_late = late_orders(level, now).filter(
            pk=OuterRef("order_id"), episode=OuterRef("episode")
        )
        # Conditional on notified_at: a concurrent run that queued it already wins.
        repeated += (
            ResultEscalation.objects.filter(level=level, notified_at__lte=now - every)
            .filter(Exists(still_late))
            .update(notified_at=None, repeats=F("repeats") + 1)
        )
    return repeated


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
    waiting = list(unaddressed().values_list("pk", flat=True))
    if waiting:
        log.warning(
            "escalations %s have nobody to email (RESULTS_CLINIC_LEAD_EMAILS, or the "
            "physician's email); left unsent",
            waiting,
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
    report.repeated = escalations_repeat(now=now)
    report.emails = escalations_notify(now=now)
    return report
