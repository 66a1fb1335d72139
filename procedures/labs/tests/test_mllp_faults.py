"""What labs really send, over a real socket to the running listener: each
message gets the right ACK, nothing is lost, nothing reaches the wrong patient."""

import socket
import threading

import pytest

from procedures.labs.models import LabInboundMessage, LabResultData, ResultKind
from procedures.labs.tests.conftest import make_order, msa, obr, oru, send
from procedures.results.models import TestOrder, TestResult

pytestmark = pytest.mark.services


def test_it_attaches_a_final_result_and_answers_aa(listener, order):
    [ack] = send(listener, oru(order))
    assert msa(ack)[1:3] == ["AA", "MSG1"]
    order.refresh_from_db()
    assert order.status == TestOrder.Status.FINAL
    data = LabResultData.objects.get(result__order=order)
    assert data.data == {"karyotype": "46,XX[20]", "metaphases": 20}
    assert data.source == "hl7"


def test_it_unescapes_field_component_subcomponent_repetition_and_escape(listener, lab):
    order = make_order(lab, kind=ResultKind.FISH, code="FISH")
    obx = (
        "OBX|1|ST|FISH-PROBE^Probe^99CLN||BCR\\T\\ABL1 \\F\\ dual fusion||||||F",
        "OBX|2|ST|FISH-RES^Result^99CLN||nuc ish(ABL1,BCR)x3(ABL1 con BCR)x2"
        " \\S\\ \\R\\ \\E\\||||||F",
    )
    [ack] = send(listener, oru(order, obx=obx))
    assert msa(ack)[1] == "AA"
    data = LabResultData.objects.get(result__order=order).data
    assert data["probe"] == "BCR&ABL1 | dual fusion"
    assert data["result"] == "nuc ish(ABL1,BCR)x3(ABL1 con BCR)x2 ^ ~ \\"


def test_it_reads_repetitions_and_rows_grouped_by_sub_id(listener, lab):
    order = make_order(lab, kind=ResultKind.NGS, code="NGS")
    obx = (
        "OBX|1|ST|48018-6^Gene studied^LN|1|JAK2||||||F",
        "OBX|2|ST|48004-6^DNA change^LN|1|c.1849G>T||||||F",
        "OBX|3|ST|48005-3^Amino acid change^LN|1|p.V617F||||||F",
        "OBX|4|NM|81258-6^VAF^LN|1|0.43||||||F",
        "OBX|5|ST|NGS-TIER^Tier^99CLN|1|I||||||F",
        "OBX|6|ST|48018-6^Gene studied^LN|2|TET2||||||F",
        "OBX|7|ST|48004-6^DNA change^LN|2|c.3781C>T||||||F",
        "OBX|8|NM|81258-6^VAF^LN|2|12%||||||F",
        "OBX|9|TX|COMMENT^Comment^99CLN||first line~second line||||||F",
    )
    [ack] = send(listener, oru(order, obx=obx))
    assert msa(ack)[1] == "AA"
    variants = LabResultData.objects.get(result__order=order).data["variants"]
    assert [v["gene"] for v in variants] == ["JAK2", "TET2"]
    assert variants[0] == {
        "gene": "JAK2",
        "hgvs_c": "c.1849G>T",
        "hgvs_p": "p.V617F",
        "vaf": "43.0",
        "tier": "I",
    }
    assert "first line; second line" in TestResult.objects.get(order=order).report_text


def test_it_ignores_z_segments_and_keeps_them_in_the_raw_message(listener, order):
    [ack] = send(listener, oru(order, extra=("ZLB|1|internal lab note|X",)))
    assert msa(ack)[1] == "AA"
    assert "ZLB|1|internal lab note" in LabInboundMessage.objects.get().raw


def test_it_takes_a_minimal_v2_3_message_with_optional_fields_missing(listener, order):
    p = order.appointment.patient
    message = (
        "MSH|^~\\&|GENLAB|GEN|||||ORU^R01|MIN1|P|2.3\r"
        f"PID|||{p.mrn}||{p.family_name}\r"
        f"{obr(placer=str(order.pk), status='P')}\r"
        "OBX|1|ST|CYTO-ISCN||46,XX[20]\r"
    )
    [ack] = send(listener, message)
    assert msa(ack)[1] == "AA", ack
    order.refresh_from_db()
    assert order.status == TestOrder.Status.PRELIMINARY


def test_it_accepts_lf_instead_of_cr(listener, order):
    [ack] = send(listener, oru(order, sep="\n"))
    assert msa(ack)[1] == "AA"
    assert TestResult.objects.filter(order=order).count() == 1


def test_it_decodes_latin1_named_in_msh_18(listener, lab):
    order = make_order(lab, given_name="José", family_name="Müller")
    message = oru(order, charset="8859/1", extra=("NTE|1||Befund geprüft: Zellzahl ausreichend",))
    [ack] = send(listener, message, encoding="latin-1")
    assert msa(ack)[1] == "AA", ack
    assert "geprüft" in TestResult.objects.get(order=order).report_text


def test_it_refuses_bytes_that_are_not_the_named_charset(listener, order):
    # Latin-1 bytes sent without MSH-18: not UTF-8, and nothing says what they are.
    message = oru(order, extra=("NTE|1||geprüft",)).encode("latin-1")
    [ack] = send(listener, message)
    assert msa(ack)[1] == "AR"
    assert "MSH-18" in msa(ack)[3]
    assert not TestResult.objects.exists()
    assert LabInboundMessage.objects.get().match_status == "refused"


def test_it_parks_an_unknown_order_and_answers_ae(listener, order):
    [ack] = send(listener, oru(order, placer="999999"))
    assert msa(ack)[1] == "AE"
    assert "no order with placer number 999999" in msa(ack)[3]
    row = LabInboundMessage.objects.get()
    assert row.match_status == "open" and row.order is None
    assert not TestResult.objects.exists()


def test_it_never_attaches_to_another_patient(listener, lab, order):
    other = make_order(lab, given_name="Ann", family_name="Other")
    other_pid = other.appointment.patient
    pid = f"PID|1||{other_pid.mrn}^^^CLINIC^MR||Other^Ann||{other_pid.date_of_birth:%Y%m%d}"
    # The placer number is Jane's order; the patient named is Ann.
    [ack] = send(listener, oru(order, pid=pid))
    assert msa(ack)[1] == "AE"
    assert "another patient" in msa(ack)[3]
    assert not TestResult.objects.exists()


def test_it_treats_the_same_control_id_twice_as_one_result(listener, order):
    first, second = send(listener, oru(order), oru(order))
    assert msa(first)[1] == msa(second)[1] == "AA"
    assert TestResult.objects.filter(order=order).count() == 1
    assert LabInboundMessage.objects.count() == 1


def test_it_drops_a_frame_cut_mid_way_and_takes_the_resent_message(listener, order):
    whole = oru(order).encode()
    with socket.create_connection(("127.0.0.1", listener.port), timeout=5) as sock:
        sock.sendall(b"\x0b" + whole[: len(whole) // 2])
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""  # closed unanswered: nothing taken
    assert not LabInboundMessage.objects.exists()
    [ack] = send(listener, whole)
    assert msa(ack)[1] == "AA"
    assert TestResult.objects.filter(order=order).count() == 1


def test_it_refuses_an_unknown_sender_a_wrong_type_and_an_old_version(listener, order):
    acks = send(
        listener,
        oru(order, app="NOBODY", control_id="A"),
        oru(order, control_id="B").replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01"),
        oru(order, control_id="C", version="2.2"),
    )
    assert [msa(a)[1] for a in acks] == ["AR", "AR", "AR"]
    assert "not a lab we know" in msa(acks[0])[3]
    assert "ADT^A01" in msa(acks[1])[3]
    assert "2.2" in msa(acks[2])[3]
    assert not TestResult.objects.exists()


def test_it_makes_one_result_of_the_same_message_on_two_connections_at_once(listener, order):
    message = oru(order, control_id="RACE1")
    start = threading.Barrier(2)
    acks = []

    def send_once():
        start.wait(5)
        acks.extend(send(listener, message))

    threads = [threading.Thread(target=send_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [msa(a)[1] for a in acks] == ["AA", "AA"]
    assert TestResult.objects.filter(order=order).count() == 1
    assert LabInboundMessage.objects.filter(control_id="RACE1").count() == 1
