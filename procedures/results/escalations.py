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
from collections import defaultdict
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
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from clinic.mail import build_email
from procedures.catalog.clock import clinic_now
from procedures.catalog.sites import Site, patient_context
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


def site_zones() -> list[str]:
    """The time zones of the network's sites (one small query): a run reads them once."""
    return list(Site.objects.order_by().values_list("time_zone", flat=True).distinct())


def _expected_before_site_day(now: datetime, zones: list[str], *, days_back: int = 0) -> Q:
    """Orders whose `expected_by` is before the day at their own site `days_back` days
    ago (invariant 19): at 02:00 UTC a London order due yesterday is late, a New York
    one due "yesterday" in London is not yet."""
    back = timedelta(days=days_back)
    by_zone = [
        Q(site__time_zone=zone, expected_by__lt=now.astimezone(ZoneInfo(zone)).date() - back)
        for zone in zones
    ]
    return functools.reduce(operator.or_, by_zone, Q(pk__in=[]))


def late_conditions(now: datetime, zones: list[str] | None = None) -> dict[str, Q]:
    """For each level, the orders late enough to reach it at `now` (on TestOrder);
    `zones`: site_zones(), read here when not given."""
    zones = site_zones() if zones is None else zones
    unreviewed_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_HOURS", 48))
    lead_after = timedelta(hours=_setting("RESULTS_UNREVIEWED_LEAD_HOURS", 96))
    lead_days = _setting("RESULTS_OVERDUE_LEAD_DAYS", 3)
    told_after = timedelta(days=_setting("RESULTS_UNCOMMUNICATED_DAYS", 7))
    told_lead_after = timedelta(days=_setting("RESULTS_UNCOMMUNICATED_LEAD_DAYS", 14))
    pending = Q(status__in=TestOrder.PENDING_STATUSES)
    return {
        Level.OVERDUE: pending & _expected_before_site_day(now, zones),
        Level.OVERDUE_LEAD: pending & _expected_before_site_day(now, zones, days_back=lead_days),
        Level.UNREVIEWED: Q(status=S.FINAL, review_clock__lte=now - unreviewed_after),
        Level.UNREVIEWED_LEAD: Q(status=S.FINAL, review_clock__lte=now - lead_after),
        Level.UNCOMMUNICATED: Q(status=S.REVIEWED, reviewed_at__lte=now - told_after),
        Level.UNCOMMUNICATED_LEAD: Q(status=S.REVIEWED, reviewed_at__lte=now - told_lead_after),
    }


def late_orders(level: str, now: datetime, zones: list[str] | None = None) -> QuerySet[TestOrder]:
    """Orders late at `level` now, whatever has been written for them."""
    return TestOrder.objects.annotate(review_clock=Coalesce("episode_at", "final_at")).filter(
        late_conditions(now, zones)[level]
    )


def _due_orders(level: str, now: datetime, zones: list[str] | None = None) -> QuerySet[TestOrder]:
    """Orders that have reached `level` and have no row for it in their episode yet."""
    done = ResultEscalation.objects.filter(
        order=OuterRef("pk"), level=level, episode=OuterRef("episode")
    )
    return late_orders(level, now, zones).exclude(Exists(done))


LEAD_LEVELS = (Level.OVERDUE_LEAD, Level.UNREVIEWED_LEAD, Level.UNCOMMUNICATED_LEAD)
OVERDUE_LEVELS = (Level.OVERDUE, Level.OVERDUE_LEAD)


def unaddressed() -> "models.QuerySet[ResultEscalation]":
    """Escalations waiting with nobody to email: an alarm on staff pages and /healthz."""
    return ResultEscalation.objects.filter(notified_at__isnull=True, recipient="")


def _lead_recipient() -> str:
    return ", ".join(_setting("RESULTS_CLINIC_LEAD_EMAILS", []))[:254]


def escalations_address(*, now: datetime) -> int:
    """Give unsent rows that had nobody to email an address, if there now is one
    (a lead address configured, a physician's email added). Returns how many.

    Set-based: one read of the waiting rows' physicians (with the day's covers) and an
    UPDATE per recipient, whatever their number; every run repeats it while rows wait
    (seed_scale's physicians have no email: 80,000 rows at 20,000 patients)."""
    today = now.astimezone(clinic_now().tzinfo).date()
    waiting = unaddressed()
    addressed = 0
    lead = _lead_recipient()
    if lead:
        addressed += waiting.filter(level__in=LEAD_LEVELS).update(recipient=lead)
    covers = _cover_emails(today)
    found: dict[str, list[int]] = defaultdict(list)
    physicians = waiting.exclude(level__in=LEAD_LEVELS).values_list(
        "pk", "order__responsible_id", "order__responsible__user__email"
    )
    for pk, responsible, own_email in physicians.iterator(chunk_size=5000):
        if recipient := _physician_recipient(responsible, own_email, covers):
            found[recipient].append(pk)
    for recipient, pks in found.items():
        for start in range(0, len(pks), 5000):
            # Conditional: a concurrent run may have addressed (and sent) some already.
            addressed += waiting.filter(pk__in=pks[start : start + 5000]).update(
                recipient=recipient
            )
    return addressed


def _levels_now(now: datetime) -> list[str]:
    local = now.astimezone(clinic_now().tzinfo)
    levels: list[str] = list(Level)
    if local.time() < time(_setting("RESULTS_DIGEST_HOUR", 7)):
        # Overdue results go out as one digest a day, from the digest hour on.
        levels = [lv for lv in levels if lv not in OVERDUE_LEVELS]
    return levels


def _cover_emails(today: date) -> dict[int, str]:
    """Absent physician id -> their cover's email ("" when the cover has none), for the
    covers of `today`: one query (a clinic has a few at a time). Of two covers at once,
    the one that started later (read last)."""
    covers = ResultCoverage.objects.filter(starts_on__lte=today, ends_on__gte=today)
    return {
        absent: email or ""
        for absent, email in covers.order_by("starts_on", "pk").values_list(
            "absent_id", "covering__user__email"
        )
    }


def _physician_recipient(responsible: int, own_email: str | None, covers: dict[int, str]) -> str:
    """The responsible physician's email, or their cover's while they are away; "" when
    that one has none."""
    return covers.get(responsible, own_email or "")


def escalations_plan(*, now: datetime | None = None) -> int:
    """Write a row for every (order, level, episode) that has become due. Returns how many.

    In chunks of RESULTS_ESCALATION_CHUNK orders, each read as plain values and written
    in one INSERT, whatever the backlog: a network's first run, or one after an outage,
    may find 100,000 late orders (seed_scale's 200,000 patients x 10: 12 minutes and
    700 MB when each order was a model with a query for its physician's cover)."""
    now = now or timezone.now()
    local = now.astimezone(clinic_now().tzinfo)
    lead = _lead_recipient()
    covers, zones = _cover_emails(local.date()), site_zones()
    chunk = _setting("RESULTS_ESCALATION_CHUNK", 5000)
    written = 0
    for level in _levels_now(now):
        due = _due_orders(level, now, zones).order_by("pk")
        last = 0
        while True:
            batch = list(
                due.filter(pk__gt=last).values_list(
                    "pk", "episode", "responsible_id", "responsible__user__email"
                )[:chunk]
            )
            if not batch:
                break
            last = batch[-1][0]
            rows = [
                ResultEscalation(
                    order_id=pk,
                    level=level,
                    episode=episode,
                    recipient=(
                        lead
                        if level in LEAD_LEVELS
                        else _physician_recipient(responsible, own_email, covers)
                    ),
                    created_at=now,
                )
                for pk, episode, responsible, own_email in batch
            ]
            # The unique (order, level, episode) constraint decides between concurrent runs.
            written += len(ResultEscalation.objects.bulk_create(rows, ignore_conflicts=True))
    return written


def escalations_repeat(*, now: datetime | None = None) -> int:
    """Queue again the rows of orders still late at their level, in the same episode,
    RESULTS_REPEAT_DIGEST_DAYS after they were last emailed: a repeat digest instead
    of silence. Returns how many rows were queued again."""
    now = now or timezone.now()
    every = timedelta(days=_setting("RESULTS_REPEAT_DIGEST_DAYS", 2))
    repeated, zones = 0, site_zones()
    for level in _levels_now(now):
        still_late = late_orders(level, now, zones).filter(
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
    waiting = unaddressed().count()
    if waiting:
        first = list(unaddressed().order_by("pk").values_list("pk", flat=True)[:10])
        log.warning(
            "%d escalations have nobody to email (RESULTS_CLINIC_LEAD_EMAILS, or the "
            "physician's email); left unsent (the first: %s)",
            waiting,
            first,
        )
    return sent


def _notify_recipient(recipient: str, *, now: datetime) -> int:
    with transaction.atomic():
        # Plain values: a lead's first digest of a network's backlog can hold 100,000.
        rows = list(
            ResultEscalation.objects.filter(notified_at__isnull=True, recipient=recipient)
            .select_for_update(skip_locked=True)
            .order_by("created_at", "pk")
            .values_list("pk", "order_id", "level")
        )
        if not rows:  # another run has them
            return 0
        addresses = [a.strip() for a in recipient.split(",") if a.strip()]
        escalation_message(
            [(order_id, level) for _pk, order_id, level in rows], to=addresses
        ).send()
        marked = [pk for pk, _order, _level in rows]
        for start in range(0, len(marked), 5000):
            ResultEscalation.objects.filter(pk__in=marked[start : start + 5000]).update(
                notified_at=now
            )
    return 1


# A digest's line per level, in the reader's words (the level's own label, "Result
# overdue: physician told", is the order's timeline's: what was done, not what to do).
DIGEST_LINES = {
    Level.OVERDUE: _lazy("Result overdue"),
    Level.OVERDUE_LEAD: _lazy("Result overdue for several days"),
    Level.UNREVIEWED: _lazy("Final result waiting for your review"),
    Level.UNREVIEWED_LEAD: _lazy("Final result still not reviewed by the physician"),
    Level.UNCOMMUNICATED: _lazy("Result reviewed, the patient not told yet"),
    Level.UNCOMMUNICATED_LEAD: _lazy("Result reviewed, the patient still not told"),
}


def escalation_message(items: list[tuple[int, str]], *, to: list[str]) -> EmailMultiAlternatives:
    """A digest of links only: no patient, test or result is named. `items` are (order
    id, level), oldest first; the first RESULTS_DIGEST_MAX_ITEMS are listed, and the
    count of the rest points to the worklist, which lists them all: the physician's own
    results ("My results"), or for the clinic lead every physician's ("All results")."""
    site = settings.SITE_URL
    shown = _setting("RESULTS_DIGEST_MAX_ITEMS", 50)
    listed = [
        {
            "label": DIGEST_LINES[Level(level)],
            "url": site + reverse("procedures:result_log", args=[order_id]),
        }
        for order_id, level in items[:shown]
    ]
    lead = any(level in LEAD_LEVELS for _order, level in items)
    scope = "all" if lead else "mine"
    return build_email(
        "results_escalation",
        {
            "items": listed,
            "count": len(items),
            "more": len(items) - len(listed),
            "lead": lead,
            "worklist_url": site + reverse("procedures:worklist") + f"?scope={scope}",
            **_signed_by([order_id for order_id, _level in items]),
        },
        to=to,
    )


def _signed_by(order_ids: list[int]) -> dict[str, str]:
    """Who the digest is from: the site of its results' visits, or the network when they
    are of several (a Northgate physician's digest was signed by the first site). Read a
    chunk at a time (a lead's digest may list 100,000), and only until a second site."""
    sites: dict[int, Site] = {}
    for start in range(0, len(order_ids), 5000):
        found = Site.objects.filter(test_orders__pk__in=order_ids[start : start + 5000])
        sites.update((site.pk, site) for site in found.distinct()[:2])
        if len(sites) > 1:
            break
    if len(sites) == 1:
        # The same name, address and phone as the site's patient emails.
        return patient_context(*sites.values())
    return {
        # The header's name for the whole network ("Riverside Procedure Clinic · all sites").
        "clinic_name": _("%(network)s · all sites") % {"network": settings.CLINIC_NAME},
        "clinic_phone": settings.CLINIC_PHONE,
        "clinic_address": settings.CLINIC_ADDRESS,
    }


def escalations_run(*, now: datetime | None = None) -> EscalationReport:
    """Plan what has become due, then email it."""
    now = now or timezone.now()
    report = EscalationReport()
    report.planned = escalations_plan(now=now)
    report.repeated = escalations_repeat(now=now)
    report.emails = escalations_notify(now=now)
    return report
