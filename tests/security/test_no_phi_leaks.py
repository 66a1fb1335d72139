"""No patient name or date of birth in the logs, in Celery task arguments or in email
subjects, along the main flow: register, book, complete, log a result, dispatch."""

import datetime as dt
import logging

import pytest
from celery import Celery
from celery.app.task import Task

from patients.models import Patient
from procedures.catalog.choices import SedationLevel
from procedures.catalog.clock import clinic_datetime
from procedures.messaging.dispatch import reminders_dispatch
from procedures.prep.checklist import checklist_tick
from procedures.prep.rules import procedure_site_set
from procedures.results.models import TestOrder
from procedures.results.orders import result_log
from procedures.scheduling import lifecycle
from procedures.scheduling.models import Appointment
from procedures.tests.factories import (
    ProcedureTypeFactory,
    ProviderFactory,
    RoomFactory,
    TestTypeFactory,
)
from procedures.workflows import visits

pytestmark = pytest.mark.django_db
NOW = clinic_datetime(dt.date(2025, 3, 3), dt.time(8, 0))  # a Monday morning
VISIT = clinic_datetime(dt.date(2025, 3, 10), dt.time(9, 0))
GIVEN, FAMILY, DOB = "Philippa", "Quennell-Ashworth", dt.date(1961, 7, 14)
PHI = [
    GIVEN,
    FAMILY,
    "Quennell",
    DOB.isoformat(),
    DOB.strftime("%d/%m/%Y"),
    DOB.strftime("%d %b %Y"),
    DOB.strftime("%d %B %Y"),
    "1961, 7, 14",  # repr of a date
]

# The test's own SMTP server (aiosmtpd) logs what it receives; the clinic does not.
TEST_HARNESS_LOGGERS = ("mail.log", "factory", "faker", "asyncio")


@pytest.fixture
def published(monkeypatch):
    """Every task the app enqueues, recorded instead of sent to a broker."""
    calls = []

    def apply_async(self, args=None, kwargs=None, **options):
        calls.append((self.name, args, kwargs))

    def send_task(self, name, args=None, kwargs=None, **options):
        calls.append((name, args, kwargs))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    monkeypatch.setattr(Celery, "send_task", send_task)
    return calls


def test_it_keeps_name_and_birth_date_out_of_logs_tasks_and_subjects(
    client,
    frontdesk_user,
    physician_user,
    smtp_mail,
    caplog,
    published,
    time_machine,
    django_capture_on_commit_callbacks,
):
    caplog.set_level(logging.DEBUG)
    time_machine.move_to(NOW, tick=False)
    client.force_login(frontdesk_user)
    panel = [TestTypeFactory(code="morphology"), TestTypeFactory(code="flow-cytometry")]
    procedure = ProcedureTypeFactory(default_tests=panel, default_sedation_level="iv_moderate")
    provider = ProviderFactory(display_name="Dr Lee", user=physician_user)
    room = RoomFactory(name="Procedure room 1", is_monitored=True)

    with django_capture_on_commit_callbacks(execute=True):
        # Register, through the page.
        response = client.post(
            "/patients/new/",
            {
                "submission_key": "8f14e45f-ceea-467f-a0e6-6ac1c2a8e0b1",
                "given_name": GIVEN,
                "family_name": FAMILY,
                "date_of_birth": DOB.isoformat(),
                "sex": "female",
                "email": "pqa@example.com",
                "phone": "020 7946 0123",
                "preferred_language": "en",
                "email_reminders": "on",
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        patient = Patient.objects.get(family_name=FAMILY)
        client.get(response["Location"])  # the patient's page (a read)

        # Book, and the patient gets their confirmation.
        appointment = visits.appointment_book(
            patient=patient,
            procedure_type=procedure,
            provider=provider,
            room=room,
            start_at=VISIT,
            end_at=VISIT + dt.timedelta(hours=1),
            sedation_level=SedationLevel.IV_MODERATE,
            transport_mode="driven",
            escort_name="Tom Ashworth",
            escort_phone="020 7946 0999",
            by=frontdesk_user,
        )
        client.get(f"/appointments/{appointment.pk}/")
        reminders_dispatch()

        # The day of the procedure: done, tests ordered, results logged.
        time_machine.move_to(VISIT - dt.timedelta(minutes=30), tick=False)
        lifecycle.appointment_check_in(appointment_id=appointment.pk, by=frontdesk_user)
        procedure_site_set(
            appointment_id=appointment.pk, site="posterior_iliac", side="left", by=physician_user
        )
        for item in ("consent", "site_side"):
            checklist_tick(appointment_id=appointment.pk, item=item, by=physician_user)
        visits.appointment_start(
            appointment_id=appointment.pk, by=physician_user, reason="Fasting checked verbally"
        )
        time_machine.move_to(VISIT + dt.timedelta(hours=1), tick=False)
        visits.appointment_complete(appointment_id=appointment.pk, by=physician_user)
        for order in TestOrder.objects.filter(appointment=appointment):
            result_log(
                order_id=order.pk,
                interpretation="normal",
                report_text="Normocellular marrow.",
                is_final=True,
                by=physician_user,
            )
        reminders_dispatch()

    assert Appointment.objects.get().status == Appointment.Status.COMPLETED
    assert TestOrder.objects.count() == 2
    mail = smtp_mail.wait_for(1)
    assert mail, "the flow sent no email at all: the scan below would prove nothing"
    assert caplog.records, "nothing was logged: the scan below would prove nothing"
    assert published, "no task was enqueued: the scan below would prove nothing"

    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r}"
        for r in caplog.records
        if not r.name.startswith(TEST_HARNESS_LOGGERS)
    )
    tasks = repr(published)
    subjects = "\n".join(str(m["Subject"]) for m in mail)
    for value in PHI:
        assert value not in logged, f"{value!r} was logged"
        assert value not in tasks, f"{value!r} went into a Celery message"
        assert value not in subjects, f"{value!r} is in an email subject"
