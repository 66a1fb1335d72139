"""The results loop as a state machine (Hypothesis): visits complete with or without a
sample, results come in (preliminary, final, corrected), physicians review, patients
are told, orders are cancelled or replaced, and time passes with the escalation run.

After every step the invariants of docs/invariants.md ("Results loop") hold; at the
end of every run each visit and each order is driven to its end by the legal moves
only, which must always exist. The bounded run is part of `make test`; CLINIC_SOAK=1
runs a long one.
"""

import datetime as dt
import itertools
import os

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from procedures.catalog.choices import ProcedureKind
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.messaging.models import CallTask
from procedures.results import orders as svc
from procedures.results.escalations import escalations_run, late_orders
from procedures.results.models import NoSampleReason, ResultEscalation, TestOrder
from procedures.scheduling.models import Appointment
from procedures.tests import factories
from procedures.today.loops import NOT_ENDED, visits_not_ended
from procedures.workflows import results as result_flows
from procedures.workflows import visits

S = TestOrder.Status
SOAK = os.environ.get("CLINIC_SOAK") == "1"
# Monday 2 June 2025, 09:00 in the clinic.
START = clinic_datetime(dt.date(2025, 6, 2), dt.time(9, 0))
SLOTS = itertools.count()
REASONS = list(TestOrder.CancelReason.values)


class ResultsLoop(RuleBasedStateMachine):
    """One clinic's results loop, on the real services and the real database. Each run
    lives in a transaction rolled back at its end, and in frozen clinic time."""

    visits = Bundle("visits")
    orders = Bundle("orders")

    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.clock = time_machine.travel(START, tick=False)
        self.traveller = self.clock.start()
        self.now = START
        self.settled = True  # no change since the last escalation run
        # The result each order's review and telling were of (the page's seen_result).
        self.reviewed_seen: dict[int, int] = {}
        self.told_seen: dict[int, int] = {}
        self.physician = User.objects.create_user(
            f"md{next(SLOTS)}", email="md@clinic.example", password=None
        )
        self.provider = factories.ProviderFactory(user=self.physician)
        tests = [
            factories.TestTypeFactory(turnaround_target_days=1),
            factories.TestTypeFactory(turnaround_target_days=3),
        ]
        self.biopsy = factories.ProcedureTypeFactory(
            code=f"bx{next(SLOTS)}", kind=ProcedureKind.ASPIRATION_BIOPSY, default_tests=tests
        )
        self.bmac = factories.ProcedureTypeFactory(code=f"bmac{next(SLOTS)}", kind="bmac")

    def teardown(self):
        try:
            self._everything_ends()
        finally:
            self.clock.stop()
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------

    def _changed(self):
        self.settled = False

    def _fresh(self, order: TestOrder) -> TestOrder:
        return TestOrder.objects.get(pk=order.pk)

    def _latest(self, order: TestOrder) -> int:
        """The latest result on the order's page (0: none), as its forms carry it."""
        return order.results.order_by("-pk").values_list("pk", flat=True).first() or 0

    def _review(self, order: TestOrder, *, seen: int, tell_by: str = "") -> None:
        result_flows.result_review(
            order_id=order.pk,
            action_planned="Clinic.",
            by=self.physician,
            tell_by=tell_by,
            seen_result_id=seen,
        )
        self.reviewed_seen[order.pk] = seen

    def _tell(self, order: TestOrder, *, seen: int, how: str = "phone") -> None:
        result_flows.result_communicate(
            order_id=order.pk, how=how, at=self.now, by=self.physician, seen_result_id=seen
        )
        self.told_seen[order.pk] = seen

    def _result(self, order: TestOrder, *, is_final: bool):
        return svc.result_log(
            order_id=order.pk,
            interpretation="normal",
            report_text="Report.",
            is_final=is_final,
            by=self.physician,
        )

    # --- rules: visits ---------------------------------------------------------------

    @rule(target=visits, takes_sample=st.booleans())
    def visit_in_procedure(self, takes_sample):
        """A patient is in the procedure room (booked and started long ago: the slot
        rules are the scheduling machine's)."""
        start = self.now - dt.timedelta(hours=1) - dt.timedelta(minutes=5 * next(SLOTS))
        self._changed()
        return factories.AppointmentFactory(
            procedure_type=self.biopsy if takes_sample else self.bmac,
            provider=self.provider,
            start_at=start,
            end_at=start + dt.timedelta(minutes=5),
            status=Appointment.Status.IN_PROCEDURE,
        )

    @rule(target=orders, visit=consumes(visits), tests=st.integers(min_value=0, max_value=2))
    def complete(self, visit, tests):
        """Complete with 0-2 tests; with none, a visit that takes a sample says why."""
        test_types = list(visit.procedure_type.default_tests.all())[:tests]
        reason = ""
        if not test_types and visit.procedure_type.kind != "bmac":
            reason = NoSampleReason.DRY_TAP
        sample = svc.Sample(
            test_types=test_types,
            collected_at=self.now - dt.timedelta(minutes=30),
            specimen_site="posterior_iliac" if test_types else "",
            no_sample_reason=reason,
        )
        visits.procedure_complete(appointment_id=visit.pk, sample=sample, by=self.physician)
        self._changed()
        return _multiple(visit)

    # --- rules: results --------------------------------------------------------------

    @rule(order=orders, kind=st.sampled_from(["preliminary", "final", "corrected"]))
    def result_in(self, order, kind):
        before = self._fresh(order).status
        is_final = kind != "preliminary"
        legal = before != S.CANCELLED and (is_final or before in TestOrder.PENDING_STATUSES)
        if legal:
            self._result(order, is_final=is_final)
            after = self._fresh(order)
            assert after.status == (S.FINAL if is_final else S.PRELIMINARY)
            if before == S.COMMUNICATED:
                assert after.tell_again
        else:
            with pytest.raises(ValidationError):
                self._result(order, is_final=is_final)
            assert self._fresh(order).status == before
        self._changed()

    @rule(visit=visits, days_early=st.sampled_from([1, 400, 2531]))
    def complete_with_a_collection_before_the_visit(self, visit, days_early):
        """A mistyped collection date (a day, a year, years early) is refused, and
        nothing changes: the visit stays in procedure, no order is opened."""
        visit.refresh_from_db()
        if visit.status != Appointment.Status.IN_PROCEDURE:
            return
        test_types = list(visit.procedure_type.default_tests.all())[:1]
        if not test_types:
            return
        tz = visit.site_tz
        day_start = clinic_datetime(visit.start_at.astimezone(tz).date(), dt.time(0), tz)
        sample = svc.Sample(
            test_types=test_types,
            collected_at=day_start - dt.timedelta(days=days_early),
            specimen_site="posterior_iliac",
        )
        with pytest.raises(ValidationError):
            visits.procedure_complete(appointment_id=visit.pk, sample=sample, by=self.physician)
        visit.refresh_from_db()
        assert visit.status == Appointment.Status.IN_PROCEDURE
        assert not visit.test_orders.exists()

    @rule(order=orders, tell_by=st.sampled_from(["call", "email", ""]))
    def review(self, order, tell_by):
        before = self._fresh(order).status
        seen = self._latest(order)
        if before == S.FINAL:
            self._review(order, seen=seen, tell_by=tell_by)
            assert self._fresh(order).status == S.REVIEWED
        else:
            with pytest.raises(ValidationError):
                self._review(order, seen=seen)
        self._changed()

    @rule(order=orders)
    def patient_told(self, order):
        before = self._fresh(order).status
        seen = self._latest(order)
        if before == S.REVIEWED:
            self._tell(order, seen=seen)
            after = self._fresh(order)
            assert after.status == S.COMMUNICATED and not after.tell_again
        else:
            with pytest.raises(ValidationError):
                self._tell(order, seen=seen)
        self._changed()

    @rule(order=orders, then=st.sampled_from(["review", "tell"]))
    def stale_page(self, order, then):
        """A physician opens the order's page; a colleague logs a corrected result (and,
        before a telling, reviews it); the page is then submitted as it was. Refused,
        and nothing changes (invariant 34, QA pass 1 #1)."""
        if self._fresh(order).status == S.CANCELLED:
            return
        opened = self._latest(order)  # whatever stood: a result before the review, or none
        self._result(order, is_final=True)  # the colleague's amendment
        if then == "tell":
            self._review(order, seen=self._latest(order))
        middle = self._fresh(order)
        with pytest.raises(ValidationError, match="The result changed since you opened"):
            if then == "review":
                self._review(order, seen=opened)
            else:
                self._tell(order, seen=opened)
        after = self._fresh(order)
        assert (after.status, after.reviewed_at, after.communicated_at) == (
            middle.status,
            middle.reviewed_at,
            middle.communicated_at,
        )
        self._changed()

    @rule(order=orders, reason=st.sampled_from(REASONS))
    def cancel(self, order, reason):
        before = self._fresh(order).status
        if before in TestOrder.PENDING_STATUSES:
            result_flows.order_cancel(order_id=order.pk, reason=reason, by=self.physician)
            assert self._fresh(order).status == S.CANCELLED
        else:
            with pytest.raises(ValidationError):
                result_flows.order_cancel(order_id=order.pk, reason=reason, by=self.physician)
        self._changed()

    @rule(target=orders, order=orders, reason=st.sampled_from(REASONS), recollect=st.booleans())
    def replace(self, order, reason, recollect):
        before = self._fresh(order).status
        if before not in TestOrder.PENDING_STATUSES:
            with pytest.raises(ValidationError):
                result_flows.order_replace(order_id=order.pk, reason=reason, by=self.physician)
            return _multiple(None)
        new = result_flows.order_replace(
            order_id=order.pk, reason=reason, recollect=recollect, by=self.physician
        )
        assert new.replaces_id == order.pk and new.expected_by >= clinic_today()
        self._changed()
        return _multiple(None, new)

    # --- rules: time -----------------------------------------------------------------

    @rule(hours=st.sampled_from([1, 6, 20, 49, 97, 24 * 8, 24 * 15]))
    def time_passes(self, hours):
        """Time passes; the escalation job runs (as beat would, every few minutes)."""
        self.now += dt.timedelta(hours=hours)
        self.traveller.move_to(self.now)
        escalations_run(now=self.now)
        self.settled = True

    # --- invariants ------------------------------------------------------------------

    @invariant()
    def every_late_step_has_its_current_escalation(self):
        if not self.settled:
            return  # something changed since the last run: the next run owes it
        for level in ResultEscalation.Level.values:
            for order in late_orders(level, self.now):
                assert ResultEscalation.objects.filter(
                    order=order, level=level, episode=order.episode
                ).exists(), (order.pk, order.status, level, order.episode)

    @invariant()
    def nothing_escalated_twice_per_episode(self):
        twice = (
            ResultEscalation.objects.values("order", "level", "episode")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
        )
        assert not twice.exists()
        for row in ResultEscalation.objects.filter(repeats__gt=0):
            # A repeat digest at most every RESULTS_REPEAT_DIGEST_DAYS.
            assert row.repeats <= (self.now - row.created_at).days // 2

    @invariant()
    def every_visit_not_ended_is_flagged(self):
        stuck = Appointment.objects.filter(
            status__in=NOT_ENDED, start_at__lt=clinic_datetime(clinic_today(), dt.time(0, 0))
        )
        assert set(stuck) == set(visits_not_ended(day=clinic_today()))

    @invariant()
    def a_review_or_a_telling_is_of_the_result_the_physician_saw(self):
        """Invariant 34: an order reviewed (or told) stands on the result that was on
        the page when its review (or telling) was submitted, which is still its latest."""
        for order in TestOrder.objects.filter(status__in=[S.REVIEWED, S.COMMUNICATED]):
            latest = self._latest(order)
            assert self.reviewed_seen.get(order.pk) == latest, order.pk
            if order.status == S.COMMUNICATED:
                assert self.told_seen.get(order.pk) == latest, order.pk

    @invariant()
    def told_again_only_until_told(self):
        assert not TestOrder.objects.filter(status=S.COMMUNICATED, tell_again=True).exists()
        for order in TestOrder.objects.filter(status=S.CANCELLED):
            assert order.cancel_reason in REASONS

    @invariant()
    def collected_on_the_visits_day_and_no_call_left_for_a_closed_order(self):
        """No order was collected before its visit's day at its site; no call about a
        result stays open once the patient was told or the order was cancelled
        (invariant 29)."""
        for order in TestOrder.objects.filter(collected_at__isnull=False).select_related(
            "appointment", "site"
        ):
            visit_day = order.appointment.start_at.astimezone(order.site.tz).date()
            assert order.collected_at.astimezone(order.site.tz).date() >= visit_day, order.pk
        assert not CallTask.objects.filter(
            reason=CallTask.Reason.RESULTS_CALL,
            status=CallTask.Status.OPEN,
            order__status__in=[S.COMMUNICATED, S.CANCELLED],
        ).exists()

    # --- the end: everything can close ----------------------------------------------

    def _everything_ends(self):
        """Every visit ends and every result reaches "told" or an explicit close (a
        cancellation with its reason), by legal moves only, from whatever state."""
        for visit in Appointment.objects.filter(status__in=NOT_ENDED):
            sample = svc.Sample(
                test_types=[], collected_at=self.now, no_sample_reason=NoSampleReason.ABANDONED
            )
            visits.procedure_complete(appointment_id=visit.pk, sample=sample, by=self.physician)
        assert not Appointment.objects.filter(status__in=NOT_ENDED).exists()
        for order in TestOrder.objects.exclude(status__in=TestOrder.CLOSED_STATUSES):
            status = order.status
            if status in TestOrder.PENDING_STATUSES:
                self._result(order, is_final=True)
                status = S.FINAL
            if status == S.FINAL:
                # The physician calls: telling the patient must close the call.
                self._review(order, seen=self._latest(order), tell_by="call")
            self._tell(order, seen=self._latest(order), how="letter")
        assert not CallTask.objects.filter(
            reason=CallTask.Reason.RESULTS_CALL, status=CallTask.Status.OPEN
        ).exists()
        open_orders = TestOrder.objects.exclude(status__in=TestOrder.CLOSED_STATUSES)
        assert not open_orders.exists()
        assert not TestOrder.objects.filter(tell_again=True).exists()


def _multiple(visit, *extra):
    """The orders a rule made, for the orders bundle (none is fine)."""
    made = list(visit.test_orders.all()) if visit is not None else []
    return multiple(*made, *extra)


RUN = hypothesis_settings(
    max_examples=400 if SOAK else 12,
    stateful_step_count=40 if SOAK else 18,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=not SOAK,
)


@pytest.mark.django_db
def test_the_results_loop_closes_on_every_path(settings_override):
    run_state_machine_as_test(ResultsLoop, settings=RUN)


@pytest.fixture
def settings_override(settings):
    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.example"]
    settings.RESULTS_DIGEST_HOUR = 0  # overdue levels at any hour: the machine's time jumps
    settings.RESULTS_REPEAT_DIGEST_DAYS = 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings
