"""What the tests of the copies a visit's site makes (the visit's own, its emails')
share: a second site, and a visit booked through the workflow a week ahead of a
Monday morning, so that moving it to another site's room replans it as the clinic
would."""

import datetime as dt

from patients.tests.factories import PatientFactory
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.tests.factories import ProcedureTypeFactory, ProviderFactory, RoomFactory
from procedures.workflows import visits

NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # Monday
DAY = dt.date(2025, 3, 10)


def at(hour: int) -> dt.datetime:
    return clinic_datetime(DAY, dt.time(hour))


def book_visit(by, **patient):
    """09:00-10:00 on DAY with Dr Lee (who works at every site) in "Main room 1"."""
    return visits.appointment_book(
        patient=PatientFactory(**patient),
        procedure_type=ProcedureTypeFactory(default_duration_minutes=60),
        provider=ProviderFactory(display_name="Dr Lee"),
        room=RoomFactory(name="Main room 1"),
        start_at=at(9),
        end_at=at(10),
        sedation_level=SedationLevel.IV_MODERATE,
        by=by,
    )
