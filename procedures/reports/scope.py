"""What a report covers: a period of clinic days, some rooms, a procedure type.

Every metric starts from the two base querysets here, so narrowing a report is
one argument: `rooms` (a queryset of rooms: a site's rooms, say) narrows the
visits, the open room time and the test orders alike. `None` is the whole clinic.
A site's report also gives `site_id` (with that site's rooms): its visits and orders
carry their rooms' site (docs/invariants.md, 18 and 20), so they are narrowed by it
and read through the site's indexes, not through the rooms.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.db.models import QuerySet

from procedures.catalog.clock import clinic_datetime
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Room
from procedures.reports.rollup import RolledPeriod, rolled_period, rollup_applies
from procedures.results.models import TestOrder
from procedures.scheduling.models import Appointment


@dataclass(frozen=True)
class ReportScope:
    start: date  # first clinic day, inclusive
    end: date  # last clinic day, inclusive
    rooms: QuerySet[Room] | None = None
    procedure_type: ProcedureType | None = None
    site_id: int | None = None  # `rooms` are this site's
    live: bool = False  # count every day live, roll-up or not (what its tests compare with)

    @property
    def since(self) -> datetime:
        return clinic_datetime(self.start, time.min)

    @property
    def until(self) -> datetime:
        """Midnight after the last day (exclusive)."""
        return clinic_datetime(self.end + timedelta(days=1), time.min)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @cached_property
    def rolled(self) -> RolledPeriod | None:
        """The period's days in the daily roll-up (reports/rollup.py), read once for
        every figure; None when the roll-up cannot answer for this scope (a procedure,
        rooms other than a site's): every figure is then counted live."""
        if self.live or not rollup_applies(
            procedure_type=self.procedure_type, rooms=self.rooms, site_id=self.site_id
        ):
            return None
        return rolled_period(
            start=self.start,
            end=self.end,
            site_id=self.site_id,
            columns=("visits", "turnaround"),
        )

    def room_list(self) -> QuerySet[Room]:
        """The rooms whose open time counts: active ones, within `rooms`."""
        rooms = Room.objects.filter(is_active=True)
        if self.rooms is not None:
            rooms = rooms.filter(pk__in=self.rooms.values("pk"))
        return rooms.order_by("name", "pk")

    def visits(self) -> QuerySet[Appointment]:
        """Appointments whose procedure starts in the period, every status."""
        visits = Appointment.objects.filter(start_at__gte=self.since, start_at__lt=self.until)
        if self.site_id is not None:
            visits = visits.filter(site_id=self.site_id)
        elif self.rooms is not None:
            visits = visits.filter(room__in=self.rooms.values("pk"))
        if self.procedure_type is not None:
            visits = visits.filter(procedure_type=self.procedure_type)
        return visits

    def final_results(self) -> QuerySet[TestOrder]:
        """Test orders whose first final result was logged in the period."""
        orders = TestOrder.objects.filter(
            final_at__gte=self.since, final_at__lt=self.until, collected_at__isnull=False
        )
        if self.site_id is not None:
            orders = orders.filter(site_id=self.site_id)
        elif self.rooms is not None:
            orders = orders.filter(appointment__room__in=self.rooms.values("pk"))
        if self.procedure_type is not None:
            orders = orders.filter(appointment__procedure_type=self.procedure_type)
        return orders
