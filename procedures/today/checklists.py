"""The nurses' day-of page: today's patients, each with their readiness checklist as
one compact row (read across scheduling and prep)."""

from dataclasses import dataclass

from django.db.models import QuerySet

from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import at_site
from procedures.prep.checklist import Readiness, readiness, readiness_facts
from procedures.prep.fasting import FAST_BEGUN_EVENT
from procedures.scheduling.models import Appointment, AppointmentEvent
from procedures.scheduling.slots import clinic_day_bounds


@dataclass
class DayRow:
    appointment: Appointment
    readiness: Readiness
    # Booked (or moved) after its fast had begun: the patient's answer to the front
    # desk, for the nurse who confirms the fast (prep/fasting.py).
    fast_answer: AppointmentEvent | None = None


def fast_answers(appointment_ids: list[int]) -> dict[int, AppointmentEvent]:
    """The answer that stands for each visit's current time (one query): the last one,
    unless the visit moved again since."""
    answers: dict[int, AppointmentEvent] = {}
    events = (
        AppointmentEvent.objects.filter(
            appointment_id__in=appointment_ids, kind__in=[FAST_BEGUN_EVENT, "rescheduled"]
        )
        .select_related("by")
        .order_by("at", "pk")
    )
    for event in events:
        if event.kind == FAST_BEGUN_EVENT:
            answers[event.appointment_id] = event
        else:
            answers.pop(event.appointment_id, None)
    return answers


def checklist_row(appointment: Appointment) -> DayRow:
    return DayRow(
        appointment=appointment,
        readiness=readiness(appointment),
        fast_answer=fast_answers([appointment.pk]).get(appointment.pk),
    )


def day_checklist_visits(*, site_id: int | None = None) -> QuerySet[Appointment]:
    """Today's booked patients (not cancelled, no-shows or talks), by time: left in the
    database, for `paging.PageEnds` to count and page (a network site's day is hundreds
    of visits; only a page's are read whole)."""
    start, end = clinic_day_bounds(clinic_today())
    return (
        at_site(Appointment.objects.active(), site_id)
        .filter(start_at__gte=start, start_at__lt=end)
        .exclude(procedure_type__kind="results_discussion")
        .order_by("start_at", "pk")
    )


def checklist_rows_of(visit_ids: list[int]) -> list[DayRow]:
    """These visits (a page of the day), read whole, as checklist rows in their order:
    a fixed number of queries however many there are (`readiness_facts`)."""
    found = Appointment.objects.with_related().in_bulk(visit_ids)
    appointments = [found[pk] for pk in visit_ids if pk in found]
    facts = readiness_facts(appointments)
    answers = fast_answers([a.pk for a in appointments])
    return [
        DayRow(appointment=a, readiness=readiness(a, facts[a.pk]), fast_answer=answers.get(a.pk))
        for a in appointments
    ]
