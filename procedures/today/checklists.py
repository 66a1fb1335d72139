"""The nurses' day-of page: today's patients, each with their readiness checklist as
one compact row (read across scheduling and prep)."""

from dataclasses import dataclass

from procedures.catalog.clock import clinic_today
from procedures.catalog.sites import at_site
from procedures.prep.checklist import Readiness, readiness, readiness_facts
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import clinic_day_bounds


@dataclass
class DayRow:
    appointment: Appointment
    readiness: Readiness


def checklist_row(appointment: Appointment) -> DayRow:
    return DayRow(appointment=appointment, readiness=readiness(appointment))


def day_checklist_visits(*, site_id: int | None = None) -> list[Appointment]:
    """Today's booked patients (not cancelled, no-shows or talks), by time."""
    start, end = clinic_day_bounds(clinic_today())
    return list(
        at_site(Appointment.objects.active(), site_id)
        .filter(start_at__gte=start, start_at__lt=end)
        .exclude(procedure_type__kind="results_discussion")
        .with_related()
        .order_by("start_at", "pk")
    )


def checklist_rows(appointments: list[Appointment]) -> list[DayRow]:
    """Each visit with what its checklist holds and who ticked what when, in a fixed
    number of queries however many visits there are."""
    facts = readiness_facts(appointments)
    return [DayRow(appointment=a, readiness=readiness(a, facts[a.pk])) for a in appointments]


def day_checklists(*, site_id: int | None = None) -> list[DayRow]:
    """Every one of today's visits as a checklist row."""
    return checklist_rows(day_checklist_visits(site_id=site_id))
