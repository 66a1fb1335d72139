"""The escalation task on a real Celery worker (Redis, PostgreSQL, SMTP): a late
result is chased once, with a digest of links, however often the task runs."""

from datetime import timedelta

import pytest

from clinic.models import Heartbeat
from procedures.catalog.clock import clinic_today
from procedures.messaging.tasks import dispatch_due_reminders
from procedures.results.models import ResultEscalation
from procedures.results.tasks import escalate_late_results
from procedures.tests.factories import ProviderFactory, TestOrderFactory
from tests.conftest import wait_until
from tests.integration.test_worker import _wait_for_mail, broker, worker  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.services]


@pytest.fixture
def any_hour(monkeypatch):
    # The worker reads its settings from the environment it starts with.
    monkeypatch.setenv("RESULTS_DIGEST_HOUR", "0")


@pytest.mark.django_db(transaction=True)
def test_worker_chases_an_overdue_result_once(
    any_hour,
    worker,  # noqa: F811 (the fixture imported above)
    smtp_server,
    django_user_model,
):
    user = django_user_model.objects.create_user("lee", email="lee@clinic.example")
    order = TestOrderFactory(
        appointment__provider=ProviderFactory(user=user),
        expected_by=clinic_today() - timedelta(days=1),
    )

    escalate_late_results.delay()
    [digest] = _wait_for_mail(smtp_server, 1, worker)

    assert digest["To"] == "lee@clinic.example"
    assert f"/results/{order.pk}/" in digest.get_body(("plain",)).get_content()
    row = ResultEscalation.objects.get(order=order)
    wait_until(
        lambda: ResultEscalation.objects.filter(pk=row.pk, notified_at__isnull=False).exists(),
        timeout=10,
        what="the escalation to be marked notified",
    )

    # A second run finds nothing new: no second row, no second email. The solo
    # worker takes tasks in order, so once the dispatcher run queued after it has
    # left its heartbeat, the second escalation run is over.
    Heartbeat.objects.filter(name="dispatcher").delete()
    escalate_late_results.delay()
    dispatch_due_reminders.delay()
    wait_until(
        lambda: Heartbeat.objects.filter(name="dispatcher").exists(),
        timeout=30,
        what="the runs queued after the first to finish",
    )
    assert ResultEscalation.objects.filter(order=order).count() == 1
    assert len(smtp_server.messages) == 1
