"""Orders out: marking the sample sent writes one outbox row; the dispatcher sends
it to a lab listening on a real socket (MLLP, or FHIR over HTTP) and records the
lab's answer; failures wait for staff."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import hl7
import pytest
from django.utils import timezone

from conftest import free_port
from procedures.labs import mllp
from procedures.labs.models import Lab, LabOrderMessage
from procedures.labs.outbound import lab_orders_claim, lab_orders_dispatch
from procedures.labs.tests.conftest import make_order
from procedures.results.models import TestOrder
from procedures.workflows.results import order_sent

pytestmark = pytest.mark.services


class FakeLab:
    """A lab's MLLP endpoint: keeps each message, answers with `answer`."""

    def __init__(self, answer="AA"):
        self.answer, self.received = answer, []
        self.server = mllp.Listener("127.0.0.1", free_port(), 1, self.receive)

    def receive(self, *, raw, peer):
        message = hl7.parse(raw.decode())
        self.received.append(message)
        ack = message.create_ack(self.answer, message_id="LAB1")
        if self.answer != "AA":
            return (str(ack).rstrip("\r") + "|bad specimen type\rERR|||207\r").encode()
        return str(ack).encode()

    def __enter__(self):
        self.thread = threading.Thread(target=asyncio.run, args=(self.server.serve(),))
        self.thread.start()
        assert self.server.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self.server.stop()
        self.thread.join(10)


def sent_order(lab, **kwargs):
    order = make_order(lab, **kwargs)
    TestOrder.objects.filter(pk=order.pk).update(status=TestOrder.Status.COLLECTED)
    order_sent(order_id=order.pk, sent_at=timezone.now(), accession_number="", by=None)
    return order


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("protocol,structure", [("hl7v2-oml", "OML^O21"), ("hl7v2-orm", "ORM^O01")])
def test_it_sends_the_order_over_mllp_and_records_the_ack(postgres, lab, protocol, structure):
    with FakeLab() as fake:
        Lab.objects.filter(pk=lab.pk).update(protocol=protocol, port=fake.server.port)
        order = sent_order(lab)
        assert LabOrderMessage.objects.filter(order=order).count() == 1
        report = lab_orders_dispatch()
    assert report.sent == 1
    [message] = fake.received
    assert str(message.segment("MSH")[9]).startswith(structure)
    assert str(message["OBR.F2.R1.C1"]) == str(order.pk)  # placer order number = our id
    assert str(message["PID.F3.R1.C1"]) == order.appointment.patient.mrn
    assert bool(list(message.segments("SPM"))) if structure == "OML^O21" else True
    row = LabOrderMessage.objects.get(order=order)
    assert row.status == "sent" and row.ack_code == "AA"
    assert lab_orders_dispatch().claimed == 0  # never doubled


@pytest.mark.django_db(transaction=True)
def test_it_shows_a_refused_order_to_staff(postgres, lab, client, nurse_user):
    with FakeLab(answer="AR") as fake:
        Lab.objects.filter(pk=lab.pk).update(port=fake.server.port)
        order = sent_order(lab)
        lab_orders_dispatch()
    row = LabOrderMessage.objects.get(order=order)
    assert row.status == "failed" and row.ack_code == "AR"
    client.force_login(nurse_user)
    page = client.get("/labs/order-messages/").content.decode()
    assert "bad specimen type" in page
    client.post(f"/labs/order-messages/{row.pk}/retry/")
    row.refresh_from_db()
    assert row.status == "pending" and row.attempts == 0


@pytest.mark.django_db(transaction=True)
def test_it_retries_when_the_lab_is_down_and_keeps_the_control_id(postgres, lab):
    Lab.objects.filter(pk=lab.pk).update(port=free_port())  # nobody listening
    order = sent_order(lab)
    report = lab_orders_dispatch()
    assert report.retried == 1
    row = LabOrderMessage.objects.get(order=order)
    assert row.status == "pending" and row.next_attempt_at > timezone.now()
    assert "ConnectionRefused" in row.last_error
    control_id = row.control_id
    with FakeLab() as fake:
        Lab.objects.filter(pk=lab.pk).update(port=fake.server.port)
        LabOrderMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        lab_orders_dispatch()
    assert str(fake.received[0]["MSH.F10"]) == control_id


@pytest.mark.django_db(transaction=True)
def test_it_skips_rows_another_dispatcher_holds(postgres, lab):
    sent_order(lab)
    first = lab_orders_claim(now=timezone.now())
    assert len(first) == 1
    assert lab_orders_claim(now=timezone.now()) == []  # `sending` under a lease


@pytest.mark.django_db(transaction=True)
def test_it_posts_a_fhir_bundle_with_servicerequest_and_specimen(postgres, lab):
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(
                (
                    self.headers["Authorization"],
                    json.loads(self.rfile.read(int(self.headers["Content-Length"]))),
                )
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            self.wfile.write(b'{"resourceType":"Bundle","type":"transaction-response"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        Lab.objects.filter(pk=lab.pk).update(
            protocol="fhir",
            base_url=f"http://127.0.0.1:{server.server_port}/fhir",
            outbound_token="t0k",
        )
        order = sent_order(lab)
        assert lab_orders_dispatch().sent == 1
    finally:
        server.shutdown()
        thread.join()
    [(auth, bundle)] = received
    assert auth == "Bearer t0k"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Patient", "Specimen", "ServiceRequest"]
    request = bundle["entry"][2]["resource"]
    assert request["identifier"][0]["value"] == str(order.pk)
    assert request["specimen"][0]["reference"] == bundle["entry"][1]["fullUrl"]
    assert LabOrderMessage.objects.get(order=order).ack_code == "200"
