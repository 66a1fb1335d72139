"""Preliminary, final, corrected and cancelled-by-the-lab results move the order
through the results state machine; a correction after review reopens the review
and tells the responsible physician."""

import re

import hl7
import pytest

from conftest import make_user
from procedures.labs.inbound import lab_message_receive
from procedures.labs.models import LabInboundMessage
from procedures.labs.tests.conftest import make_order, oru
from procedures.results.models import TestOrder, TestResult
from procedures.tests.factories import ProviderFactory
from procedures.workflows.results import result_review

S = TestOrder.Status


def receive(message: str) -> tuple[str, str]:
    ack = hl7.parse(lab_message_receive(raw=message.encode()).decode())
    msa = ack.segment("MSA")
    return str(msa[1]), ack.unescape(str(msa[3]))


@pytest.mark.django_db
def test_it_moves_preliminary_then_final(order):
    assert receive(oru(order, control_id="1", status="P"))[0] == "AA"
    order.refresh_from_db()
    assert order.status == S.PRELIMINARY
    assert receive(oru(order, control_id="2", status="F"))[0] == "AA"
    order.refresh_from_db()
    assert order.status == S.FINAL and order.final_at
    assert TestResult.objects.filter(order=order).count() == 2


@pytest.mark.django_db(transaction=True)
def test_it_reopens_review_on_a_correction_and_tells_the_owner(lab, mailoutbox, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from clinic.celery import app

    app.conf.task_always_eager = True
    try:
        physician = make_user("owner", "physician", email="owner@clinic.example")
        order = make_order(lab)
        TestOrder.objects.filter(pk=order.pk).update(responsible=ProviderFactory(user=physician))
        receive(oru(order, control_id="1", status="F"))
        result_review(order_id=order.pk, action_planned="discuss at clinic", by=physician)
        code, _text = receive(
            oru(order, control_id="2", status="C", obx=("OBX|1|ST|CYTO-ISCN||47,XX,+8[20]||||||C",))
        )
    finally:
        app.conf.task_always_eager = False
    assert code == "AA"
    order.refresh_from_db()
    assert order.status == S.FINAL and order.reviewed_at is None  # review reopened
    latest = TestResult.objects.filter(order=order).first()
    assert latest.lab_findings.get().data["karyotype"] == "47,XX,+8[20]"
    assert latest.lab_findings.get().lab_status == "C"
    notice = next(m for m in mailoutbox if m.to == ["owner@clinic.example"])
    assert notice.subject == "A corrected lab result needs your review"
    assert f"/results/{order.pk}/" in notice.body
    # As a word: a random "Rivers" is inside "Riverside Procedure Clinic".
    name = re.escape(order.appointment.patient.family_name)
    assert not re.search(rf"\b{name}\b", notice.subject + notice.body)


@pytest.mark.django_db
def test_it_cancels_an_order_the_lab_cancelled(order):
    code, _text = receive(oru(order, status="X", obx=(), extra=("NTE|1||sample clotted",)))
    assert code == "AA"
    order.refresh_from_db()
    assert order.status == S.CANCELLED
    assert "sample clotted" in order.events.last().note


@pytest.mark.django_db
def test_it_parks_a_preliminary_after_a_final_with_the_reason(order):
    receive(oru(order, control_id="1", status="F"))
    code, text = receive(oru(order, control_id="2", status="P"))
    assert code == "AE"
    assert "amendment must be final" in text
    assert LabInboundMessage.objects.get(control_id="2").match_status == "open"


@pytest.mark.django_db
def test_it_parks_findings_that_do_not_fit_the_form(order):
    code, text = receive(oru(order, obx=("OBX|1|ST|CYTO-ISCN||46 XY twenty||||||F",)))
    assert code == "AE"
    assert "not an ISCN karyotype" in text
    assert not TestResult.objects.exists()
    order.refresh_from_db()
    assert order.status == S.SENT
