"""A visit's lifecycle across concerns: each service is one transaction that moves
the appointment (scheduling) and keeps its preparation (prep), its patient emails
(messaging) and its test orders (results) in step."""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room
from procedures.labs.outbound import lab_order_queue
from procedures.messaging.kinds import BEFORE_VISIT_KINDS
from procedures.messaging.models import Reminder
from procedures.messaging.outbox import reminders_follow_visits
from procedures.messaging.plan import (
    reminder_add,
    reminders_cancel_pending,
    reminders_plan,
    reminders_replan,
    reminders_stops_withdraw,
    reminders_withdraw,
)
from procedures.messaging.tasks import wake_dispatcher
from procedures.prep.checklist import readiness_start_check
from procedures.prep.facts import PrepFacts, plan_of
from procedures.prep.fasting import (
    fast_begun_check,
    fast_lead,
    fast_question_for,
    fast_question_of,
)
from procedures.prep.frontdesk import prep_on_booked, prep_on_rescheduled
from procedures.results.models import TestOrder
from procedures.results.orders import Sample, sample_validate, test_orders_create
from procedures.scheduling import booking, lifecycle
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.waitlist import waitlist_entry_booked, waitlist_entry_for_offer
from procedures.scheduling.waitlist_models import WaitlistEntry


def appointment_book(
    *,
    patient: Patient,
    procedure_type: ProcedureType,
    provider: Provider,
    room: Room,
    start_at: datetime,
    end_at: datetime,
    sedation_level: str,
    transport_mode: str = "",
    escort_name: str = "",
    escort_phone: str = "",
    notes: str = "",
    by: User | None,
    fast_begun_confirmed: bool = False,
) -> Appointment:
    """Book a procedure into a provider's and a room's calendar, and plan its
    preparation and patient emails, in one transaction.

    Raises ValidationError (keyed by form field) for a slot in the past, a zero or
    negative length, a room that cannot host the sedation level or procedure, a
    provider or room outside working hours or away, a clinic holiday, or any clash;
    and, unless `fast_begun_confirmed`, for a sedated visit whose fast has already
    begun (code FAST_BEGUN: a question, see `fast_question_of`). Nothing is saved then.
    """
    with transaction.atomic():
        appointment = booking.appointment_book(
            patient=patient,
            procedure_type=procedure_type,
            provider=provider,
            room=room,
            start_at=start_at,
            end_at=end_at,
            sedation_level=sedation_level,
            transport_mode=transport_mode,
            escort_name=escort_name,
            escort_phone=escort_phone,
            notes=notes,
            by=by,
        )
        # What the prep plan needs, read once for these (a new booking has no plan,
        # holds or tasks yet: only the patient's medicines are read).
        prep = PrepFacts.of_new_booking(appointment)
        fast_begun_check(appointment, confirmed=fast_begun_confirmed, by=by, prep=prep)
        reminders_plan(appointment=appointment, prep=prep)
        # A booking inside the medicine-stop period flags the front desk (prep).
        prep_on_booked(appointment=appointment, prep=prep)
    wake_dispatcher()
    return appointment


def booking_question(exc: ValidationError) -> str | None:
    """What a refused booking or move asks the front desk (its fast has begun: they
    confirm with the patient and post again), or None for a plain refusal."""
    return fast_question_of(exc)


def slots_not_before(
    *,
    procedure_type: ProcedureType,
    sedation_level: str,
    patient: Patient | None,
    appointment: Appointment | None = None,
) -> datetime | None:
    """The earliest start the slot finder offers (None: any): one whose fast, if the
    visit has one, begins after now, so the patient can still be told. `appointment`:
    a visit being moved, with its own fasting hours."""
    lead = fast_lead(
        procedure_type=procedure_type,
        sedation_level=sedation_level,
        patient=patient,
        plan=plan_of(appointment) if appointment else None,
    )
    return timezone.now() + lead if lead is not None else None


def appointment_reschedule(
    *,
    appointment_id: int,
    start_at: datetime,
    end_at: datetime | None = None,
    provider: Provider | None = None,
    room: Room | None = None,
    by: User | None,
    fast_begun_confirmed: bool = False,
    seen_version: int | None = None,
) -> Appointment:
    """Move an appointment to a new slot (optionally another physician or room): the
    same appointment keeps its history and its version goes up; stops dated for the
    old day go back to the physician (a stop already emailed is withdrawn: the "new
    time" email says so and the front desk is given a call), front-desk tasks move, and
    the emails planned for the old time are voided and the new time's planned. A move
    to a time whose fast has begun is asked first, as a booking is
    (`fast_begun_confirmed`). A move from a page older than the visit's last move is
    refused (`seen_version`, see `booking.appointment_reschedule`)."""
    with transaction.atomic():
        moved = booking.appointment_reschedule(
            appointment_id=appointment_id,
            start_at=start_at,
            end_at=end_at,
            provider=provider,
            room=room,
            by=by,
            seen_version=seen_version,
        )
        appointment = moved.appointment
        fast_begun_check(appointment, confirmed=fast_begun_confirmed, by=by)
        if moved.site_changed:  # its emails are at its new site too (invariant 21)
            reminders_follow_visits(Appointment.objects.filter(pk=appointment.pk))
        stops_void = prep_on_rescheduled(
            appointment=appointment, moved_from=moved.moved_from, by=by
        )
        reminders_replan(appointment=appointment)
        if stops_void:
            # A stop already emailed for the old time is withdrawn: the "new time" email
            # says so and the front desk calls (invariant 28).
            reminders_stops_withdraw(appointment=appointment)
    wake_dispatcher()
    return appointment


def appointment_start(*, appointment_id: int, by: User, reason: str = "") -> Appointment:
    """The procedure has begun (the patient was checked in). With readiness items
    missing it needs a reason, which is recorded as an override (who, why, when)."""
    with transaction.atomic():
        appointment = lifecycle.locked_for(appointment_id, "start")
        readiness_start_check(appointment=appointment, reason=reason, by=by)
        appointment = lifecycle.appointment_transition(
            appointment_id=appointment_id, action="start", by=by
        )
        reminders_withdraw(
            appointment=appointment, kinds=BEFORE_VISIT_KINDS, reason="visit under way"
        )
    return appointment


def appointment_complete(
    *, appointment_id: int, by: User | None, sample: Sample | None = None
) -> Appointment:
    """Mark a procedure done and open a test order for each test of its panel (or,
    given a `Sample`, for the tests the team ticked). A sample without tests (a visit
    that takes none, or none was obtained) ends the visit with its reason on the
    timeline and no order. Nothing more about the visit's prep or arrival goes out;
    the warning signs go the same day (essential mail)."""
    with transaction.atomic():
        completed_at = timezone.now()
        appointment = lifecycle.appointment_transition(
            appointment_id=appointment_id, action="complete", by=by, completed_at=completed_at
        )
        if sample is not None and not sample.test_types:
            AppointmentEvent.objects.create(
                appointment=appointment,
                kind="no_sample",
                note=sample.no_sample_text or _("No sample is taken at this visit"),
                by=by,
            )
        else:
            orders = test_orders_create(
                appointment=appointment, collected_at=completed_at, sample=sample, by=by
            )
            # Orders already sent with the sample go to their labs (procedures/labs).
            for order in orders:
                if order.status == TestOrder.Status.SENT:
                    lab_order_queue(order=order)
        reminders_withdraw(
            appointment=appointment, kinds=BEFORE_VISIT_KINDS, reason="visit completed"
        )
        if not appointment.procedure_type.is_discussion:
            reminder_add(appointment=appointment, kind=Reminder.Kind.WARNING_SIGNS)
    wake_dispatcher()
    return appointment


def procedure_complete(*, appointment_id: int, sample: Sample, by: User | None) -> Appointment:
    """Complete the procedure and open the orders the team ticked, in one transaction."""
    with transaction.atomic():
        appointment = Appointment.objects.select_related("procedure_type").get(pk=appointment_id)
        sample_validate(appointment=appointment, sample=sample, now=timezone.now())
        return appointment_complete(appointment_id=appointment_id, by=by, sample=sample)


def appointment_no_show(*, appointment_id: int, by: User | None) -> Appointment:
    """The patient did not come: only once the start time has passed. The slot frees
    and nothing more is sent about the visit."""
    with transaction.atomic():
        appointment = lifecycle.appointment_transition(
            appointment_id=appointment_id, action="no_show", by=by
        )
        reminders_cancel_pending(appointment=appointment, reason="no-show")
    return appointment


def appointment_cancel(
    *,
    appointment_id: int,
    by: User | None,
    reason: str = "",
    reason_code: str = "",
    note: str = "",
    seen_version: int | None = None,
) -> Appointment:
    """Cancel an appointment: the slot frees at once, pending emails are voided, and
    the patient is told. `reason_code` is one of Appointment.CancelReason, with an
    optional note; a bare `reason` text is kept as it is (reason "other").
    `seen_version`: the visit's version on the page the person opened; a visit moved
    since is not cancelled (the patient may have asked for the new time)."""
    reason, reason_code = lifecycle.cancel_reason_text(
        reason=reason, reason_code=reason_code, note=note
    )
    with transaction.atomic():
        if seen_version is not None:  # a page said which version it showed
            current = Appointment.objects.select_for_update().get(pk=appointment_id)
            if moved := booking.moved_since(
                current, seen_version, then=_("cancel it again if it still needs cancelling.")
            ):
                raise moved
        appointment = lifecycle.appointment_transition(
            appointment_id=appointment_id,
            action="cancel",
            by=by,
            note=reason[:300],
            cancel_reason=reason[:200],
            cancel_reason_code=reason_code,
        )
        reminders_cancel_pending(appointment=appointment)
        reminders_plan(appointment=appointment, cancellation=True)
    wake_dispatcher()
    return appointment


def _offered_visit(entry: WaitlistEntry, freed: Appointment) -> dict:
    """The visit a waiting patient gets in a freed slot: the same physician, room and
    start, their procedure at its usual length and sedation."""
    procedure = entry.procedure_type
    return {
        "patient": entry.patient,
        "procedure_type": procedure,
        "provider": freed.provider,
        "room": freed.room,
        "start_at": freed.start_at,
        "end_at": freed.start_at + timedelta(minutes=procedure.default_duration_minutes),
        "sedation_level": procedure.default_sedation_level,
    }


def waitlist_offer_book(
    *,
    entry_id: int,
    freed_appointment_id: int,
    by: User | None,
    fast_begun_confirmed: bool = False,
) -> Appointment:
    """Book a waiting patient into a freed slot (same physician, room and start) and
    take them off the waitlist. The booking rules apply as for any booking (a slot whose
    fast has begun is asked about: `fast_begun_confirmed`, `waitlist_offer_question`)."""
    with transaction.atomic():
        entry = waitlist_entry_for_offer(entry_id=entry_id)
        freed = Appointment.objects.select_related("provider", "room").get(pk=freed_appointment_id)
        appointment = appointment_book(
            **_offered_visit(entry, freed),
            notes=_("Booked from the waitlist."),
            by=by,
            fast_begun_confirmed=fast_begun_confirmed,
        )
        waitlist_entry_booked(entry=entry, appointment=appointment)
    return appointment


def waitlist_offer_question(*, entry: WaitlistEntry, freed: Appointment) -> str | None:
    """What booking the waiting patient into the freed slot asks first (its fast has
    begun), or None: for the waitlist page to put the question with its answer. `entry`
    with its patient and procedure, `freed` with its physician, room and site."""
    return fast_question_for(Appointment(**_offered_visit(entry, freed)))
