"""A patient with something behind every URL of the project, for the walks over every
URL (tests/security/test_reads_audited.py, tests/security/test_hostile_requests.py):
appointments today (one booked, one in the procedure room), a completed visit with a
test order, a waitlist entry, a front-desk task, a reminder and its email in the
development outbox, an allergy, a leave, a closure, a message to a lab and an
unmatched one from it. `args` fills every URL name's
arguments (tests/url_rules.py lists the names)."""

import datetime as dt
from pathlib import Path

from django.core.mail import EmailMessage
from django.urls import NoReverseMatch, reverse

from clinic import roles
from conftest import make_user
from patients.clinical_models import Allergy
from patients.tests.factories import PatientFactory
from procedures.catalog.clock import clinic_datetime, clinic_today
from procedures.catalog.hours import Unavailability
from procedures.catalog.models import ClinicHoliday
from procedures.labs.models import Lab, LabInboundMessage, LabOrderMessage
from procedures.messaging.mail import message_id_for
from procedures.prep.models import FrontDeskTask
from procedures.scheduling.models import Appointment
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.tests.factories import (
    AppointmentFactory,
    ProviderFactory,
    ReminderFactory,
    TestOrderFactory,
)
from tests.url_rules import ADMIN, FD, MD, RN, RULES


def role_users() -> dict:
    """One user per staff role; the physician's login is linked to no provider yet."""
    return {
        FD: make_user("u-fd", roles.FRONT_DESK),
        RN: make_user("u-rn", roles.NURSE),
        MD: make_user("u-md", roles.PHYSICIAN),
        ADMIN: make_user("u-admin", roles.CLINIC_ADMIN, is_staff=True),
    }


def patient_world(
    outbox_dir: Path, *, physician=None, given: str, family: str, mrn: str, email: str
) -> dict:
    """The patient, their records and the arguments of every URL about them; `physician`
    (a user) is their provider's login, so the physician has a care relationship."""
    provider = ProviderFactory(user=physician)
    patient = PatientFactory(given_name=given, family_name=family, mrn=mrn, email=email)
    noon = clinic_datetime(clinic_today(), dt.time(12, 0))
    today = AppointmentFactory(
        patient=patient, provider=provider, start_at=noon, end_at=noon + dt.timedelta(hours=1)
    )
    started = AppointmentFactory(
        patient=patient,
        provider=provider,
        start_at=noon - dt.timedelta(hours=2),
        end_at=noon - dt.timedelta(hours=1),
        status=Appointment.Status.IN_PROCEDURE,
    )
    order = TestOrderFactory(
        appointment=AppointmentFactory(
            patient=patient,
            provider=provider,
            status=Appointment.Status.COMPLETED,
            start_at=noon - dt.timedelta(days=2),
            end_at=noon - dt.timedelta(days=2, hours=-1),
        )
    )
    entry = WaitlistEntry.objects.create(patient=patient, procedure_type=today.procedure_type)
    task = FrontDeskTask.objects.create(
        appointment=today, kind=FrontDeskTask.Kind.TRANSPORT, due_date=clinic_today()
    )
    reminder = ReminderFactory(appointment=today)
    before = set(outbox_dir.glob("*.eml"))
    EmailMessage(
        "Your appointment",
        f"Dear {given} {family}, see you soon.",
        to=[patient.email],
        headers={"Message-ID": message_id_for(reminder)},
    ).send()
    (outbox_file,) = set(outbox_dir.glob("*.eml")) - before
    allergy = Allergy.objects.create(
        patient=patient, substance=Allergy.Substance.LATEX, reaction="Rash", severity="mild"
    )
    leave = Unavailability.objects.create(
        provider=provider,
        starts_at=noon + dt.timedelta(days=30),
        ends_at=noon + dt.timedelta(days=31),
        reason=Unavailability.Reason.choices[0][0],
    )
    closure = ClinicHoliday.objects.create(
        date=clinic_today() + dt.timedelta(days=60 + ClinicHoliday.objects.count()),
        name="Staff training",
    )
    lab = Lab.objects.get_or_create(
        name="Genetics lab",
        defaults={
            "protocol": Lab.Protocol.OML,
            "host": "127.0.0.1",
            "port": 9,
            "sending_application": "GENLAB",
        },
    )[0]
    order_message = LabOrderMessage.objects.create(
        order=order, lab=lab, control_id=f"O{order.pk}", status="failed"
    )
    unmatched = LabInboundMessage.objects.create(
        lab=lab,
        transport=LabInboundMessage.Transport.MLLP,
        control_id=f"I{order.pk}",
        raw="MSH|^~\\&|GENLAB",
        ack_code="AA",
        match_status=LabInboundMessage.MatchStatus.OPEN,
        reason="no order with placer number 0",
    )
    args = {
        "outbox_detail": [outbox_file.name],
        "outbox_html": [outbox_file.name],
        "procedures:waitlist_remove": [entry.pk],
        "procedures:waitlist_offer": [entry.pk],
        "procedures:result_log": [order.pk],
        "procedures:result_review": [order.pk],
        "procedures:result_communicate": [order.pk],
        "procedures:order_sent": [order.pk],
        "procedures:order_reassign": [order.pk],
        "procedures:order_cancel": [order.pk],
        "procedures:order_replace": [order.pk],
        "procedures:labs:structured_result": [order.pk],
        "procedures:labs:order_labels": [order.pk],
        "procedures:result_pdf": [order.pk + 1000],
        "procedures:procedure_complete": [started.pk],
        "procedures:prep_task_done": [task.pk],
        "procedures:reminder_resend": [reminder.pk],
        "procedures:reminder_resolve": [reminder.pk],
        "procedures:patient_link": ["escort", "not-a-valid-token"],
        "emergency_access": [patient.pk],
        "procedures:hours_detail": ["physician", provider.pk],
        "procedures:hours_leave_add": ["physician", provider.pk],
        "procedures:hours_leave_remove": ["physician", provider.pk, leave.pk],
        "procedures:hours_closure_remove": [closure.pk],
        "procedures:operations_csv": ["rooms"],
        "patients:allergy_remove": [patient.pk, allergy.pk],
        "procedures:labs:unmatched_detail": [unmatched.pk],
        "procedures:labs:unmatched_match": [unmatched.pk],
        "procedures:labs:unmatched_reject": [unmatched.pk],
        "procedures:labs:order_message_retry": [order_message.pk],
        "procedures:labs:order_message_resolve": [order_message.pk],
    }
    for name in RULES:
        if name in args:
            continue
        try:
            reverse(name)
        except NoReverseMatch:  # a page about one record: the patient's, or the visit's
            args[name] = [patient.pk] if name.startswith("patients:") else [today.pk]
    return {
        "patient": patient,
        "provider": provider,
        "today": today,
        "started": started,
        "order": order,
        "entry": entry,
        "task": task,
        "reminder": reminder,
        "allergy": allergy,
        "leave": leave,
        "closure": closure,
        "unmatched": unmatched,
        "args": args,
    }
