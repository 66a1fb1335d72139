"""What a reminder email says: templates/emails/<kind>/, in the patient's language.

Subjects are generic; bodies carry the first name, date, time, place and a
link. The procedure and a preparation step's own words appear only for a
patient who asked for details in email; otherwise they sit behind the link.
"""

from datetime import datetime, tzinfo
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import formats, translation
from django.utils.translation import gettext_noop

from clinic.mail import build_email, calendar_attachment, site_domain
from procedures.catalog.sites import patient_context
from procedures.messaging.ics import appointment_ics
from procedures.messaging.links import link_url
from procedures.messaging.models import Reminder
from procedures.messaging.plan import stops_withdrawn
from procedures.prep.facts import confirmed_stops
from procedures.prep.timeline import fast_times
from procedures.results.orders import results_ready_context
from procedures.scheduling.models import Appointment

Kind = Reminder.Kind

# Which patient links each kind of email carries.
LINKS: dict[str, tuple[str, ...]] = {
    Kind.BOOKING_CONFIRMATION: ("details", "attend", "reschedule"),
    Kind.RESCHEDULED: ("details", "attend", "reschedule"),
    Kind.MEDICATION_HOLD: ("details",),
    Kind.FASTING: ("details",),
    Kind.PREP_STEP: ("details",),
    Kind.ESCORT_REQUEST: ("escort",),
    Kind.DAY_BEFORE: ("details", "reschedule"),
    Kind.AFTERCARE: ("unsubscribe",),
}
# Kinds that carry a calendar invite, and its method.
INVITE_KINDS: dict[str, str] = {
    Kind.BOOKING_CONFIRMATION: "REQUEST",
    Kind.RESCHEDULED: "REQUEST",
    Kind.CANCELLATION: "CANCEL",
}


def message_id_for(reminder: Reminder) -> str:
    """Stable per row, so a resend after a crash is recognisable as the same message."""
    domain = site_domain()
    return f"<reminder-{reminder.pk}@{domain}>"


def clinic_context(appointment: Appointment) -> dict[str, Any]:
    """Who writes to the patient and where the visit is: every patient email names
    them: the visit's own site (issue 18), and the web address of the links."""
    return {**patient_context(appointment.room.site), "site_url": settings.SITE_URL}


# A date in words, as each language writes it: "Monday 10 March 2025", "lunes, 10 de
# marzo de 2025" (the Spanish catalogue holds the Spanish format).
LONG_DATE = gettext_noop("l j F Y")


def _when(moment: datetime, language: str, tz: tzinfo) -> tuple[str, str]:
    """Date in words ("Monday 10 March 2025") and time ("09:30") of `moment`, in the
    site's time zone `tz` and `language`."""
    local = moment.astimezone(tz)
    with translation.override(language):
        day = formats.date_format(local, translation.gettext(LONG_DATE))
        return day, formats.time_format(local, "H:i")


def reminder_context(reminder: Reminder) -> dict[str, Any]:
    appointment = reminder.appointment
    patient = appointment.patient
    language = patient.preferred_language
    # The visit's site: its name, address, phone and time zone (issue 18).
    site = appointment.room.site
    tz = site.tz
    date_text, time_text = _when(appointment.start_at, language, tz)
    step_date, step_time = _when(reminder.step_at, language, tz) if reminder.step_at else ("", "")
    details = patient.details_in_email
    context = {
        **clinic_context(appointment),
        "first_name": patient.given_name,
        "date": date_text,
        "time": time_text,
        # The zone the time is in ("GMT", "BST", "CET"): a network may span zones.
        "time_zone": appointment.start_at.astimezone(tz).tzname() or "",
        "sedated": appointment.is_sedated,
        # A "new time" email after a stop was emailed for the old time: it is withdrawn.
        "medicines_withdrawn": stops_withdrawn(reminder),
        "procedure_name": appointment.procedure_type.name if details else "",
        "step_date": step_date,
        "step_time": step_time,
        "step_text": reminder.step_text if details else "",
        "step_detail": reminder.step_detail if details else "",
        "links": {
            purpose: link_url(appointment=appointment, purpose=purpose)
            for purpose in LINKS.get(reminder.kind, ())
        },
        # "Some results are still pending, expected around <date>" (results.py, #6).
        **(results_ready_context(appointment) if reminder.kind == Kind.RESULTS_READY else {}),
        **_fast_context(reminder, language, tz),
        **_medicines_context(reminder),
    }
    if context.get("stopped") and not details:
        # After a visit with stopped medicines: the details page names them and when to
        # start each again (the email does not, without details).
        context["links"]["restart"] = link_url(appointment=appointment, purpose="details")
    return context


def _fast_context(reminder: Reminder, language: str, tz: tzinfo) -> dict[str, str]:
    """When to stop eating and drinking, as the plan stands at sending: the fasting
    email and a sedated visit's day-before reminder say both (not only "stop eating"),
    so nobody goes without water from midnight or drinks on the way in."""
    appointment = reminder.appointment
    if reminder.kind not in (Kind.FASTING, Kind.DAY_BEFORE) or not appointment.is_sedated:
        return {}
    times = fast_times(appointment)
    if times is None:
        return {}
    food_date, food_time = _when(times.food_from, language, tz)
    context = {"food_date": food_date, "food_time": food_time}
    if times.fluids_until is not None:
        context["fluids_date"], context["fluids_time"] = _when(times.fluids_until, language, tz)
    return context


# The emails after a visit that say when to start again a medicine stopped for it.
AFTER_VISIT_KINDS = frozenset({Kind.WARNING_SIGNS, Kind.AFTERCARE})


def _medicines_context(reminder: Reminder) -> dict[str, Any]:
    """The medicines stopped for the visit, as the plan stands at sending, never named
    unless the patient asked for details by email.

    A stop email says how many medicines it is about and how many there are in all: two
    stops at the same minute read alike and go as one email (invariant 26), which must
    not read as one medicine. The emails after the visit say when to start them again:
    the physician's words are behind the link (named in the email with details), and
    without them the patient is told to ask, not left waiting for a call."""
    appointment = reminder.appointment
    if reminder.kind == Kind.MEDICATION_HOLD:
        stops = confirmed_stops(appointment)
        if appointment.patient.details_in_email:
            now = 1  # each email names its medicine: one each, even at the same minute
        else:
            now = sum(1 for hold in stops if hold.stop_at == reminder.step_at) or 1
        return {"stops_now": now, "stops_in_all": max(len(stops), now)}
    if reminder.kind not in AFTER_VISIT_KINDS:
        return {}
    stops = confirmed_stops(appointment)
    if not stops:
        return {"stopped": 0}
    return {
        "stopped": len(stops),
        "restart_given": all(hold.resume_guidance for hold in stops),
        "restart_lines": [
            {
                "medicine": f"{hold.medication.name} {hold.medication.dose}".strip(),
                "when": hold.resume_guidance,
            }
            for hold in stops
        ]
        if appointment.patient.details_in_email
        else [],
    }


def reminder_words(reminder: Reminder, context: dict[str, Any]) -> tuple | None:
    """What the patient reads of a reminder's email, as a key: two rows with the same
    key get emails that read word for word alike (the same templates, language,
    recipient and context). Each link counts by its purpose only: its token carries the
    second it was signed, the one thing two such emails may differ by. None for a kind
    with an invite (an invite is never merged into another email)."""
    if reminder.kind in INVITE_KINDS:
        return None
    patient = reminder.appointment.patient
    said = sorted((name, repr(value)) for name, value in context.items() if name != "links")
    return (
        reminder.kind,
        patient.email,
        patient.preferred_language,
        tuple(said),
        tuple(sorted(context["links"])),
    )


def reminder_message(
    reminder: Reminder,
    *,
    connection: BaseEmailBackend | None = None,
    context: dict[str, Any] | None = None,
) -> EmailMultiAlternatives:
    """The email for one reminder row, ready to send (with its invite, for the kinds
    that carry one). `context`: the row's `reminder_context`, when the caller has it."""
    appointment = reminder.appointment
    attachments = []
    if method := INVITE_KINDS.get(reminder.kind):
        ics = appointment_ics(appointment, method=method)
        attachments.append(calendar_attachment(ics, method=method, filename="appointment.ics"))
    return build_email(
        reminder.kind,
        context if context is not None else reminder_context(reminder),
        to=[appointment.patient.email],
        message_id=message_id_for(reminder),
        language=appointment.patient.preferred_language,
        attachments=attachments,
        connection=connection,
    )
