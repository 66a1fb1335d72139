"""Who may open what: every URL pattern of the project, for every role and for
anonymous visitors, as declared in tests/url_rules.py. A URL added without a rule
there fails `test_it_declares_a_rule_for_every_url`."""

import pytest
from django.urls import reverse

from clinic import roles
from conftest import make_user
from procedures.scheduling.waitlist_models import WaitlistEntry
from procedures.tests.factories import AppointmentFactory, TestOrderFactory
from tests.url_rules import (
    ADMIN,
    ANON,
    FD,
    LOGIN,
    MD,
    PATIENT_LINK,
    RN,
    RULES,
    project_url_names,
)


def test_it_declares_a_rule_for_every_url():
    names = set(project_url_names())
    assert names - set(RULES) == set(), "add these URLs to RULES with who may open them"
    assert set(RULES) - names == set(), "these RULES name URLs that no longer exist"


@pytest.fixture
def outbox_message(settings, tmp_path):
    from django.core.mail import EmailMessage

    settings.DEBUG = True
    settings.EMAIL_BACKEND = "clinic.mail.LocalOutboxBackend"
    settings.CLINIC_OUTBOX_DIR = tmp_path
    EmailMessage("Hello", "Body", to=["p@example.com"]).send()
    return next(tmp_path.glob("*.eml")).name


# The operations dashboard reads from the `replica` alias (clinic/db_routers.py).
@pytest.mark.django_db(databases=["default", "replica"])
def test_it_answers_each_role_as_declared(client, outbox_message):
    order = TestOrderFactory()
    appointment = AppointmentFactory()
    patient = appointment.patient
    waitlist_entry = WaitlistEntry.objects.create(
        patient=patient, procedure_type=appointment.procedure_type
    )
    args = {
        "outbox_detail": [outbox_message],
        "outbox_html": [outbox_message],
        "patients:detail": [patient.pk],
        "patients:update": [patient.pk],
        "patients:clinical": [patient.pk],
        "patients:allergy_add": [patient.pk],
        "patients:allergy_none": [patient.pk],
        "patients:allergy_remove": [patient.pk, 1],
        "patients:bloods_add": [patient.pk],
        "patients:bleeding_disorder_set": [patient.pk],
        "procedures:appointment_detail": [appointment.pk],
        "procedures:appointment_complete": [appointment.pk],
        "procedures:appointment_cancel": [appointment.pk],
        "procedures:appointment_confirm": [appointment.pk],
        "procedures:appointment_check_in": [appointment.pk],
        "procedures:appointment_check_in_undo": [appointment.pk],
        "procedures:appointment_start": [appointment.pk],
        "procedures:appointment_no_show": [appointment.pk],
        "procedures:appointment_reschedule": [appointment.pk],
        "procedures:waitlist_remove": [waitlist_entry.pk],
        "procedures:waitlist_offer": [waitlist_entry.pk],
        "procedures:result_log": [order.pk],
        "procedures:result_review": [order.pk],
        "procedures:result_communicate": [order.pk],
        "procedures:order_sent": [order.pk],
        "procedures:order_reassign": [order.pk],
        "procedures:order_cancel": [order.pk],
        "procedures:order_replace": [order.pk],
        "procedures:result_pdf": [order.pk + 1000],
        "procedures:procedure_complete": [appointment.pk],
        "procedures:prep_detail": [appointment.pk],
        "procedures:prep_print": [appointment.pk],
        "procedures:prep_medication_add": [appointment.pk],
        "procedures:prep_hold_set": [appointment.pk],
        "procedures:prep_hold_confirm": [appointment.pk],
        "procedures:prep_sedation": [appointment.pk],
        "procedures:prep_transport": [appointment.pk],
        "procedures:prep_site": [appointment.pk],
        "procedures:prep_checklist_tick": [appointment.pk],
        "procedures:day_checklist_tick": [appointment.pk],
        "procedures:prep_task_done": [appointment.pk],
        "procedures:hours_detail": ["physician", appointment.provider_id],
        "procedures:hours_leave_add": ["physician", appointment.provider_id],
        "procedures:hours_leave_remove": ["physician", appointment.provider_id, 1],
        "procedures:hours_closure_remove": [1],
        "emergency_access": [patient.pk],
        "procedures:reminder_resend": [1],
        "procedures:reminder_resolve": [1],
        "procedures:patient_link": ["escort", "not-a-valid-token"],
        "procedures:labs:unmatched_detail": [1],
        "procedures:labs:unmatched_match": [1],
        "procedures:labs:unmatched_reject": [1],
        "procedures:labs:order_message_retry": [1],
        "procedures:labs:order_message_resolve": [1],
        "procedures:labs:structured_result": [order.pk],
        "procedures:labs:order_labels": [order.pk],
        "procedures:labs:requisition": [appointment.pk],
        "procedures:operations_csv": ["rooms"],
    }
    users = {
        ANON: None,
        FD: make_user("u-fd", FD),
        RN: make_user("u-rn", RN),
        MD: make_user("u-md", MD),
        # A clinic admin by role, not a superuser: the role alone must decide.
        ADMIN: make_user("u-admin", roles.CLINIC_ADMIN, is_staff=True),
    }
    wrong = []
    for who, user in users.items():
        client.logout()
        if user:
            client.force_login(user)
        for name, expected in RULES.items():
            url = reverse(name, args=args.get(name, []))
            response = client.get(url)
            want = expected[who]
            if want == LOGIN:
                ok = response.status_code == 302 and response["Location"].startswith(
                    reverse("login")
                )
            elif want == PATIENT_LINK:
                ok = response.status_code == 200 and b"This link cannot be used" in response.content
            elif want == "public":
                ok = response.status_code in (200, 503)
            else:
                ok = response.status_code == want
            if not ok:
                wrong.append(f"{who} GET {name}: {response.status_code}, expected {want}")
            # No template syntax printed as text (a {# #} comment is one line only).
            body = b"" if response.streaming else response.content
            if b"{#" in body or b"{%" in body:
                wrong.append(f"{who} GET {name}: template syntax printed on the page")
    assert wrong == []
