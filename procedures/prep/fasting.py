"""A sedated visit booked (or moved) to a time whose fast has already begun.

The patient must not eat for some hours before sedation (the plan's hours, 6 by
default). Booked at 07:00 for 10:00, the fast began at 04:00: no email can tell the
patient in time, and a breakfast at 08:00 means no sedation at 10:00. So the front
desk is asked first, and books only once the patient has said they have not eaten
since then; the answer is kept on the visit's timeline (invariant 23).
"""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from patients.models import Patient
from procedures.catalog.models import ProcedureType
from procedures.prep.facts import PrepFacts, prep_event
from procedures.prep.models import PrepPlan
from procedures.prep.timeline import fast_begins
from procedures.scheduling.models import Appointment

# The ValidationError code of the question, so that a page can ask it with a button.
FAST_BEGUN = "fast_begun"
# The visit's event when the front desk answered it.
FAST_BEGUN_EVENT = "fast_already_begun"


def _at(moment: datetime, appointment: Appointment) -> str:
    local = moment.astimezone(appointment.site_tz)
    if local.date() == appointment.start_at.astimezone(appointment.site_tz).date():
        return formats.time_format(local, "H:i")
    return formats.date_format(local, "D j M H:i")


def fast_question(appointment: Appointment, begins: datetime) -> str:
    return _(
        "Sedation at %(start)s: the patient must not have eaten since %(since)s, and that "
        "time has passed, so no email can tell them in time. Ask the patient before "
        "booking: if they have eaten since, choose a later time."
    ) % {"start": _at(appointment.start_at, appointment), "since": _at(begins, appointment)}


def _begun(appointment: Appointment, *, plan: PrepPlan | None = None) -> datetime | None:
    """When the visit's fast began, if it has begun by now (else None). `plan`: its
    fasting hours (default: the visit's plan, or the defaults)."""
    begins = fast_begins(appointment, plan=plan)
    return begins if begins is not None and begins <= timezone.now() else None


def fast_begun_check(
    appointment: Appointment, *, confirmed: bool, by: User | None, prep: PrepFacts | None = None
) -> None:
    """Call in the booking's (or the move's) transaction, the visit at its new time.

    When the visit's fast has begun by now, refuse with the question (code
    FAST_BEGUN) unless `confirmed`, and record the answer when it is. A move asks
    again, even within the same morning: the patient is told the new time then, and
    asked whether they have eaten. `prep`: what the booking has read already."""
    begins = _begun(appointment, plan=prep.plan if prep else None)
    if begins is None:
        return
    if not confirmed:
        raise ValidationError(
            {"start_time": ValidationError(fast_question(appointment, begins), code=FAST_BEGUN)}
        )
    prep_event(
        appointment,
        FAST_BEGUN_EVENT,
        by,
        _("Booked after the fast began (%(since)s): the patient said they have not eaten since.")
        % {"since": _at(begins, appointment)},
    )


def fast_question_for(appointment: Appointment) -> str | None:
    """The question booking `appointment` (not saved) would ask now, or None."""
    begins = _begun(appointment, plan=PrepPlan())
    return None if begins is None else fast_question(appointment, begins)


def fast_begun_warning(appointment: Appointment) -> str | None:
    """After a physician sets the sedation or fasting hours: the fast they imply, if it
    has begun already (no email can tell the patient in time), in words for the page."""
    begins = _begun(appointment)
    if begins is None or appointment.start_at <= timezone.now():
        return None
    return _(
        "The patient should not have eaten since %(since)s, and that time has passed: "
        "no email can tell them in time. Ask the front desk to call the patient, or move "
        "the visit."
    ) % {"since": _at(begins, appointment)}


def fast_lead(
    *,
    procedure_type: ProcedureType,
    sedation_level: str,
    patient: Patient | None,
    plan: PrepPlan | None = None,
) -> timedelta | None:
    """How long before its start a visit of this kind begins its fast (None: no fast),
    for the slot finder to offer only times the patient can still prepare for. (The
    booking still asks, exactly, about a time whose fast has begun.) `plan`: a visit's
    own fasting hours (default: the defaults)."""
    probe = Appointment(
        procedure_type=procedure_type,
        sedation_level=sedation_level or procedure_type.default_sedation_level,
        patient=patient,
        start_at=timezone.now() + timedelta(days=7),
    )
    begins = fast_begins(probe, plan=plan or PrepPlan()) if patient is not None else None
    return None if begins is None else probe.start_at - begins


def fast_question_of(exc: ValidationError) -> str | None:
    """The question in a booking's refusal, if that is what it is (else None)."""
    errors = exc.error_dict.get("start_time", []) if hasattr(exc, "error_dict") else exc.error_list
    for error in errors:
        if error.code == FAST_BEGUN:
            return " ".join(error.messages)
    return None
