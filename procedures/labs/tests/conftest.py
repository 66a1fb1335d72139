"""Fixtures of the lab interface tests: a lab, a sent order, a running MLLP
listener on a real socket, and a builder of ORU^R01 messages as labs send them."""

import asyncio
import threading
from datetime import date

import hl7
import pytest

from conftest import free_port
from patients.tests.factories import PatientFactory
from procedures.labs import inbound, mllp
from procedures.labs.inbound import lab_message_receive
from procedures.labs.models import Lab, LabTestCode, ResultKind
from procedures.results.models import TestOrder
from procedures.tests.factories import AppointmentFactory, TestOrderFactory, TestTypeFactory


@pytest.fixture(autouse=True)
def _fresh_caches():
    """The listener caches the sender's lab and its own user per process; each
    test has its own database rows."""
    inbound._labs.clear()
    inbound._interface_user = None
    yield
    inbound._labs.clear()
    inbound._interface_user = None


@pytest.fixture
def lab(db):
    return Lab.objects.create(
        name="Genetics lab",
        protocol=Lab.Protocol.OML,
        host="127.0.0.1",
        port=9,
        sending_application="GENLAB",
        sending_facility="GEN",
    )


def make_order(lab, kind=ResultKind.CYTOGENETICS, code="CYTO", **patient):
    patient = PatientFactory(
        **{"given_name": "Jane", "family_name": "Doe", "date_of_birth": date(1980, 1, 2), **patient}
    )
    test_type = TestTypeFactory(code=f"t-{kind}-{patient.mrn}", name=f"{kind} test")
    LabTestCode.objects.create(test_type=test_type, lab=lab, code=code, kind=kind)
    return TestOrderFactory(
        appointment=AppointmentFactory(patient=patient, status="completed"),
        test_type=test_type,
        status=TestOrder.Status.SENT,
    )


@pytest.fixture
def order(lab):
    return make_order(lab)


def obr(*, placer="", filler="", status="F") -> str:
    """An OBR with placer (2), filler (3), test (4), observed at (7), reported at
    (22), section (24) and result status (25)."""
    fields = [""] * 26
    fields[0], fields[1], fields[2], fields[3] = "OBR", "1", placer, filler
    fields[4], fields[7], fields[22] = "CYTO^Karyotype^L", "20250101", "20250101"
    fields[24], fields[25] = "CG", status
    return "|".join(fields)


def oru(
    order=None,
    *,
    control_id="MSG1",
    status="F",
    obx=("OBX|1|ST|CYTO-ISCN^Karyotype^99CLN||46,XX[20]||||||F",),
    pid=None,
    placer=None,
    filler="",
    app="GENLAB",
    facility="GEN",
    version="2.5.1",
    charset="",
    extra=(),
    sep="\r",
) -> str:
    """An ORU^R01 for `order`'s patient (or `pid`), as a lab would write it."""
    if pid is None:
        p = order.appointment.patient
        name = f"{p.family_name}^{p.given_name}"
        pid = f"PID|1||{p.mrn}^^^CLINIC^MR||{name}||{p.date_of_birth:%Y%m%d}|F"
    placer = str(order.pk) if placer is None and order else (placer or "")
    segments = [
        f"MSH|^~\\&|{app}|{facility}|CLINIC|CLINIC|20250101120000||ORU^R01^ORU_R01|{control_id}"
        f"|P|{version}||||||{charset}",
        pid,
        f"ORC|RE|{placer}^CLINIC|{filler}",
        obr(placer=f"{placer}^CLINIC", filler=filler, status=status),
        *obx,
        *extra,
    ]
    return sep.join(segments) + sep


@pytest.fixture
def listener(postgres, transactional_db):
    """The MLLP listener on a free port, in a thread of this process."""
    server = mllp.Listener("127.0.0.1", free_port(), 2, lab_message_receive)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    assert server.ready.wait(10)
    yield server
    server.stop()
    thread.join(10)


def send(listener, *messages, encoding="utf-8") -> list[str]:
    """Send each message over one connection; the ACKs, decoded."""
    payloads = [m if isinstance(m, bytes) else m.encode(encoding) for m in messages]
    return [r.decode("utf-8") for r in mllp.exchange("127.0.0.1", listener.port, payloads)]


def msa(ack: str) -> list[str]:
    """MSA's fields, unescaped: ["MSA", code, control id, text]."""
    message = hl7.parse(ack)
    segment = message.segment("MSA")
    return [message.unescape(str(segment[i])) if len(segment) > i else "" for i in range(4)]
