"""Days of the open-loops report nobody signed off are escalated to the clinic lead
(loops.open_loops_escalate_unsigned), but never days before the clinic's first visit,
and the staff email reads as one: no patients' footer, a Message-ID under SITE_URL."""

import datetime as dt
from email import message_from_bytes

import pytest

from procedures.catalog.clock import clinic_datetime
from procedures.tests.factories import AppointmentFactory
from procedures.today.loops import open_loops_escalate_unsigned
from procedures.today.models import OpenLoopsDay

MONDAY = dt.date(2026, 12, 7)
NOW = clinic_datetime(MONDAY, dt.time(7, 0))
pytestmark = [pytest.mark.django_db, pytest.mark.clock(NOW)]


@pytest.fixture(autouse=True)
def lead(settings):
    settings.RESULTS_CLINIC_LEAD_EMAILS = ["lead@clinic.test"]
    settings.SITE_URL = "https://clinic.test"
    settings.OPEN_LOOPS_SINCE = None


def test_an_empty_install_escalates_nothing(mailoutbox):
    """QA pass 2, #5: a brand-new install emailed 'Open loops: 5 days not signed off'
    for the week before it existed."""
    assert open_loops_escalate_unsigned(now=NOW) == 0
    assert not OpenLoopsDay.objects.exists()
    assert mailoutbox == []


def test_only_days_from_the_first_visit_on_are_chased_in_a_staff_email(mailoutbox):
    wednesday = MONDAY - dt.timedelta(days=5)
    start = clinic_datetime(wednesday, dt.time(9, 0))
    AppointmentFactory(start_at=start, end_at=start + dt.timedelta(hours=1))

    assert open_loops_escalate_unsigned(now=NOW) == 3  # Wednesday, Thursday, Friday

    [message] = mailoutbox
    assert message.subject == "Open loops: 3 days not signed off"
    html = message.alternatives[0][0]
    assert "?day=2026-12-02" in html and "?day=2026-12-01" not in html
    assert "Questions? Call us" not in html and "Questions? Call us" not in message.body
    parsed = message_from_bytes(message.message().as_bytes())
    assert parsed["Message-ID"].endswith("@clinic.test>")


@pytest.mark.parametrize(("role", "links"), [("admin", False), ("physician", True)])
def test_the_report_links_a_visit_only_for_who_may_open_it(role, links, request, client):
    """QA pass 2, #7: clinic admins read the report, but a visit's page answers them
    403; they get its id as text."""
    yesterday = clinic_datetime(MONDAY - dt.timedelta(days=3), dt.time(9, 0))
    visit = AppointmentFactory(
        start_at=yesterday, end_at=yesterday + dt.timedelta(hours=1), status="checked_in"
    )
    client.force_login(request.getfixturevalue(f"{role}_user"))

    page = client.get("/open-loops/", {"site": "all"}).content.decode()

    assert f"Visit {visit.pk} ·" in page
    assert (f'href="/appointments/{visit.pk}/"' in page) is links
    assert (client.get(f"/appointments/{visit.pk}/").status_code != 403) is links
