"""Calendar invites (.ics) for appointments. Times are written in UTC, so no
VTIMEZONE block is needed and the patient's calendar shows the visit at the right
moment whatever the site's zone; the summary is generic (no procedure name). The place
is the visit's site (issue 18)."""

from datetime import UTC

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from icalendar import Calendar, Event, vCalAddress, vText

from clinic.mail import site_domain
from procedures.scheduling.models import Appointment


def appointment_uid(appointment: Appointment) -> str:
    domain = site_domain()
    return f"appointment-{appointment.pk}@{domain}"


def invite_sequence(appointment: Appointment, method: str) -> int:
    """The invite's SEQUENCE: the appointment's version, one more on a CANCEL (RFC 5546
    3.2.5: a cancellation increases it, or calendars may ignore it)."""
    return int(appointment.version) + (1 if method == "CANCEL" else 0)


def appointment_ics(appointment: Appointment, *, method: str = "REQUEST") -> bytes:
    """One VEVENT; a reschedule keeps the UID and bumps SEQUENCE, a cancel says CANCEL
    with a higher SEQUENCE still."""
    site = appointment.room.site
    calendar = Calendar()
    calendar.add("prodid", f"-//{site.name}//clinic//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", invite_sequence(appointment, method))
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", appointment.start_at.astimezone(UTC))
    event.add("dtend", appointment.end_at.astimezone(UTC))
    # In the patient's language, as the email it comes with.
    with translation.override(appointment.patient.preferred_language):
        event.add("summary", _("Appointment at %(site)s") % {"site": site.name})
    event.add("location", vText(site.address))
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL}")
    organizer.params["cn"] = vText(site.name)
    event.add("organizer", organizer)
    if appointment.patient.email:
        attendee = vCalAddress(f"mailto:{appointment.patient.email}")
        attendee.params["cn"] = vText(appointment.patient.given_name)
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        event.add("attendee", attendee, encode=False)
    calendar.add_component(event)
    return calendar.to_ical()
