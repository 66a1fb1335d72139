"""The daily open-loops report: everything the clinic still owes, read across every
concern, and who signed the day off.

One report for the clinic (there are no sites yet). It is live: each section is what
is open now, as seen on the report's day. Someone in the role the policy names
(`open_loops_sign_off`) signs each day off, with who and when; a day left unsigned
is itself escalated to the clinic lead (`open_loops_escalate_unsigned`, from beat).
An escalation with nobody to email, of a result or of a day, is an alarm: staff
pages show it (`alarm_count`) and /healthz degrades (`check_escalation_recipients`).
"""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from clinic.mail import build_email
from procedures.catalog.clock import clinic_datetime, clinic_today, clinic_tz
from procedures.catalog.models import ClinicHoliday
from procedures.catalog.sites import at_site
from procedures.messaging.models import CallTask, Reminder
from procedures.results.escalations import unaddressed
from procedures.results.models import ResultEscalation, TestOrder
from procedures.scheduling.models import Appointment
from procedures.today.models import OpenLoopsDay

log = logging.getLogger(__name__)
S = TestOrder.Status
# A visit in one of these after its day has not ended.
NOT_ENDED = (Appointment.Status.CHECKED_IN, Appointment.Status.IN_PROCEDURE)
LIST_AT_MOST = 50
# A page counts each kind of loop up to this many, then says "more than" (as Django's
# admin offers with `show_full_result_count`): past a thousand the number changes
# nothing anyone does next, and an exact count reads every row (a network that never
# gave its physicians an email address: 289,940 escalations, 37 ms on every page that
# loads the alarm). The sign-off keeps the exact counts; so does /healthz.
COUNT_AT_MOST = 1000


@dataclass(frozen=True)
class Tally:
    """How many, counted up to COUNT_AT_MOST: `n` is exact unless `more` (then there
    are more than `n`)."""

    n: int
    more: bool = False

    def __bool__(self) -> bool:
        return bool(self.n)

    def __add__(self, other: "Tally") -> "Tally":
        return Tally(self.n + other.n, self.more or other.more)


def tally(queryset, *, exact: bool = False) -> Tally:
    """`queryset`'s rows, counted up to COUNT_AT_MOST (all of them with `exact`)."""
    if exact:
        return Tally(queryset.count())
    # Not in order, and without the list's joins: only whether there are more.
    n = queryset.select_related(None).order_by()[: COUNT_AT_MOST + 1].count()
    return Tally(COUNT_AT_MOST, True) if n > COUNT_AT_MOST else Tally(n)


def visits_not_ended(*, day: date, site_id: int | None = None):
    """Visits from before `day` still checked in or in procedure: nobody completed them
    or recorded what happened. Oldest first."""
    start = clinic_datetime(day, datetime.min.time())
    return (
        at_site(Appointment.objects.filter(status__in=NOT_ENDED, start_at__lt=start), site_id)
        .select_related("procedure_type", "provider", "patient")
        .order_by("start_at", "pk")
    )


def emails_failed_without_call():
    """Patient emails that failed for good and have no phone call standing in for them."""
    call = CallTask.objects.filter(
        appointment=OuterRef("appointment"),
        reason=CallTask.Reason.EMAIL_FAILED,
    ).filter(Q(reminder_kind=OuterRef("kind")) | Q(reminder_kind=""))
    return (
        Reminder.objects.filter(status=Reminder.Status.FAILED)
        .exclude(Exists(call))
        .order_by("due_at", "pk")
    )


def days_unaddressed():
    """Unsigned days escalated with nobody to email."""
    return OpenLoopsDay.objects.filter(
        escalated_at__isnull=False, escalated_to="", escalation_sent_at__isnull=True
    )


def alarm_count() -> Tally:
    """Escalations waiting with nobody to email (results and unsigned days), counted up
    to COUNT_AT_MOST: every staff page loads it."""
    return tally(unaddressed()) + tally(days_unaddressed())


def check_escalation_recipients() -> tuple[bool, dict]:
    """/healthz (HEALTHZ_EXTRA_CHECKS): an escalation nobody can be emailed is a fault."""
    results, days = unaddressed().count(), days_unaddressed().count()
    ok = not (results or days)
    return ok, {
        "status": "ok" if ok else "no_recipient",
        "results_without_recipient": results,
        "days_without_recipient": days,
    }


@dataclass
class Section:
    """One kind of open loop: how many, and the first of them as links."""

    code: str
    title: str
    help: str
    tally: Tally
    items: list[dict] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many (more than this when `tally.more`)."""
        return self.tally.n


@dataclass
class OpenLoopsReport:
    day: date
    sections: list[Section]
    sign_off: OpenLoopsDay | None

    @property
    def tally(self) -> Tally:
        return sum((s.tally for s in self.sections), Tally(0))

    @property
    def total(self) -> int:
        return self.tally.n

    def counts(self) -> dict[str, int]:
        """Each kind's count (exact when the report was made with `exact=True`)."""
        return {s.code: s.total for s in self.sections}


def _order_item(order: TestOrder, what: str) -> dict:
    return {
        "url": reverse("procedures:result_log", args=[order.pk]),
        "action": "result_log",
        "label": _("Order %(pk)s · %(test)s") % {"pk": order.pk, "test": order.test_type.name},
        "detail": what,
    }


def _dated(value) -> str:
    return formats.date_format(value, "j M Y")


def _section(code, title, help_text, queryset, item, *, exact: bool) -> Section:
    rows = list(queryset[:LIST_AT_MOST])
    # Counted always (through the list's index), so the page's queries are the same
    # whether a list is short or long.
    return Section(code, title, help_text, tally(queryset, exact=exact), [item(r) for r in rows])


def open_loops_report(
    *,
    day: date,
    now: datetime | None = None,
    site_id: int | None = None,
    exact: bool = False,
) -> OpenLoopsReport:
    """What is open as seen on `day` (live), and the day's sign-off if any. `site_id`:
    that site's loops only (the sign-off is the network's day: see docs/scheduling.md).
    Each kind is counted up to COUNT_AT_MOST, or exactly with `exact` (the sign-off)."""
    now = now or timezone.now()
    orders = at_site(TestOrder.objects.select_related("test_type"), site_id)
    section = partial(_section, exact=exact)
    sections = [
        section(
            "visits_not_ended",
            _("Visits not ended"),
            _(
                "Checked in or in procedure on an earlier day: complete them or record "
                "what happened."
            ),
            visits_not_ended(day=day, site_id=site_id),
            lambda a: {
                "url": reverse("procedures:appointment_detail", args=[a.pk]),
                "action": "appointment_detail",
                "label": _("Visit %(pk)s · %(procedure)s")
                % {"pk": a.pk, "procedure": a.procedure_type.name},
                "detail": _("%(status)s since %(day)s")
                % {
                    "status": a.get_status_display(),
                    "day": _dated(a.start_at.astimezone(clinic_tz())),
                },
            },
        ),
        section(
            "orders_overdue",
            _("Orders overdue"),
            _(
                "No final result by the expected date: chase the lab, or cancel or "
                "replace the order."
            ),
            orders.filter(status__in=TestOrder.PENDING_STATUSES, expected_by__lt=day).order_by(
                "expected_by", "pk"
            ),
            lambda o: _order_item(o, _("expected %(day)s") % {"day": _dated(o.expected_by)}),
        ),
        section(
            "results_unreviewed",
            _("Results unreviewed"),
            _("A final result no physician has reviewed yet."),
            orders.filter(status=S.FINAL).order_by("final_at", "pk"),
            lambda o: _order_item(
                o,
                _("amended after the patient was told")
                if o.tell_again
                else _("final since %(day)s") % {"day": _dated(o.episode_at or o.final_at or now)},
            ),
        ),
        section(
            "patients_untold",
            _("Patients untold"),
            _("Reviewed, but nobody has recorded telling the patient."),
            orders.filter(status=S.REVIEWED).order_by("reviewed_at", "pk"),
            lambda o: _order_item(o, _("reviewed %(day)s") % {"day": _dated(o.reviewed_at)}),
        ),
        section(
            "emails_failed",
            _("Emails failed without a call"),
            _("A patient email failed for good and no phone call was planned instead."),
            at_site(emails_failed_without_call(), site_id).select_related("appointment"),
            lambda r: {
                "url": reverse("procedures:appointment_detail", args=[r.appointment_id]),
                "action": "appointment_detail",
                "label": _("Visit %(pk)s · %(kind)s")
                % {"pk": r.appointment_id, "kind": r.get_kind_display()},
                "detail": _("failed"),
            },
        ),
        _escalations_section(exact),
    ]
    return OpenLoopsReport(
        day=day, sections=sections, sign_off=OpenLoopsDay.objects.filter(day=day).first()
    )


def _escalations_section(exact: bool) -> Section:
    results = list(unaddressed().select_related("order__test_type")[:LIST_AT_MOST])
    days = list(days_unaddressed()[:LIST_AT_MOST])
    items = [_order_item(e.order, str(ResultEscalation.Level(e.level).label)) for e in results] + [
        {
            "url": reverse("procedures:open_loops") + f"?day={d.day.isoformat()}",
            "action": "open_loops",
            "label": _("Open loops of %(day)s not signed off") % {"day": _dated(d.day)},
            "detail": _("clinic lead address missing"),
        }
        for d in days
    ]
    return Section(
        "escalations_no_recipient",
        _("Escalations without a recipient"),
        _(
            "Nobody could be emailed: add the physician's email address or set "
            "RESULTS_CLINIC_LEAD_EMAILS."
        ),
        tally(unaddressed(), exact=exact) + tally(days_unaddressed(), exact=exact),
        items,
    )


def open_loops_sign_off(*, day: date, by, note: str = "", now: datetime | None = None):
    """Sign `day`'s open loops off: who, when, and the counts as they stood."""
    now = now or timezone.now()
    if day > clinic_today():
        raise ValidationError({"day": _("A day can only be signed off once it has begun.")})
    with transaction.atomic():
        row, _created = OpenLoopsDay.objects.select_for_update().get_or_create(day=day)
        if row.signed_off_at:
            raise ValidationError(
                _("This day was already signed off by %(who)s at %(at)s.")
                % {
                    "who": _name(row.signed_off_by),
                    "at": formats.date_format(timezone.localtime(row.signed_off_at), "j M Y H:i"),
                }
            )
        row.signed_off_by, row.signed_off_at = by, now
        row.note = note[:300]
        row.counts = open_loops_report(day=day, now=now, exact=True).counts()
        row.save()
    return row


def _working_day(day: date, holidays: set[date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def first_visit_day() -> date | None:
    """The clinic day of the first visit ever booked (any site, any state), or None."""
    first = Appointment.objects.aggregate(first=Min("start_at"))["first"]
    return first.astimezone(clinic_tz()).date() if first else None


def days_to_chase(*, today: date) -> list[date]:
    """Working days before today, within OPEN_LOOPS_LOOKBACK_DAYS and not before
    OPEN_LOOPS_SINCE, that nobody signed off and that were not escalated yet.

    Nor before the first visit: every loop starts with one, so the days before it
    have nothing to sign off (a new install escalated its first week at once)."""
    lookback = getattr(settings, "OPEN_LOOPS_LOOKBACK_DAYS", 7)
    since = getattr(settings, "OPEN_LOOPS_SINCE", None)
    first_visit = first_visit_day()
    if first_visit is None:
        return []
    first = max(today - timedelta(days=lookback), first_visit)
    if since:
        first = max(first, since)
    if first >= today:
        return []
    holidays = set(
        ClinicHoliday.objects.filter(date__gte=first, date__lt=today).values_list("date", flat=True)
    )
    handled = set(
        OpenLoopsDay.objects.filter(day__gte=first, day__lt=today)
        .filter(Q(signed_off_at__isnull=False) | Q(escalated_at__isnull=False))
        .values_list("day", flat=True)
    )
    days = [first + timedelta(days=n) for n in range((today - first).days)]
    return [d for d in days if _working_day(d, holidays) and d not in handled]


def open_loops_escalate_unsigned(*, now: datetime | None = None) -> int:
    """Escalate every working day left unsigned to the clinic lead, once per day, then
    email whatever is escalated but unsent. Returns how many days were escalated."""
    now = now or timezone.now()
    today = now.astimezone(clinic_tz()).date()
    lead = ", ".join(getattr(settings, "RESULTS_CLINIC_LEAD_EMAILS", []))[:254]
    escalated = 0
    for day in days_to_chase(today=today):
        OpenLoopsDay.objects.get_or_create(day=day)
        # Conditional: a concurrent run that escalated (or someone who signed) wins.
        escalated += OpenLoopsDay.objects.filter(
            day=day, signed_off_at__isnull=True, escalated_at__isnull=True
        ).update(escalated_at=now, escalated_to=lead)
    if lead:
        # Days escalated while nobody could be emailed get the address now.
        days_unaddressed().update(escalated_to=lead)
    _notify_unsigned(now=now)
    return escalated


def _notify_unsigned(*, now: datetime) -> None:
    with transaction.atomic():
        rows = list(
            OpenLoopsDay.objects.filter(
                escalated_at__isnull=False,
                escalation_sent_at__isnull=True,
                signed_off_at__isnull=True,
            )
            .exclude(escalated_to="")
            .select_for_update(skip_locked=True)
            .order_by("day")
        )
        if not rows:
            return
        by_recipient: dict[str, list[OpenLoopsDay]] = {}
        for row in rows:
            by_recipient.setdefault(row.escalated_to, []).append(row)
        for recipient, days in by_recipient.items():
            try:
                unsigned_message(days, to=[a.strip() for a in recipient.split(",")]).send()
            except (smtplib.SMTPException, OSError) as exc:
                log.warning("an unsigned-day escalation was not sent (%s); next run retries", exc)
                continue
            OpenLoopsDay.objects.filter(pk__in=[d.pk for d in days]).update(escalation_sent_at=now)


def unsigned_message(days: list[OpenLoopsDay], *, to: list[str]):
    """Links to each unsigned day's report: no patient is named."""
    site = settings.SITE_URL
    items = [
        {
            "label": _dated(d.day),
            "url": site + reverse("procedures:open_loops") + f"?day={d.day.isoformat()}",
        }
        for d in days
    ]
    return build_email(
        "open_loops_unsigned",
        {
            "items": items,
            "count": len(items),
            "clinic_name": settings.CLINIC_NAME,
            "clinic_phone": settings.CLINIC_PHONE,
            "clinic_address": settings.CLINIC_ADDRESS,
        },
        to=to,
    )


def _name(user: User | None) -> str:
    if user is None:
        return str(_("someone no longer on the staff list"))
    return user.get_full_name() or user.username
