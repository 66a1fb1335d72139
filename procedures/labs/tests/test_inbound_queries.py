"""What one result message costs the database (pinned; docs/performance.md), and
the listener's cache of senders following a change to the lab at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from procedures.labs.inbound import lab_message_receive
from procedures.labs.models import LabInboundMessage, LabResultData, ResultKind
from procedures.labs.tests.conftest import make_order, msa, oru
from procedures.results.models import TestOrder, TestResult

# One transaction a message (in a test, SAVEPOINT/RELEASE instead of BEGIN/COMMIT):
#  2  its begin and commit
#  1  the match: the order with its test's lab code and its patient, one joined read
#  9  result_log: its savepoint and release, the order locked, the timeline event,
#     the result and its audit entry, the audit log's read of the order before the
#     update and its entry, the order's update (state, final_at, the review clock)
#  1  the structured findings (every observation in one JSON row)
#  1  the lab's accession number, the first time the lab gives it
#  1  the inbound row (its unique control id is what makes a second copy one result)
PER_MESSAGE = 15
NGS_OBX = tuple(
    f"OBX|{n}|ST|NGS-{field}^{field}^99CLN|{row}|{value}||||||F"
    for row in (1, 2, 3)
    for n, (field, value) in enumerate(
        (("GENE", "JAK2"), ("HGVSC", "c.1849G>T"), ("HGVSP", "p.V617F"), ("VAF", "43")),
        start=1,
    )
)


def _queries(message: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        ack = lab_message_receive(raw=message.encode(), peer="test").decode()
    return len(queries.captured_queries), ack


@pytest.mark.services
def test_a_result_costs_the_same_queries_whatever_its_size(postgres, lab):
    warm = make_order(lab)
    _queries(oru(warm, control_id="WARM"))  # the sender's lab and our user, once a process
    small = make_order(lab)
    big = make_order(lab, kind=ResultKind.NGS, code="NGS")

    count, ack = _queries(oru(small, control_id="S1", filler="ACC-S1"))
    assert msa(ack)[1] == "AA"
    assert count == PER_MESSAGE
    count, ack = _queries(oru(big, control_id="B1", filler="ACC-B1", obx=NGS_OBX))
    assert msa(ack)[1] == "AA"
    assert count == PER_MESSAGE
    assert len(LabResultData.objects.get(result__order=big).data["variants"]) == 3


@pytest.mark.services
def test_a_copy_costs_its_rolled_back_attempt_and_one_read(postgres, lab, order):
    _queries(oru(order, control_id="C1", status="P"))
    count, ack = _queries(oru(order, control_id="C1", status="P"))
    assert msa(ack)[1] == "AA"
    # The attempt (without the accession update: no filler) fails at the inbound
    # row's insert and rolls back; then the first answer is read back.
    assert count == PER_MESSAGE - 1 + 1
    assert TestResult.objects.filter(order=order).count() == 1
    assert LabInboundMessage.objects.count() == 1


@pytest.mark.services
def test_a_lab_switched_off_is_refused_from_its_next_message(postgres, lab):
    first, second = make_order(lab), make_order(lab)
    assert msa(lab_message_receive(raw=oru(first, control_id="L1").encode()).decode())[1] == "AA"
    lab.is_active = False
    lab.save()
    ack = lab_message_receive(raw=oru(second, control_id="L2").encode()).decode()
    assert msa(ack)[1] == "AR"
    assert "not a lab we know" in msa(ack)[3]
    second.refresh_from_db()
    assert second.status == TestOrder.Status.SENT
    lab.is_active = True
    lab.save()
    assert msa(lab_message_receive(raw=oru(second, control_id="L3").encode()).decode())[1] == "AA"
