"""The reports' roll-up on a real Celery worker (Redis, PostgreSQL): the hourly task
counts a site's past days into their rows, and the dashboard reads the same."""

from datetime import time, timedelta

import pytest

from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.reports.jobs import roll_up_report_days
from procedures.reports.models import ReportDay
from procedures.reports.scope import ReportScope
from procedures.reports.tests.figures import agrees
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory
from tests.conftest import wait_until
from tests.integration.test_worker import broker, worker  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.services]


@pytest.mark.django_db(transaction=True)
def test_the_worker_rolls_up_past_days(worker):  # noqa: F811 (the fixture imported above)
    day = clinic_today() - timedelta(days=5)
    visit = AppointmentFactory(
        start_at=clinic_datetime(day, time(10)),
        end_at=clinic_datetime(day, time(11)),
        status=Appointment.Status.COMPLETED,
    )

    roll_up_report_days.delay()
    row = wait_until(
        lambda: ReportDay.objects.filter(site=visit.site, day=day).first(),
        timeout=30,
        what="the worker to roll the visit's day up",
    )

    assert (row.visits["planned"], row.visits["arrived"]) == (1, 1)
    assert row.time_zone == visit.site.time_zone
    # Every day over is rolled up (today and yesterday are not yet), and the dashboard's
    # figures for the fortnight are the live count's.
    assert not ReportDay.objects.filter(day__gte=clinic_today() - timedelta(days=1)).exists()
    figures = agrees(ReportScope(start=day - timedelta(days=7), end=clinic_today()))
    assert sum(arrived for _week, _no_shows, arrived, _unrecorded in figures["no_shows"]) == 1
