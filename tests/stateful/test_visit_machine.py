"""A whole visit, tried every which way: a Hypothesis state machine over the services
(procedures/workflows and the concern services) with the clock under time_machine.

Rules book, move, cancel, mark no-shows, change sedation, decide and confirm medicine
stops, confirm escorts (staff and the patient's link), check in, tick the checklist,
start, complete with tests, log results (preliminary, final, amended), review (email or
call), record the patient told, change the patient's email, change a physician's hours
(confirming the listed visits or not), let time pass with the
dispatcher and the escalation job, and make the SMTP server refuse for a while. After
every step it checks every invariant of docs/invariants.md ("Prep and patient messages").
Two sites in two zones (Europe/London with England's holidays, America/New_York with the
US's): bookings are typed on each room's site's clock, and the hours, the day-before
reminder and `expected_by` are checked on the visit's own site's (invariant 19).

Bounded in `make test`; CLINIC_SOAK=1 runs it long (README, "Soak runs"). A failure it
finds becomes a named regression test (procedures/workflows/tests/test_patient_safety.py).
"""

import datetime as dt
import os
import smtplib
from decimal import Decimal
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from patients import services as patient_services
from patients.medications import medication_add
from patients.models import BloodResult, Medication
from patients.tests.factories import PatientFactory
from procedures.catalog.choices import ProcedureKind, ProcedureSide, ProcedureSite, SedationLevel
from procedures.catalog.clock import clinic_datetime, closed_days
from procedures.catalog.resources import Provider, Room
from procedures.catalog.sites import at_site, default_site
from procedures.messaging import links
from procedures.messaging.calls import CallClock
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.kinds import (
    BEFORE_VISIT_KINDS,
    FIRST_KINDS,
    NON_ESSENTIAL_KINDS,
    NOT_ABOUT_THE_VISIT_KINDS,
    evening_before,
)
from procedures.messaging.models import CallTask, Reminder
from procedures.prep import rules as prep_rules
from procedures.prep.checklist import START_NOT_READY, checklist_items, checklist_tick, readiness
from procedures.prep.facts import PrepFacts, local_date
from procedures.prep.fasting import FAST_BEGUN_EVENT
from procedures.prep.models import ChecklistItem, MedicationHold, PrepPlan
from procedures.prep.timeline import fast_begins, prep_timeline
from procedures.reports.rollup import roll_due
from procedures.reports.scope import ReportScope
from procedures.reports.tests.figures import agrees
from procedures.results import escalations, orders
from procedures.results.models import ResultEscalation, TestOrder
from procedures.scheduling import hours_admin, lifecycle
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.slots import availability_load
from procedures.tests.factories import (
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    SiteFactory,
    TestTypeFactory,
)
from procedures.today import board, paging
from procedures.workflows import prep_changes, visits
from procedures.workflows import results as results_flow

SOAK = os.environ.get("CLINIC_SOAK") == "1"
START = clinic_datetime(dt.date(2027, 3, 1), dt.time(8, 0))  # Monday 1 March 2027
S, K = Reminder.Status, Reminder.Kind
A = Appointment.Status
STAFF_NOTES = ("Hold plan not confirmed.", "the front desk is flagged")
UNDER_WAY = (A.CHECKED_IN, A.IN_PROCEDURE, A.COMPLETED)

pytestmark = pytest.mark.django_db


class FlakyBackend(EmailBackend):
    """Django's in-memory backend, and an SMTP server that refuses when told to."""

    refusing: int | None = None  # an SMTP code: 451 (try later) or 550 (never)

    def send_messages(self, messages):
        if FlakyBackend.refusing:
            raise smtplib.SMTPDataError(FlakyBackend.refusing, b"refused")
        return super().send_messages(messages)


class VisitMachine(RuleBasedStateMachine):
    """One clinic, two patients, their visits and results; the real services."""

    visits = Bundle("visits")
    orders = Bundle("orders")

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.clock = CLOCK
        self.clock.move_to(START, tick=False)
        self.now = START
        # Every move that succeeded: visit -> [(version moved from, old start, new start)].
        self.moves: dict[int, list[tuple[int, dt.datetime, dt.datetime]]] = {}
        FlakyBackend.refusing = None
        mail.outbox = []
        self.seen_sent: set[int] = set()
        medicated = PatientFactory(email="ana@example.com")
        medication_add(
            patient=medicated,
            name="Warfarin",
            dose="3 mg daily",
            med_class=Medication.Class.ANTICOAGULANT,
        )
        # Two general prep steps (the medicine list, a blood test) that fall due together
        # when a visit is booked within three days.
        self.patients = [
            medicated,
            PatientFactory(email="ben@example.com", bleeding_disorder=True),
        ]
        # Visits an admin confirmed leaving outside hours (the hours page's warning).
        self.confirmed_outside: set[int] = set()
        # Whether each started visit was READY when it started (invariant 27).
        self.started_ready: dict[int, bool] = {}

    def teardown(self):
        FlakyBackend.refusing = None
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ----------------------------------------------------------------------

    def _try(self, service, /, **kwargs):
        """Run a service; a refusal in words is a legitimate outcome, never a crash."""
        try:
            with transaction.atomic():
                return service(**kwargs)
        except ValidationError:
            return None

    def _slot(self, days: int, hour: int, tz: ZoneInfo) -> dt.datetime:
        """`hour` o'clock `days` days from today, on the wall clock of `tz` (a room's
        site: the two sites are in two zones, invariant 19)."""
        day = self.now.astimezone(tz).date() + dt.timedelta(days=days)
        return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=tz)

    def _day_before_on_its_sites_clock(self, visit: int) -> None:
        """Just planned, a visit's day-before reminder is due at 10:00 the day before on
        its own site's clock, whichever zone the other site is in (invariant 19)."""
        appointment = Appointment.objects.select_related("room__site").get(pk=visit)
        tz = appointment.site_tz
        start = appointment.start_at.astimezone(tz)
        for row in appointment.reminders.filter(
            kind=K.DAY_BEFORE, status=S.PENDING, appointment_version=appointment.version
        ):
            due = row.due_at.astimezone(tz)
            assert (due.date(), due.time()) == (
                start.date() - dt.timedelta(days=1),
                dt.time(10, 0),
            ), (row, tz)

    # --- rules ------------------------------------------------------------------------

    @rule(
        target=visits,
        who=st.integers(0, 1),
        days=st.integers(0, 9),
        hour=st.integers(8, 16),
        sedated=st.booleans(),
        where=st.integers(0, 1),
        answered=st.booleans(),
    )
    def book(self, who, days, hour, sedated, where, answered=False):
        """`answered`: the patient said they have not eaten since the fast began, when
        it has (asked otherwise, and nothing booked: invariant 23)."""
        start = self._slot(days, hour, ROOMS[where].site.tz)
        appointment = self._try(
            visits.appointment_book,
            patient=self.patients[who],
            procedure_type=PROCEDURE,
            provider=PROVIDERS[days % 2],
            room=ROOMS[where],  # issue 18: a room at the other site is refused
            start_at=start,
            end_at=start + dt.timedelta(minutes=45),
            sedation_level=SedationLevel.IV_MODERATE if sedated else SedationLevel.LOCAL,
            by=USERS["frontdesk"],
            fast_begun_confirmed=answered,
        )
        if appointment:
            self._day_before_on_its_sites_clock(appointment.pk)
        return appointment.pk if appointment else None

    @rule(target=visits, who=st.integers(0, 1), where=st.integers(0, 1))
    def book_late_in_the_evening(self, who, where):
        """The front desk books at 21:30 on the site's clock, sedated, for 09:00 the next
        morning: fasting starts at 03:00, before the send window opens (invariant 22)."""
        tz = ROOMS[where].site.tz
        evening = dt.datetime.combine(self.now.astimezone(tz).date(), dt.time(21, 30), tzinfo=tz)
        if evening <= self.now:
            evening += dt.timedelta(days=1)
        self.time_passes(int((evening - self.now).total_seconds() // 60))
        return self.book(who=who, days=1, hour=9, sedated=True, where=where)

    @rule(target=visits, who=st.integers(0, 1), where=st.integers(0, 1), answered=st.booleans())
    def book_the_same_morning(self, who, where, answered):
        """At 07:00 on the site's clock, sedated for 11:00 that day: the fast began at
        05:00, so the front desk asks the patient first (invariant 23)."""
        tz = ROOMS[where].site.tz
        morning = dt.datetime.combine(self.now.astimezone(tz).date(), dt.time(7, 0), tzinfo=tz)
        if morning <= self.now:
            morning += dt.timedelta(days=1)
        self.time_passes(int((morning - self.now).total_seconds() // 60))
        return self.book(who=who, days=0, hour=11, sedated=True, where=where, answered=answered)

    @rule(
        visit=visits,
        days=st.integers(0, 9),
        hour=st.integers(8, 16),
        where=st.sampled_from([None, 0, 1]),
        answered=st.booleans(),
    )
    def reschedule(self, visit, days, hour, where, answered=False):
        """To another time, or (`where`) into a site's room with the physician who works
        there: the visit moves site, and its clock with it (invariants 19 and 20)."""
        if visit:
            moving = {} if where is None else {"provider": PROVIDERS[where], "room": ROOMS[where]}
            tz = ROOMS[where].site.tz if moving else Appointment.objects.get(pk=visit).site_tz
            start = self._slot(days, hour, tz)
            before = Appointment.objects.get(pk=visit)
            if self._try(
                visits.appointment_reschedule,
                appointment_id=visit,
                start_at=start,
                end_at=start + dt.timedelta(minutes=45),
                by=USERS["frontdesk"],
                fast_begun_confirmed=answered,
                **moving,
            ):
                self.moves.setdefault(visit, []).append(
                    (before.version, before.start_at, Appointment.objects.get(pk=visit).start_at)
                )
                self._day_before_on_its_sites_clock(visit)

    @rule(visit=visits, days=st.integers(1, 9), hour=st.integers(9, 15))
    def move_to_the_other_site(self, visit, days, hour):
        """Rescheduled into the other site's room with the physician who works there:
        the visit and all its emails, sent ones too, change site (invariants 20, 21).
        (A rule of its own: `reschedule` picks a site at random, and in the bounded run
        seldom the other one.)"""
        if visit:
            here = Appointment.objects.get(pk=visit).room_id
            self.reschedule(visit, days, hour, where=1 - [r.pk for r in ROOMS].index(here))

    @rule(visit=visits)
    def cancel(self, visit):
        if visit:
            self._try(
                visits.appointment_cancel,
                appointment_id=visit,
                by=USERS["frontdesk"],
                reason_code="patient_request",
            )

    @rule(visit=visits)
    def no_show(self, visit):
        if visit:
            self._try(visits.appointment_no_show, appointment_id=visit, by=USERS["frontdesk"])

    @rule()
    def no_show_recorded_days_later(self):
        """Two days after the earliest visit still booked, with its day counted into the
        reports' roll-up, the front desk records that the patient never came."""
        visit = (
            Appointment.objects.filter(status__in=(A.SCHEDULED, A.CONFIRMED))
            .order_by("start_at")
            .first()
        )
        if visit is None:
            return
        later = visit.start_at + dt.timedelta(days=2)
        if later > self.now:
            self.time_passes(minutes=int((later - self.now).total_seconds() // 60) + 1)
        self._try(visits.appointment_no_show, appointment_id=visit.pk, by=USERS["frontdesk"])

    @rule(visit=visits, level=st.sampled_from([SedationLevel.LOCAL, SedationLevel.IV_MODERATE]))
    def sedation_change(self, visit, level):
        if visit:
            self._try(
                prep_changes.sedation_plan_set,
                appointment_id=visit,
                sedation_level=level,
                food_fast_hours=6,
                clear_fluid_fast_hours=2,
                by=USERS["physician"],
            )

    @rule(visit=visits, days_before=st.one_of(st.none(), st.integers(-1, 7)))
    def medicine_decision(self, visit, days_before):
        """Stop warfarin N days before (at 20:00), or keep taking it (None)."""
        appointment = Appointment.objects.filter(pk=visit).first() if visit else None
        medicine = appointment and appointment.patient.medications.first()
        if not medicine:
            return
        tz = appointment.site_tz
        day = appointment.start_at.astimezone(tz).date()
        stop_at, action = None, MedicationHold.Action.CONTINUE
        if days_before is not None:
            action = MedicationHold.Action.STOP
            stop_at = dt.datetime.combine(
                day - dt.timedelta(days=days_before), dt.time(20, 0), tzinfo=tz
            )
        self._try(
            prep_changes.medication_hold_set,
            appointment_id=visit,
            medication_id=medicine.pk,
            action=action,
            stop_at=stop_at,
            by=USERS["physician"],
        )

    @rule(visit=visits)
    def confirm_plan(self, visit):
        if visit:
            self._try(prep_changes.hold_plan_confirm, appointment_id=visit, by=USERS["physician"])

    @rule(visit=visits)
    def escort_by_staff(self, visit):
        if visit:
            self._try(
                prep_changes.escort_confirm,
                appointment_id=visit,
                name="Ana Lopez",
                phone="07700 900123",
                by=USERS["frontdesk"],
            )

    @rule(visit=visits)
    def escort_by_link(self, visit):
        appointment = Appointment.objects.filter(pk=visit).first() if visit else None
        if appointment is None:
            return
        token = links.link_token(appointment=appointment, purpose="escort")
        grant = links.link_read(purpose="escort", token=token)
        if grant:
            self._try(links.link_confirm_escort, grant=grant, name="Bo Li", phone="07700 900456")

    @rule(visit=visits, confirmed=st.booleans(), by_mistake=st.booleans())
    def check_in(self, visit, confirmed, by_mistake):
        """Checked in, from confirmed or from scheduled; or the wrong patient checked in
        and taken back at once (invariant 33), to be checked in for real later."""
        if not visit:
            return
        if confirmed:
            self._try(lifecycle.appointment_confirm, appointment_id=visit, by=USERS["frontdesk"])
        nurse = USERS["nurse"]
        checked_in = self._try(lifecycle.appointment_check_in, appointment_id=visit, by=nurse)
        if checked_in and by_mistake:
            self._try(lifecycle.appointment_check_in_undo, appointment_id=visit, by=nurse)

    @rule(visit=visits)
    def undo_check_in(self, visit):
        """A check-in taken back later, whatever happened since (refused once started)."""
        if visit:
            self._try(lifecycle.appointment_check_in_undo, appointment_id=visit, by=USERS["nurse"])

    @rule(visit=visits)
    def checklist_ticks(self, visit):
        appointment = Appointment.objects.filter(pk=visit).first() if visit else None
        if appointment is None:
            return
        self._try(
            prep_rules.procedure_site_set,
            appointment_id=visit,
            site=ProcedureSite.POSTERIOR_ILIAC,
            side=ProcedureSide.RIGHT,
            by=USERS["physician"],
        )
        for item in checklist_items(appointment):
            self._try(checklist_tick, appointment_id=visit, item=item, by=USERS["nurse"])

    @rule(who=st.integers(0, 1), platelets=st.sampled_from([None, 30, 180]), high_inr=st.booleans())
    def bloods_taken(self, who, platelets, high_inr):
        """Platelets and INR recorded today (in the clinic's range or not): the warfarin
        and the bleeding-disorder patient both need them before the needle."""
        BloodResult.objects.create(
            patient=self.patients[who],
            taken_on=self.now.astimezone(timezone.get_default_timezone()).date(),
            platelets=platelets,
            inr=Decimal("3.5") if high_inr else Decimal("1.1"),
        )

    @rule(visit=visits, reason=st.sampled_from(["", "x", "Checked by the team."]))
    def start(self, visit, reason):
        """With no reason, one too short to be one ("x"), or a real one."""
        if not visit:
            return
        before = readiness(Appointment.objects.get(pk=visit))
        if self._try(
            visits.appointment_start, appointment_id=visit, by=USERS["physician"], reason=reason
        ):
            # Started: nothing stopped it, and a reason was given for what was missing.
            assert not before.hard_stops, before.hard_stops
            self.started_ready[visit] = before.ready
            if not before.ready:
                assert reason == "Checked by the team.", before.missing

    @rule(target=orders, visit=visits, karyotype=st.booleans())
    def complete_with_tests(self, visit, karyotype):
        if not visit:
            return None
        tests = [MORPHOLOGY, KARYOTYPE] if karyotype else [MORPHOLOGY]
        done = self._try(
            visits.procedure_complete,
            appointment_id=visit,
            sample=orders.Sample(test_types=tests, collected_at=self.now),
            by=USERS["physician"],
        )
        if done is None:
            return None
        return list(TestOrder.objects.filter(appointment_id=visit).values_list("pk", flat=True))

    @rule(
        order_ids=orders,
        which=st.integers(0, 1),
        final=st.booleans(),
        abnormal=st.booleans(),
    )
    def result_in(self, order_ids, which, final, abnormal):
        if order_ids:
            self._try(
                orders.result_log,
                order_id=order_ids[which % len(order_ids)],
                interpretation="abnormal" if abnormal else "normal",
                report_text="Report.",
                is_final=final,
                by=USERS["physician"],
            )

    @rule(order_ids=orders, which=st.integers(0, 1), tell_by=st.sampled_from(["", "email", "call"]))
    def review(self, order_ids, which, tell_by):
        if order_ids:
            self._try(
                results_flow.result_review,
                order_id=order_ids[which % len(order_ids)],
                action_planned="Discuss at clinic.",
                by=USERS["physician"],
                tell_by=tell_by,
            )

    @rule(order_ids=orders, which=st.integers(0, 1))
    def patient_told(self, order_ids, which):
        if order_ids:
            self._try(
                orders.result_communicate,
                order_id=order_ids[which % len(order_ids)],
                how="phone",
                at=self.now,
                by=USERS["physician"],
            )

    @rule(who=st.integers(0, 1), has_email=st.booleans())
    def contact_change(self, who, has_email):
        patient = type(self.patients[who]).objects.get(pk=self.patients[who].pk)
        patient.email = f"p{who}@example.com" if has_email else ""
        patient_services.patient_update(patient=patient)

    @rule(code=st.sampled_from([None, None, 451, 550]))
    def smtp_refusing(self, code):
        FlakyBackend.refusing = code

    @rule(
        visit=visits,
        shape=st.sampled_from([None, "afternoons", "mornings", "with_sunday"]),
        confirm=st.booleans(),
    )
    def hours_change(self, visit, shape, confirm):
        """A clinic admin changes the hours of a visit's physician; confirms the listed
        visits or not."""
        if not visit:
            return
        provider = Appointment.objects.get(pk=visit).provider
        t = dt.time
        weekly = {
            None: None,
            "afternoons": {d: [(t(13), t(18))] for d in range(5)},
            "mornings": {d: [(t(8), t(13))] for d in range(5)},
            "with_sunday": {**{d: [(t(8), t(18))] for d in range(5)}, 6: [(t(9), t(12))]},
        }[shape]
        resource = hours_admin.Resource("provider", provider)
        listed = [a.appointment.pk for a in hours_admin.affected_visits(resource, weekly=weekly)]
        confirmed = listed if confirm else []
        before = hours_admin.weekly_of(resource)
        try:
            with transaction.atomic():
                hours_admin.hours_set(
                    resource=resource, weekly=weekly, confirmed=confirmed, by=USERS["admin"]
                )
        except hours_admin.HoursNeedConfirmation:
            assert listed and not confirm
            assert hours_admin.weekly_of(resource) == before  # nothing saved
        # Only what the admin confirmed may sit outside hours from now on.
        self.confirmed_outside |= set(confirmed)

    @rule(visit=visits)
    def the_visits_day_comes(self, visit):
        """The clock goes to 07:30 on a booked visit's own day (its site's clock), every
        email due on the way sent: the day's steps (check in, its undo, the checklist,
        start, complete) meet visits on their day, not only the ones booked that morning."""
        appointment = Appointment.objects.filter(pk=visit).first() if visit else None
        if appointment is None:
            return
        tz = appointment.site_tz
        morning = dt.datetime.combine(
            appointment.start_at.astimezone(tz).date(), dt.time(7, 30), tzinfo=tz
        )
        if morning > self.now:
            self.time_passes(int((morning - self.now).total_seconds() // 60))

    @rule(minutes=st.sampled_from([1, 10, 60, 6 * 60, 24 * 60, 3 * 24 * 60]))
    def time_passes(self, minutes):
        self.now = self.now + dt.timedelta(minutes=minutes)
        self.clock.move_to(self.now, tick=False)
        before = self._states()
        already = len(mail.outbox)
        reminders_dispatch()
        self._check_new_sends(before)
        self._check_no_twins(mail.outbox[already:])
        escalations.escalations_run(now=self.now)
        for level in ResultEscalation.Level.values:
            assert not escalations._due_orders(level, self.now).exists(), level
        roll_due(now=self.now)  # the hourly roll-up of the reports' days that are over

    # --- what sending checks ----------------------------------------------------------

    def _states(self) -> dict[int, tuple]:
        return {
            pk: (status, version, confirmed)
            for pk, status, version, confirmed in Appointment.objects.values_list(
                "pk", "status", "version", "escort_confirmed_at"
            )
        }

    def _check_new_sends(self, before: dict[int, tuple]) -> None:
        """Each email that went out in this run was still wanted when it went."""
        sent = Reminder.objects.filter(status=S.SENT).exclude(pk__in=self.seen_sent)
        for row in sent.select_related("appointment"):
            self.seen_sent.add(row.pk)
            status, version, escort_confirmed = before[row.appointment_id]
            if row.kind in BEFORE_VISIT_KINDS:
                # Nothing about prep or arrival once under way, released or moved.
                assert status not in (*UNDER_WAY, A.CANCELLED, A.NO_SHOW), (row, status)
                assert row.appointment_version == version, row
                assert row.sent_at < row.appointment.start_at, row
            if row.kind == K.ESCORT_REQUEST:
                assert escort_confirmed is None, row
            if row.kind == K.MEDICATION_HOLD:
                assert row.step_at < row.appointment.start_at, row
                assert row.step_at >= row.sent_at - dt.timedelta(hours=2), row
            if row.kind not in FIRST_KINDS and row.kind not in (K.CANCELLATION, K.RESULTS_READY):
                # Nothing before "your appointment is booked" (or "new time").
                assert not Reminder.objects.filter(
                    appointment_id=row.appointment_id,
                    appointment_version=row.appointment_version,
                    kind__in=FIRST_KINDS,
                    status__in=[S.PENDING, S.SENDING],
                ).exists(), row
            if row.kind == K.RESULTS_READY:
                assert not CallTask.objects.filter(
                    appointment_id=row.appointment_id,
                    reason=CallTask.Reason.RESULTS_CALL,
                    status=CallTask.Status.OPEN,
                ).exists(), row

    def _check_no_twins(self, messages) -> None:
        """No patient gets two emails of one run that read word for word alike: prep
        steps due at once, for a patient who gets no details by email, go as one
        (invariant 26)."""
        words = [
            (tuple(m.to), m.subject, m.body, tuple(str(c) for c, _t in m.alternatives))
            for m in messages
            if not m.attachments
        ]
        assert len(words) == len(set(words)), [m.subject for m in messages]

    # --- invariants (after every step) ----------------------------------------------

    @invariant()
    def no_stop_at_or_after_the_start(self):
        for appointment in Appointment.objects.active().exclude(status=A.COMPLETED):
            for step in prep_timeline(appointment):
                if step.kind == "medication_hold" and step.detail:
                    assert step.at < appointment.start_at, (appointment, step)
                # Patients see patient text only.
                assert not any(note in f"{step.text} {step.detail}" for note in STAFF_NOTES)
        assert not Reminder.objects.filter(
            kind=K.MEDICATION_HOLD, status=S.PENDING, step_at__gte=F("appointment__start_at")
        ).exists()

    @invariant()
    def no_stop_emailed_for_a_time_the_visit_no_longer_has(self):
        """A stop emailed for a visit's old time is withdrawn by the first move that
        leaves it standing for no time the visit has (another day, or the stop at or
        after the new start): that move's version carries the front-desk call, and so
        its "new time" email says so (invariant 28)."""
        sent = Reminder.objects.filter(kind=K.MEDICATION_HOLD, status__in=[S.SENT, S.SENDING])
        for row in sent:
            for version, old_start, new_start in self.moves.get(row.appointment_id, []):
                if version < row.appointment_version:
                    continue
                void = row.step_at is None or row.step_at >= new_start
                if void or local_date(old_start) != local_date(new_start):
                    assert CallTask.objects.filter(
                        appointment_id=row.appointment_id,
                        reason=CallTask.Reason.STOP_WITHDRAWN,
                        appointment_version=version + 1,
                    ).exists(), (row.appointment_id, row.step_at, old_start, new_start)
                    break

    @invariant()
    def an_undone_check_in_returns_the_visit_to_where_it_was(self):
        """Each "check-in undone" line returns the visit to the status it had before its
        check-in, and only a checked-in visit is taken back (invariant 33)."""
        last_check_in: dict[int, str] = {}
        for event in AppointmentEvent.objects.filter(
            kind__in=["checked_in", "check_in_undone"]
        ).order_by("appointment_id", "at", "pk"):
            if event.kind == "checked_in":
                last_check_in[event.appointment_id] = event.from_status
                continue
            assert event.from_status == Appointment.Status.CHECKED_IN, event
            assert event.to_status == last_check_in.get(event.appointment_id), event

    @invariant()
    def a_dated_prep_email_comes_before_its_step(self):
        """Fasting or a medicine to stop: the email is due by the step's time (quiet
        hours move it to the evening before, or to at once), never after the fast has
        begun, unless it was planned after that time or is a retry (invariant 22)."""
        late = Reminder.objects.filter(
            status=S.PENDING,
            attempts=0,
            kind__in=[K.FASTING, K.MEDICATION_HOLD],
            step_at__isnull=False,
            due_at__gt=F("step_at"),
            created_at__lt=F("step_at"),
        )
        assert not late.exists(), list(late.values("kind", "due_at", "step_at", "created_at"))
        # A fast is told the evening before the visit, not when it begins (an afternoon
        # visit's fast begins at breakfast), unless planned after that evening.
        for row in Reminder.objects.filter(
            status=S.PENDING, attempts=0, kind=K.FASTING
        ).select_related("appointment__room__site"):
            evening = evening_before(row.appointment)
            assert row.due_at <= max(evening, row.created_at), (row.due_at, evening)

    @invariant()
    def a_visit_set_after_its_fast_began_carries_the_patients_answer(self):
        """Booked or moved to a time whose fast had already begun: the front desk asked
        the patient, and the answer is on the visit's timeline from that moment; unless a
        physician set the sedation or the fasting hours since (invariant 23)."""
        for appointment in Appointment.objects.select_related("procedure_type", "room__site"):
            begins = fast_begins(appointment)
            set_at = PrepFacts(appointment).time_set_at
            if begins is None or begins > set_at:
                continue
            sedated_at = (
                PrepPlan.objects.filter(appointment=appointment)
                .values_list("sedation_set_at", flat=True)
                .first()
            )
            if sedated_at is not None and sedated_at >= set_at:
                continue
            assert appointment.events.filter(kind=FAST_BEGUN_EVENT, at__gte=set_at).exists(), (
                appointment,
                begins,
                set_at,
            )

    @invariant()
    def nothing_planned_for_a_visit_that_is_over(self):
        assert not Reminder.objects.filter(
            status=S.PENDING,
            kind__in=BEFORE_VISIT_KINDS,
            appointment__status__in=[A.CANCELLED, A.NO_SHOW, A.COMPLETED, A.IN_PROCEDURE],
        ).exists()
        assert (
            not Reminder.objects.filter(status=S.PENDING, kind__in=BEFORE_VISIT_KINDS)
            .exclude(appointment_version=F("appointment__version"))
            .exists()
        )

    @invariant()
    def a_request_is_withdrawn_when_done(self):
        assert not Reminder.objects.filter(
            kind=K.ESCORT_REQUEST,
            status=S.PENDING,
            appointment__escort_confirmed_at__isnull=False,
        ).exists()

    @invariant()
    def every_row_not_sent_says_why(self):
        assert not Reminder.objects.filter(
            status__in=[S.CANCELLED, S.SKIPPED], skip_reason=""
        ).exists()

    @invariant()
    def nothing_planned_is_dropped_without_a_call(self):
        no_email = Reminder.objects.filter(
            appointment__status__in=[A.SCHEDULED, A.CONFIRMED],
            appointment_version=F("appointment__version"),
        ).exclude(kind__in=NON_ESSENTIAL_KINDS)
        for patient in self.patients:
            patient.refresh_from_db()
            if not patient.can_receive_email:
                assert not no_email.filter(appointment__patient=patient, status=S.PENDING).exists()
        for row in no_email.filter(status=S.SKIPPED, skip_reason__startswith="no email"):
            assert row.call_tasks.exists(), row
        for row in Reminder.objects.filter(status=S.FAILED):
            assert row.call_tasks.filter(reason=CallTask.Reason.EMAIL_FAILED).exists(), row

    @invariant()
    def calls_fall_due_on_working_days_and_close_with_their_visit(self):
        """An open call standing in for an email the patient cannot get is due on a
        working day of its visit's site; no call is due before the minute it was made;
        no open call is about a visit cancelled or missed, except about the
        cancellation itself or a result (docs/invariants.md, 30)."""
        open_calls = CallTask.objects.filter(status=CallTask.Status.OPEN).select_related(
            "appointment__site"
        )
        for call in open_calls:
            assert call.due_at >= call.created_at - dt.timedelta(minutes=1), call
            if call.reason == CallTask.Reason.NO_EMAIL:
                day = call.due_at.astimezone(call.appointment.site.tz).date()
                assert CallClock(call.appointment).works(day), (call, day)
            if call.appointment.status in (A.CANCELLED, A.NO_SHOW):
                assert (
                    call.reason == CallTask.Reason.RESULTS_CALL
                    or call.reminder_kind in NOT_ABOUT_THE_VISIT_KINDS
                ), call

    @invariant()
    def nothing_is_sent_twice(self):
        ids = [message.extra_headers.get("Message-ID") for message in mail.outbox]
        assert len(ids) == len(set(ids))
        keys = list(
            Reminder.objects.filter(
                status=S.SENT, kind__in=[K.PREP_STEP, K.MEDICATION_HOLD]
            ).values_list("appointment_id", "kind", "step_text", "step_at", "step_detail")
        )
        prep_steps = [(a, t, d) for a, k, t, _at, d in keys if k == K.PREP_STEP]
        assert len(prep_steps) == len(set(prep_steps))
        assert len(keys) == len(set(keys))

    @invariant()
    def every_completed_procedure_has_owned_dated_orders(self):
        for order in TestOrder.objects.filter(appointment__status=A.COMPLETED).select_related(
            "site"
        ):
            assert order.responsible_id and order.expected_by
            day = order.expected_by
            # A working day of the order's own site: its public holidays and closures.
            assert day.weekday() < 5 and day not in closed_days(day, day, site=order.site), order

    @invariant()
    def no_visit_left_outside_hours_unconfirmed(self):
        """A saved hours change never leaves a booked visit outside its physician's hours
        without an admin having confirmed that visit (docs/invariants.md)."""
        booked = list(
            Appointment.objects.filter(
                status__in=[A.REQUESTED, A.SCHEDULED, A.CONFIRMED], start_at__gte=self.now
            ).select_related("room__site")
        )
        if not booked:
            return
        availability = availability_load(
            providers=PROVIDERS,
            rooms=[],
            first_day=min(v.start_at for v in booked).date() - dt.timedelta(days=1),
            last_day=max(v.end_at for v in booked).date() + dt.timedelta(days=1),
        )
        for visit in booked:
            # The physician's hours on the clock of the visit's site (invariant 19).
            with timezone.override(visit.site_tz):
                inside = availability.within_hours(
                    "provider", visit.provider_id, visit.start_at, visit.end_at
                )
            assert inside or visit.pk in self.confirmed_outside, visit

    @invariant()
    def nothing_inactive_has_visits_to_come(self):
        """Invariant 31: no visit to come with an inactive physician, room or site."""
        coming = (
            Appointment.objects.active()
            .filter(end_at__gt=timezone.now())
            .exclude(status=Appointment.Status.COMPLETED)
        )
        stranded = coming.filter(
            Q(provider__is_active=False) | Q(room__is_active=False) | Q(site__is_active=False)
        )
        assert not stranded.exists(), list(stranded.values_list("pk", flat=True))

    @invariant()
    def a_visits_room_and_physician_are_at_one_site(self):
        works_at: dict[int, set[int]] = {}
        for provider, site in Provider.sites.through.objects.values_list("provider", "site"):
            works_at.setdefault(provider, set()).add(site)
        # Cancelled visits and no-shows hold no place (the admin does not count them).
        for pk, room_site, provider in Appointment.objects.active().values_list(
            "pk", "room__site", "provider"
        ):
            sites = works_at.get(provider)
            assert not sites or room_site in sites, (pk, room_site, sites)

    @invariant()
    def an_orders_site_is_its_visits_rooms_site(self):
        """The site an order carries (what a site's worklist narrows by) is the site of
        its visit's room (docs/invariants.md, 18)."""
        out_of_step = TestOrder.objects.exclude(site=F("appointment__room__site"))
        assert not out_of_step.exists(), list(out_of_step.values_list("pk", "site"))

    @invariant()
    def a_visits_site_is_its_rooms_site(self):
        """The site a visit carries (what a site's day narrows by) is its room's site,
        after every booking and move (docs/invariants.md, 20)."""
        out_of_step = Appointment.objects.exclude(site=F("room__site"))
        assert not out_of_step.exists(), list(out_of_step.values_list("pk", "site", "room"))

    @invariant()
    def an_emails_site_is_its_visits_site(self):
        """The site a patient email carries (what a site's outbox narrows by) is its
        visit's, after every booking and every move between the two sites, sent emails
        included (docs/invariants.md, 21)."""
        out_of_step = Reminder.objects.exclude(site=F("appointment__site"))
        assert not out_of_step.exists(), list(out_of_step.values_list("pk", "site"))

    @invariant()
    def the_reports_read_the_same_rolled_up_or_live(self):
        """The dashboard's figures over the whole story, for the network (its zone) and
        for the New York site (its own), read from the daily roll-up where a day is in
        it: the same as counted live, whatever changed on a day after it was rolled up
        (docs/invariants.md, 24)."""
        start, end = START.date() - dt.timedelta(days=1), self.now.date() + dt.timedelta(days=14)
        agrees(ReportScope(start=start, end=end))
        north = ROOMS[1].site
        with timezone.override(north.tz):
            agrees(
                ReportScope(
                    start=start, end=end, rooms=Room.objects.filter(site=north), site_id=north.pk
                )
            )

    @invariant()
    def the_today_board_pages_every_visit_of_its_day_once_in_time_order(self):
        """Each day with visits, as the Today board reads it from the database (its
        length, its pages' ends, each page's visits and the page due now), for the
        network and for the New York site on its own clock: every visit not cancelled
        once, by time then booking, the same as reading the whole day (docs/invariants.md,
        25). Three a page, so that a day of a few visits has pages to get wrong, and a
        visit inside a page that is neither of its ends."""
        north = ROOMS[1].site
        with patch.object(paging, "PER_PAGE", 3):
            for site_id, zone in ((None, timezone.get_default_timezone()), (north.pk, north.tz)):
                with timezone.override(zone):
                    days = {
                        moment.astimezone(zone).date()
                        for moment in Appointment.objects.values_list("start_at", flat=True)
                    }
                    for day in days:
                        booked = at_site(board.day_appointments(day=day), site_id)
                        whole = list(booked.order_by("start_at", "pk"))
                        ends = paging.PageEnds(booked)
                        pager = Paginator(ends, 3)
                        read = [pk for n in pager.page_range for pk in pager.page(n).object_list]
                        assert read == [v.pk for v in whole], (day, site_id)
                        for number in pager.page_range:
                            page = Paginator(whole, 3).get_page(number)
                            assert paging.page_links(ends, pager.get_page(number)) == (
                                paging.page_links(whole, page)
                            )
                        assert paging.current_page(ends) == paging.current_page(whole)

    @invariant()
    def no_procedure_without_consent_and_site_and_every_unready_start_has_its_reason(self):
        """No visit is in procedure or completed without consent ticked and the site and
        side set and confirmed; every start while not ready carries a recorded reason
        (who, why, what was missing) on the prep page and the timeline (invariant 27)."""
        for visit in Appointment.objects.filter(status__in=[A.IN_PROCEDURE, A.COMPLETED]):
            ticks = set(visit.checklist_ticks.values_list("item", flat=True))
            assert {ChecklistItem.CONSENT, ChecklistItem.SITE_SIDE} <= ticks, visit
            assert PrepPlan.objects.get(appointment=visit).site, visit
            assert visit.events.filter(kind="started").exists(), visit
            overrides = visit.clinical_overrides.filter(rule=START_NOT_READY)
            reasons = visit.events.filter(kind=START_NOT_READY)
            if self.started_ready.get(visit.pk):
                assert not overrides.exists() and not reasons.exists(), visit
            else:
                [override] = overrides
                assert override.reason == "Checked by the team.", override
                assert override.missing, override  # kept whole, apart from the reason
                [event] = reasons
                assert event.note == (
                    f"Reason: Checked by the team. Missing: {override.missing}."
                ), event
                assert event.by == override.by == USERS["physician"]

    @invariant()
    def no_two_active_bookings_overlap(self):
        active = list(
            Appointment.objects.active().values_list(
                "provider", "room", "patient", "start_at", "end_at"
            )
        )
        for i, a in enumerate(active):
            for b in active[i + 1 :]:
                if a[3] < b[4] and b[3] < a[4]:
                    assert a[0] != b[0] and a[1] != b[1] and a[2] != b[2], (a, b)


CLOCK = None
PROCEDURE = MORPHOLOGY = KARYOTYPE = None
PROVIDERS: list = []
ROOMS: list = []
USERS: dict = {}


def test_a_visit_says_nothing_unsafe_whatever_happens(
    time_machine, settings_for_machine, frontdesk_user, physician_user, nurse_user, admin_user
):
    global CLOCK, PROCEDURE, MORPHOLOGY, KARYOTYPE
    CLOCK = time_machine
    time_machine.move_to(START, tick=False)
    PROCEDURE = ProcedureTypeFactory(kind=ProcedureKind.ASPIRATION_BIOPSY)
    # Two sites (issue 18): a room at each, one physician at each.
    # In two zones with their own public holidays (invariant 19).
    main = default_site()
    main.holidays_country, main.holidays_subdivision = "GB", "ENG"
    main.save()
    north = SiteFactory(code="north", time_zone="America/New_York", holidays_country="US")
    ROOMS[:] = [RoomFactory(site=main), RoomFactory(site=north)]
    PROVIDERS[:] = [ProviderFactory(), ProviderFactory()]
    PROVIDERS[0].sites.set([main])
    PROVIDERS[1].sites.set([north])
    MORPHOLOGY = TestTypeFactory(code="morphology", turnaround_target_days=2)
    KARYOTYPE = TestTypeFactory(
        code="karyotype", name="Karyotype", turnaround_target_days=10, turnaround_max_days=15
    )
    USERS.update(
        frontdesk=frontdesk_user, physician=physician_user, nurse=nurse_user, admin=admin_user
    )
    run_state_machine_as_test(
        VisitMachine,
        settings=settings(
            max_examples=400 if SOAK else 6,
            stateful_step_count=60 if SOAK else 20,
            deadline=None,
            # Shrinking replays the run many times: the soak run shrinks what it finds,
            # the bounded one reports the steps as they came.
            phases=list(Phase) if SOAK else [Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.fixture
def settings_for_machine(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    settings.CLINIC_HOLIDAYS_COUNTRY, settings.CLINIC_HOLIDAYS_SUBDIVISION = "GB", "ENG"
    settings.REMINDER_RETRY_BASE_SECONDS = 60
    return settings
