"""What a reminder email says: templates/emails/<kind>/, in the patient's language.

Subjects are generic; bodies carry the first name, date, time, place and a
link. The procedure and a preparation step's own words appear only for a
patient who asked for details in email; otherwise they sit behind the link.
"""

import functools
from datetime import UTC
from urllib.parse import urlparse

from django.conf import settings
from django.utils import formats, timezone, translation
from icalendar import Calendar, Event, vCalAddress, vText
from icalendar.parser import Contentline, Parameters

from clinic.mail import Attachment, build_email
from procedures.catalog.sites import patient_context
from procedures.messaging.ics import appointment_uid, invite_sequence
from procedures.messaging.links import link_url
from procedures.messaging.models import Reminder
from procedures.results.orders import results_ready_context

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
INVITE_KINDS: dict[str, str] = {Kind.BOOKING_CONFIRMATION: "REQUEST", Kind.RESCHEDULED: "REQUEST"}
INVITE_KINDS[Kind.CANCELLATION] = "CANCEL"


@functools.lru_cache(maxsize=8)
def _domain(site_url: str) -> str:
    return urlparse(site_url).hostname or "clinic.local"


def message_id_for(reminder: Reminder) -> str:
    """Stable per row, so a resend after a crash is recognisable as the same message."""
    return f"<reminder-{reminder.pk}@{_domain(settings.SITE_URL)}>"


@functools.lru_cache(maxsize=2048)
def _date_text(day, language: str) -> str:
    """A clinic date in words ("Monday 10 March 2025"), in `language`."""
    with translation.override(language):
        return formats.date_format(day, "l j F Y")


def _when(moment, language: str, tz) -> tuple[str, str]:
    """Date in words and time ("09:30") of `moment`, in the site's time zone `tz`."""
    local = moment.astimezone(tz)
    return _date_text(local.date(), language), f"{local.hour:02d}:{local.minute:02d}"


def reminder_context(reminder: Reminder) -> dict:
    appointment = reminder.appointment
    patient = appointment.patient
    language = patient.preferred_language
    # The visit's site: its name, address, phone and time zone (issue 18).
    site = appointment.room.site
    tz = site.tz
    date_text, time_text = _when(appointment.start_at, language, tz)
    step_date, step_time = _when(reminder.step_at, language, tz) if reminder.step_at else ("", "")
    details = patient.details_in_email
    return {
        "first_name": patient.given_name,
        "date": date_text,
        "time": time_text,
        # The zone the time is in ("GMT", "BST", "CET"): a network may span zones.
        "time_zone": appointment.start_at.astimezone(tz).tzname() or "",
        **patient_context(site),
        "site_url": settings.SITE_URL,
        "sedated": appointment.is_sedated,
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
    }


@functools.cache
def _invite_frame(
    method: str, clinic_name: str, address: str, organizer: str
) -> tuple[bytes, bytes]:
    """The invite's lines that are the same for every appointment, written by icalendar
    once per method: the head (up to the SUMMARY) and the tail (LOCATION onwards).
    icalendar orders an event's properties SUMMARY, DTSTART, DTEND, DTSTAMP, UID,
    SEQUENCE, then the rest by name: ATTENDEE falls between SEQUENCE and LOCATION."""
    calendar = Calendar()
    calendar.add("prodid", f"-//{clinic_name}//clinic//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("summary", f"Appointment at {clinic_name}")
    event.add("location", vText(address))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    address_of_organizer = vCalAddress(f"mailto:{organizer}")
    address_of_organizer.params["cn"] = vText(clinic_name)
    event.add("organizer", address_of_organizer)
    calendar.add_component(event)
    head, tail = calendar.to_ical().split(b"\r\nLOCATION", 1)
    return head + b"\r\n", b"LOCATION" + tail


def _utc(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def appointment_invite(appointment, *, method: str) -> bytes:
    """The same bytes as `calendar.appointment_ics` (tests compare them), without
    building the whole calendar through icalendar for every message: only the
    appointment's own lines are written per message."""
    site = appointment.room.site
    head, tail = _invite_frame(method, site.name, site.address, settings.DEFAULT_FROM_EMAIL)
    lines = [
        f"DTSTART:{_utc(appointment.start_at)}",
        f"DTEND:{_utc(appointment.end_at)}",
        f"DTSTAMP:{_utc(timezone.now())}",
        Contentline.from_parts("UID", Parameters(), vText(appointment_uid(appointment))),
        f"SEQUENCE:{invite_sequence(appointment, method)}",
    ]
    patient = appointment.patient
    if patient.email:
        attendee = vCalAddress(f"mailto:{patient.email}")
        attendee.params["cn"] = vText(patient.given_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        lines.append(Contentline.from_parts("ATTENDEE", attendee.params, attendee))
    body = b"".join(_ical_line(line) + b"\r\n" for line in lines)
    return head + body + tail


ICAL_FOLD_AT = 75  # icalendar's _foldline limit (RFC 5545's 75 octets)


def _ical_line(line: str) -> bytes:
    """`Contentline(line).to_ical()`: icalendar folds a line only from 75 octets on, and
    refuses one with a raw newline; any other line comes out as it went in."""
    encoded = line.encode()
    if len(encoded) < ICAL_FOLD_AT and "\n" not in line:
        return encoded
    return Contentline(line).to_ical()


def reminder_message(reminder: Reminder, *, connection=None):
    """The email for one reminder row, ready to send."""
    appointment = reminder.appointment
    attachments = []
    if method := INVITE_KINDS.get(reminder.kind):
        attachments.append(
            Attachment(
                "appointment.ics",
                appointment_invite(appointment, method=method),
                "text/calendar",
                {"method": method},
            )
        )
    return build_email(
        reminder.kind,
        reminder_context(reminder),
        to=[appointment.patient.email],
        message_id=message_id_for(reminder),
        language=appointment.patient.preferred_language,
        attachments=attachments,
        connection=connection,
        reuse_layout=True,
    )
