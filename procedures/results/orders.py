"""Test orders and results: from the procedure to the patient being told.

Every change of an order's state goes through `_move`, which checks it against
`TRANSITIONS` and writes the order's timeline; an illegal move raises a
ValidationError that says why, and the surrounding transaction saves nothing.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F, Max, Min, OuterRef, Subquery
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import add_working_days, clinic_tz, closed_days
from procedures.catalog.models import TestType
from procedures.catalog.resources import Provider, Room, staff_name
from procedures.catalog.sites import Site
from procedures.prep import rules
from procedures.prep.facts import plan_of
from procedures.prep.models import FrontDeskTask
from procedures.results.models import (
    NoSampleReason,
    SpecimenSide,
    SpecimenSite,
    TestOrder,
    TestOrderEvent,
    TestResult,
)
from procedures.scheduling.models import Appointment, AppointmentEvent

S = TestOrder.Status
# Which state may follow which. A result may be amended (→ final) at any state after
# the first final one: an amendment after the review opens a new review episode, and
# one after the patient was told also means telling them again.
TRANSITIONS: dict[str, set[str]] = {
    S.ORDERED: {S.COLLECTED, S.SENT, S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.COLLECTED: {S.SENT, S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.SENT: {S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.PRELIMINARY: {S.PRELIMINARY, S.FINAL, S.CANCELLED},
    S.FINAL: {S.FINAL, S.REVIEWED},
    S.REVIEWED: {S.FINAL, S.COMMUNICATED},
    S.COMMUNICATED: {S.FINAL},
    S.CANCELLED: set(),
}
AMENDABLE = (S.FINAL, S.REVIEWED, S.COMMUNICATED)
# How many working days a recollection may take when no date is given.
RECOLLECT_WITHIN_DAYS = 2


def holidays_from(start: date, site: Site | None = None) -> set[date]:
    """The site's public holidays (the `holidays` package) and its closures (and every
    site's) from `start` on, far enough ahead for any turnaround. Without a site: the
    settings' public holidays and every closure."""
    return closed_days(start, start + timedelta(days=400), site=site)


def expected_by_for(
    *, collected_at: datetime, turnaround_days: int, site: Site | None = None
) -> date:
    """Collection date plus the turnaround in working days: the day and the working days
    of the order's site (invariant 19); without a site, the current zone's and the
    settings' holidays."""
    start = collected_at.astimezone(site.tz if site is not None else clinic_tz()).date()
    return add_working_days(start, turnaround_days, holidays_from(start, site))


def _move(order: TestOrder, *, to: str, by: User | None, note: str = "", refusal: str = "") -> None:
    """Change the order's state if the state machine allows it, and write the timeline."""
    if order.status == S.CANCELLED:
        raise ValidationError(refusal or _("This test order was cancelled."))
    if to not in TRANSITIONS[order.status]:
        raise ValidationError(
            refusal
            or _("A test order at “%(status)s” cannot move to “%(to)s”.")
            % {"status": order.get_status_display(), "to": S(to).label}
        )
    TestOrderEvent.objects.create(
        order=order, kind="status", from_status=order.status, to_status=to, note=note, by=by
    )
    order.status = to


def _who(user: User | None) -> str:
    """A staff member as colleagues know them: the physician's name as shown, else the
    login's full name."""
    return staff_name(user)


def _at(moment: datetime) -> str:
    """A time for a message: "21:18" today, "21:18 on 7 December 2026" another day."""
    local = timezone.localtime(moment)
    if local.date() == timezone.localtime().date():
        return formats.time_format(local, "H:i")
    return formats.date_format(local, r"H:i \o\n j F Y")


def _locked(order_id: int) -> TestOrder:
    return (
        TestOrder.objects.select_for_update(of=("self",))
        .select_related("appointment", "test_type", "site")
        .get(pk=order_id)
    )


# --- Orders at completion ----------------------------------------------------------


@dataclass
class Sample:
    """What the team records about the sample when the procedure is completed."""

    test_types: list[TestType]
    collected_at: datetime
    specimen_site: str = ""
    specimen_side: str = ""
    sent_at: datetime | None = None
    accession_number: str = ""
    # The site or side differs from the prep plan's: the team ticked that it did, and
    # why (needed where a clinical rule asks for a reason: the sternum, a child's site).
    site_confirmed: bool = False
    site_reason: str = ""
    # No tests: why (NoSampleReason) and what happened, for the visit's timeline.
    no_sample_reason: str = ""
    no_sample_note: str = ""
    errors: dict = field(default_factory=dict)

    @property
    def no_sample_text(self) -> str:
        label = NoSampleReason(self.no_sample_reason).label if self.no_sample_reason else ""
        return (f"{label}: {self.no_sample_note}" if self.no_sample_note else str(label))[:300]


# Visits that take no sample: they end without a test order.
NO_SAMPLE_KINDS = (ProcedureKind.RESULTS_DISCUSSION, ProcedureKind.BMAC)


def takes_no_sample(appointment: Appointment) -> bool:
    return appointment.procedure_type.kind in NO_SAMPLE_KINDS


def _when(at: datetime, tz: tzinfo) -> str:
    return formats.date_format(at.astimezone(tz), "H:i, j F Y")


def earliest_collection(appointment: Appointment) -> tuple[datetime, str]:
    """The earliest time a sample of this visit can have been taken, and what it is: the
    patient's check-in, or, when none was recorded, the start of the visit's day at its
    site (its own zone: invariant 19)."""
    checked_in = (
        AppointmentEvent.objects.filter(
            appointment_id=appointment.pk, kind=AppointmentEvent.Kind.CHECKED_IN
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if checked_in is not None:
        # To the minute: the form takes minutes, and a sample taken in the minute of
        # the check-in is typed as that minute.
        return checked_in.replace(second=0, microsecond=0), _("the patient checked in")
    tz = appointment.site_tz
    day_start = datetime.combine(appointment.start_at.astimezone(tz).date(), time(0, 0), tz)
    return day_start, _("the visit's day began")


# The clinical rules about where a sample comes from (procedures/prep/rules.py): the
# prep page applies them to the plan, the sample form to what was done.
SITE_RULES = (rules.BIOPSY_PELVIS, rules.CHILD_TIBIA, rules.STERNUM_REASON)


def _site_words(site: str, side: str) -> str:
    words = str(SpecimenSite(site).label).lower() if site in SpecimenSite.values else site
    if side in SpecimenSide.values:
        words += ", " + str(SpecimenSide(side).label).lower()
    return words


def site_differs(appointment: Appointment, sample: Sample) -> str:
    """The plan's site and side in words when the sample's differ from them (else "")."""
    plan = plan_of(appointment)
    if not plan.site or not sample.specimen_site:
        return ""  # nothing planned, or nothing taken
    if sample.specimen_site == plan.site and (not plan.side or sample.specimen_side == plan.side):
        return ""
    return _site_words(plan.site, plan.side)


def _site_errors(appointment: Appointment, sample: Sample) -> dict:
    """The prep page's site rules, applied to the site the sample was taken from; a site
    or side other than the plan's needs the team's explicit confirmation."""
    site, side = sample.specimen_site, sample.specimen_side
    if not site:
        return {}
    errors: dict[str, list[str]] = {}
    if side and site == SpecimenSite.STERNUM and side != SpecimenSide.MIDLINE:
        errors["specimen_side"] = [_("The breastbone is in the midline: choose midline.")]
    elif side == SpecimenSide.MIDLINE and site != SpecimenSite.STERNUM:
        errors["specimen_side"] = [_("Choose left, right or both sides for this site.")]
    findings = [f for f in rules.rule_findings(appointment, site=site) if f.rule in SITE_RULES]
    hard = [f.message for f in findings if f.blocking and not f.overridable]
    if hard:
        errors["specimen_site"] = hard
        return errors
    planned = site_differs(appointment, sample)
    if planned and not sample.site_confirmed:
        errors["site_confirmed"] = [
            _("The plan said %(planned)s: tick to confirm the sample was taken from %(taken)s.")
            % {"planned": planned, "taken": _site_words(site, side)}
        ]
    needing = [f.message for f in findings if f.overridable and f.override is None]
    if needing and not sample.site_reason.strip():
        errors["site_reason"] = needing
    return errors


def sample_validate(*, appointment: Appointment, sample: Sample, now: datetime) -> None:
    """Refuse a sample that cannot be right, with a message per field. A visit ends
    without tests when it takes no sample, or when someone says why none was taken."""
    errors = {}
    if sample.no_sample_reason and sample.no_sample_reason not in NoSampleReason.values:
        errors["no_sample_reason"] = _("Choose why no sample was taken from the list.")
    if sample.test_types and sample.no_sample_reason:
        errors["no_sample_reason"] = _("Tests are ticked: untick them, or leave “no sample” empty.")
    if not sample.test_types:
        if not (sample.no_sample_reason or takes_no_sample(appointment)):
            errors["test_types"] = _(
                "Tick at least one test on the sample, or say why no sample was taken."
            )
        elif sample.no_sample_reason == NoSampleReason.OTHER and not sample.no_sample_note:
            errors["no_sample_note"] = _("Say what happened.")
        if errors:
            raise ValidationError(errors)
        return
    earliest, since = earliest_collection(appointment)
    if sample.collected_at > now:
        errors["collected_at"] = _("The collection time is in the future. Enter when it was taken.")
    elif sample.collected_at < earliest:
        # A mistyped year made orders "overdue by 2531 days", escalated them to the lead
        # and skewed the turnaround figures: a sample is taken at the visit, not before.
        errors["collected_at"] = _(
            "The sample cannot have been taken before %(since)s (%(at)s). Enter when it was taken."
        ) % {"since": since, "at": _when(earliest, appointment.site_tz)}
    errors.update(_site_errors(appointment, sample))
    if sample.sent_at and sample.sent_at < sample.collected_at:
        errors["sent_at"] = _("The sample cannot reach the lab before it was collected.")
    elif sample.sent_at and sample.sent_at > now:
        errors["sent_at"] = _("The time sent to the lab is in the future.")
    if errors:
        raise ValidationError(errors)


def test_orders_create(
    *,
    appointment: Appointment,
    collected_at: datetime,
    sample: Sample | None = None,
    by: User | None = None,
) -> list[TestOrder]:
    """Open one order per test on the sample: the panel the team ticked, or else the
    procedure type's default panel. The proceduralist is responsible."""
    if sample is None:
        sample = Sample(
            test_types=list(appointment.procedure_type.default_tests.filter(is_active=True)),
            collected_at=collected_at,
        )
    else:
        sample_validate(appointment=appointment, sample=sample, now=timezone.now())
    if not sample.test_types:
        return []
    # The visit's site: the day of collection and the working days are its own.
    site = Room.objects.select_related("site").get(pk=appointment.room_id).site
    start = sample.collected_at.astimezone(site.tz).date()
    holidays = holidays_from(start, site)
    orders = []
    for test_type in sample.test_types:
        order = TestOrder.objects.create(
            appointment=appointment,
            site=site,  # the visit's site (docs/invariants.md, 18)
            test_type=test_type,
            status=S.SENT if sample.sent_at else S.COLLECTED,
            collected_at=sample.collected_at,
            sent_at=sample.sent_at,
            specimen_site=sample.specimen_site,
            specimen_side=sample.specimen_side,
            accession_number=sample.accession_number,
            expected_by=add_working_days(start, test_type.turnaround_target_days, holidays),
            responsible=appointment.provider,
        )
        TestOrderEvent.objects.create(
            order=order, kind="status", to_status=order.status, at=sample.collected_at
        )
        orders.append(order)
    planned = site_differs(appointment, sample)
    if planned:
        # Where the sample really came from, against the plan: kept on the visit's timeline.
        reason = " ".join(sample.site_reason.split())
        AppointmentEvent.objects.create(
            appointment=appointment,
            kind="sample_site_differs",
            note=(
                _("Sample taken from %(taken)s; the plan said %(planned)s (confirmed)")
                % {
                    "taken": _site_words(sample.specimen_site, sample.specimen_side),
                    "planned": planned,
                }
                + (f": {reason}" if reason else "")
            )[:300],
            by=by,
        )
    return orders


def orders_follow_rooms(*, room_ids: Iterable[int]) -> int:
    """After rooms moved to another site (the admin corrected where a room is), the
    orders of their visits carry the rooms' sites again, in the same transaction
    (docs/invariants.md, 18). Returns how many orders moved."""
    site_of_visit = Appointment.objects.filter(pk=OuterRef("appointment_id")).values("room__site")[
        :1
    ]
    return (
        TestOrder.objects.filter(appointment__room__in=list(room_ids))
        .exclude(site=F("appointment__room__site"))
        .update(site=Subquery(site_of_visit))
    )


def order_sent(
    *, order_id: int, sent_at: datetime, accession_number: str, by: User | None
) -> TestOrder:
    """Record that the sample reached the lab, with the lab's accession number."""
    with transaction.atomic():
        order = _locked(order_id)
        if sent_at > timezone.now():
            raise ValidationError({"sent_at": _("The time sent to the lab is in the future.")})
        if order.collected_at and sent_at < order.collected_at:
            raise ValidationError(
                {"sent_at": _("The sample cannot reach the lab before it was collected.")}
            )
        if order.collected_at is None and sent_at < order.created_at:
            # A recollection: its sent time becomes its collection time, so it cannot
            # come before the new sample was asked for.
            raise ValidationError(
                {
                    "sent_at": _(
                        "The new sample was asked for at %(at)s: it cannot have reached "
                        "the lab before."
                    )
                    % {"at": _when(order.created_at, order.site.tz)}
                }
            )
        was = order.status
        _move(order, to=S.SENT, by=by)
        order.sent_at, order.accession_number = sent_at, accession_number
        # A recollection sent straight to the lab was collected by then.
        order.collected_at = order.collected_at or sent_at
        order.save(
            update_fields=["status", "sent_at", "accession_number", "collected_at", "updated_at"]
        )
        if was == S.ORDERED:
            recollection_settle(
                appointment_id=order.appointment_id, note=_("The new sample reached the lab")
            )
    return order


def order_reassign(*, order_id: int, responsible: Provider, by: User | None) -> TestOrder:
    """Hand the order to another physician, who answers for it from now on."""
    with transaction.atomic():
        order = _locked(order_id)
        if order.status in (S.COMMUNICATED, S.CANCELLED):
            raise ValidationError(_("This test order is closed; it cannot be reassigned."))
        if order.responsible_id == responsible.pk:
            raise ValidationError(
                {"responsible": _("%(name)s is already responsible.") % {"name": responsible}}
            )
        TestOrderEvent.objects.create(
            order=order,
            kind="reassigned",
            note=_("From %(old)s to %(new)s")
            % {"old": order.responsible or "—", "new": responsible},
            by=by,
        )
        order.responsible = responsible
        order.save(update_fields=["responsible", "updated_at"])
    return order


def _cancel(order: TestOrder, *, reason: str, by: User | None, note: str = "") -> None:
    _move(
        order,
        to=S.CANCELLED,
        by=by,
        note=note,
        refusal=_("Only a test still waiting for its final result can be cancelled."),
    )
    if reason not in TestOrder.CancelReason.values:
        raise ValidationError({"reason": _("Choose why the test is cancelled.")})
    order.cancel_reason = reason
    order.save(update_fields=["status", "cancel_reason", "updated_at"])


def recollection_settle(*, appointment_id: int, note: str) -> int:
    """The front desk's "book a new sample" task of a visit is done with once no order of
    the visit still waits for a new sample (cancelled, or the sample reached the lab or
    its result came in): it closes, saying why, rather than stay on the queue. Returns
    how many tasks closed (0 or 1)."""
    waiting = TestOrder.objects.filter(appointment_id=appointment_id, status=S.ORDERED)
    if waiting.exists():
        return 0
    return FrontDeskTask.objects.filter(
        appointment_id=appointment_id, kind=FrontDeskTask.Kind.RECOLLECT, done_at__isnull=True
    ).update(done_at=timezone.now(), note=note[:200])


def order_cancel(*, order_id: int, reason: str, by: User | None, note: str = "") -> TestOrder:
    """Cancel a test that will not be run, with the reason (one of
    TestOrder.CancelReason: sample lost, inadequate, clotted, lab rejected...)."""
    with transaction.atomic():
        order = _locked(order_id)
        label = TestOrder.CancelReason(reason).label if reason in TestOrder.CancelReason else ""
        was = order.status
        _cancel(order, reason=reason, by=by, note=(f"{label}: {note}" if note else label)[:300])
        if was == S.ORDERED:
            recollection_settle(
                appointment_id=order.appointment_id,
                note=_("No longer needed: the test was cancelled"),
            )
    return order


def order_replace(
    *,
    order_id: int,
    reason: str,
    by: User | None,
    recollect: bool = False,
    collect_by: date | None = None,
    note: str = "",
) -> TestOrder:
    """Cancel an order for `reason` and open its replacement, which names it.

    With `recollect`, a new sample is needed: the replacement waits for collection
    ("ordered") and is expected the test's turnaround after `collect_by` (by default
    RECOLLECT_WITHIN_DAYS working days from today). Without, the lab runs the test
    again on the sample it has: collected as before, expected the turnaround from today.
    Returns the replacement."""
    with transaction.atomic():
        order = _locked(order_id)
        # Today and the working days of the order's site (invariant 19).
        today = timezone.now().astimezone(order.site.tz).date()
        label = TestOrder.CancelReason(reason).label if reason in TestOrder.CancelReason else ""
        _cancel(order, reason=reason, by=by, note=(_("Replaced") + f": {label} {note}")[:300])
        if collect_by is not None and collect_by < today:
            raise ValidationError({"collect_by": _("The recollection date is in the past.")})
        holidays = holidays_from(today, order.site)
        if recollect:
            start = collect_by or add_working_days(today, RECOLLECT_WITHIN_DAYS, holidays)
        else:
            start = today
        target = order.test_type.turnaround_target_days
        replacement = TestOrder.objects.create(
            appointment=order.appointment,
            site_id=order.site_id,  # the same visit, so the same site
            test_type=order.test_type,
            status=S.ORDERED if recollect else S.COLLECTED,
            collected_at=None if recollect else order.collected_at,
            specimen_site="" if recollect else order.specimen_site,
            specimen_side="" if recollect else order.specimen_side,
            expected_by=add_working_days(start, target, holidays_from(start, order.site)),
            responsible=order.responsible,
            replaces=order,
        )
        TestOrderEvent.objects.create(
            order=replacement,
            kind="replaces",
            to_status=replacement.status,
            note=_("Replaces order %(pk)s (%(reason)s)") % {"pk": order.pk, "reason": label},
            by=by,
        )
        if not recollect:
            recollection_settle(
                appointment_id=order.appointment_id,
                note=_("No longer needed: the lab runs the test again"),
            )
    return replacement


# --- Results -------------------------------------------------------------------------

FINDINGS = (
    "cellularity",
    "maturation",
    "iron_stores",
    "infection_signs",
    "malignant_cells",
    "malignancy_type",
    "fibrosis",
    "other_findings",
)


def result_log(
    *,
    order_id: int,
    interpretation: str,
    report_text: str,
    is_final: bool,
    by: User,
    report_pdf: File | None = None,
    seen_result_id: int | None = None,
    **findings: str,
) -> TestResult:
    """Record a result (a new version; earlier ones are kept). Telling the patient
    waits for the review.

    `seen_result_id`: the latest result on the page the person opened (0: there was
    none). When another has been logged since (a second tab, a colleague, the lab),
    nothing is saved: the page was stale, and what was typed would have silently
    become an amendment of a result the person has not read. None: not checked (the
    lab's interface, which amends by design)."""
    unknown = set(findings) - set(FINDINGS)
    if unknown:
        raise TypeError(f"unknown findings: {sorted(unknown)}")
    with transaction.atomic():
        order = _locked(order_id)
        if order.status == S.CANCELLED:
            raise ValidationError(_("This test order was cancelled; no result can be logged."))
        if seen_result_id is not None:
            latest = order.results.select_related("logged_by").order_by("-pk").first()
            if latest is not None and latest.pk != seen_result_id:
                words = {"at": _at(latest.logged_at), "who": _who(latest.logged_by)}
                raise ValidationError(
                    _(
                        "A final result was logged at %(at)s by %(who)s since you opened "
                        "this page: read it, then amend it if needed."
                    )
                    % words
                    if latest.is_final
                    else _(
                        "A preliminary result was logged at %(at)s by %(who)s since you "
                        "opened this page: read it, then log yours if it is still needed."
                    )
                    % words
                )
        to = S.FINAL if is_final else S.PRELIMINARY
        was = order.status
        if was in AMENDABLE and not is_final:
            raise ValidationError(
                {"is_final": _("A final result is on file; an amendment must be final too.")}
            )
        note = ""
        if was == S.COMMUNICATED:
            note = _("amended after the patient was told")
        elif was in AMENDABLE:
            note = _("amended result")
        _move(
            order,
            to=to,
            by=by,
            note=note,
            refusal=_("No result can be logged now: this order is at “%(status)s”.")
            % {"status": order.get_status_display()},
        )
        if findings.get("malignancy_type") and findings.get("malignant_cells") != "present":
            raise ValidationError(
                {"malignancy_type": _("A type of malignant cells needs malignant cells present.")}
            )
        result = TestResult.objects.create(
            order=order,
            interpretation=interpretation,
            report_text=report_text,
            is_final=is_final,
            logged_by=by,
            report_pdf=report_pdf or "",
            **findings,
        )
        fields = ["status", "updated_at"]
        if is_final:
            # Turnaround is measured to the first final result. The review clock runs
            # from the start of the episode: the first final result, or an amendment
            # after the review, which needs a review (and telling) again.
            order.final_at = order.final_at or result.logged_at
            if was in (S.REVIEWED, S.COMMUNICATED):
                order.episode += 1
                order.episode_at = result.logged_at
            else:
                order.episode_at = order.episode_at or result.logged_at
            if was == S.COMMUNICATED:
                order.tell_again = True
            order.reviewed_at = order.reviewed_by = None
            order.review_action = ""
            order.communicated_at = order.communicated_by = None
            order.communicated_how = ""
            fields += [
                "final_at",
                "episode",
                "episode_at",
                "tell_again",
                "reviewed_at",
                "reviewed_by",
                "review_action",
                "communicated_at",
                "communicated_by",
                "communicated_how",
            ]
        order.save(update_fields=fields)
        if was == S.ORDERED:
            recollection_settle(
                appointment_id=order.appointment_id, note=_("The new sample's result came in")
            )
    return result


def _stale_refusal(order: TestOrder, seen_result_id: int | None, *, message: str) -> None:
    """Refuse a review or a telling of a result the person has not read (invariant 34):
    `seen_result_id` is the latest result on the page they opened; a result logged since
    (a colleague's amendment, the lab's correction) would otherwise be signed off, or
    told, unseen. `message` takes the newer result's %(at)s and %(who)s. None: not
    checked (callers with no page)."""
    if seen_result_id is None:
        return
    latest = order.results.select_related("logged_by").order_by("-pk").first()
    if latest is None or latest.pk == seen_result_id:
        return
    raise ValidationError(message % {"at": _at(latest.logged_at), "who": _who(latest.logged_by)})


def result_review(
    *, order_id: int, action_planned: str, by: User | None, seen_result_id: int | None = None
) -> TestOrder:
    """A physician has read the final result and says what happens next (the
    workflow then plans the "your results are ready" email).

    `seen_result_id`: the latest result on the page the physician opened; a result
    logged since refuses the review (`_stale_refusal`)."""
    with transaction.atomic():
        order = _locked(order_id)
        _stale_refusal(
            order,
            seen_result_id,
            message=_(
                "The result changed since you opened this page (a result was logged at "
                "%(at)s by %(who)s): read the new result, then review again. Nothing was "
                "changed."
            ),
        )
        if order.status in (S.REVIEWED, S.COMMUNICATED) and order.reviewed_at:
            # A second submission (another tab, a colleague): say who did it.
            raise ValidationError(
                _("This result was already reviewed at %(at)s by %(who)s. Nothing was changed.")
                % {"at": _at(order.reviewed_at), "who": _who(order.reviewed_by)}
            )
        _move(
            order,
            to=S.REVIEWED,
            by=by,
            note=action_planned[:300],
            refusal=_("Only a final result can be reviewed: this order is at “%(status)s”.")
            % {"status": order.get_status_display()},
        )
        order.reviewed_at, order.reviewed_by = timezone.now(), by
        order.review_action = action_planned
        order.save(
            update_fields=["status", "reviewed_at", "reviewed_by", "review_action", "updated_at"]
        )
    return order


def result_communicate(
    *, order_id: int, how: str, at: datetime, by: User | None, seen_result_id: int | None = None
) -> TestOrder:
    """Record that the patient was told, how and when: the loop is closed.

    `seen_result_id`: the latest result on the page opened; a result logged since
    refuses the telling (`_stale_refusal`): the patient was told of another result."""
    with transaction.atomic():
        order = _locked(order_id)
        _stale_refusal(
            order,
            seen_result_id,
            message=_(
                "The result changed since you opened this page (a result was logged at "
                "%(at)s by %(who)s): read the new result, then record how the patient was "
                "told. Nothing was changed."
            ),
        )
        if order.status == S.COMMUNICATED and order.communicated_at:
            # A second submission (another tab, a colleague): say who did it.
            raise ValidationError(
                _(
                    "The patient was already recorded as told (%(how)s) at %(at)s by "
                    "%(who)s. Nothing was changed."
                )
                % {
                    "how": order.get_communicated_how_display().lower(),
                    "at": _at(order.communicated_at),
                    "who": _who(order.communicated_by),
                }
            )
        _move(
            order,
            to=S.COMMUNICATED,
            by=by,
            note=str(TestOrder.CommunicatedHow(how).label),
            refusal=_(
                "A physician must review the result before the patient is told: "
                "this order is at “%(status)s”."
            )
            % {"status": order.get_status_display()},
        )
        if at > timezone.now():
            raise ValidationError({"at": _("The time the patient was told is in the future.")})
        if order.reviewed_at and at < order.reviewed_at - timedelta(days=1):
            raise ValidationError({"at": _("The patient cannot be told before the review.")})
        order.communicated_at, order.communicated_by, order.communicated_how = at, by, how
        order.tell_again = False
        order.save(
            update_fields=[
                "tell_again",
                "status",
                "communicated_at",
                "communicated_by",
                "communicated_how",
                "updated_at",
            ]
        )
    return order


# --- Closing the loop ------------------------------------------------------------------


def results_still_pending(appointment: Appointment) -> date | None:
    """The latest expected date of the appointment's tests still without a final
    result, or None when every result is in (for the patient's email: no test named)."""
    return (
        appointment.test_orders.pending().aggregate(last=Max("expected_by"))["last"]
        if appointment.pk
        else None
    )


def results_ready_context(appointment: Appointment, *, language: str | None = None) -> dict:
    """Extra context for the "results ready" email: when the rest is expected."""
    from django.utils import translation

    last = results_still_pending(appointment)
    if last is None:
        return {"results_pending_until": "", "results_still_waiting": False}
    if last < timezone.now().astimezone(appointment.site_tz).date():
        # The expected day has passed (the order is overdue): a date already gone
        # would tell the patient something untrue, so no date at all.
        return {"results_pending_until": "", "results_still_waiting": True}
    with translation.override(language or appointment.patient.preferred_language):
        return {
            "results_pending_until": formats.date_format(last, "j F Y"),
            "results_still_waiting": False,
        }


def discussion_date_for(appointment: Appointment) -> date:
    """A date for the results discussion: the first working day after the last
    expected result, and not before tomorrow."""
    site = appointment.room.site  # its day and working days (invariant 19)
    today = timezone.now().astimezone(site.tz).date()
    live = appointment.test_orders.exclude(status=S.CANCELLED)
    last = live.aggregate(last=Max("expected_by"))["last"] or today
    start = max(last, today)
    return add_working_days(start, 1, holidays_from(start, site))


def first_expected(appointment: Appointment) -> date | None:
    return appointment.test_orders.pending().aggregate(first=Min("expected_by"))["first"]
