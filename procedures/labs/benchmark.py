"""The lab listener's benchmark (manage.py benchmark_labs): result messages a
second accepted and committed, how long each ACK took, and the listener's memory.

For each number of connections asked for, writes throwaway rows (one patient, its
cancelled appointments, orders of eight benchmark test types, a benchmark lab),
counts the queries of one message taken in this process, starts `manage.py
mllp_listener` as a process of its own, sends every message over that many
connections at once (each connection waits for its ACK before sending the next,
as a lab does), counts what was committed, and deletes its rows again.
"""

import asyncio
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import psutil
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hl7.mllp import open_hl7_connection

from patients.models import Patient
from procedures.catalog.models import ProcedureType, TestType
from procedures.catalog.resources import Provider, Room
from procedures.labs.inbound import lab_message_receive
from procedures.labs.models import Lab, LabInboundMessage, LabTestCode, ResultKind
from procedures.results.models import TestOrder, TestResult
from procedures.scheduling.models import Appointment

TYPES = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fixture(count: int) -> tuple[Lab, Patient, list[TestType], list[TestOrder]]:
    procedure_type = ProcedureType.objects.first()
    provider, room = Provider.objects.first(), Room.objects.first()
    if not (procedure_type and provider and room):
        raise RuntimeError("No catalog yet: run `manage.py seed_demo` first.")
    stamp = time.time_ns() % 10**10
    with transaction.atomic():
        lab = Lab.objects.create(
            name=f"Benchmark lab {stamp}",
            protocol=Lab.Protocol.OML,
            host="127.0.0.1",
            port=9,
            sending_application=f"BENCH{stamp}",
        )
        patient = Patient.objects.create(
            mrn=f"B{stamp}", given_name="Bench", family_name="Mark", date_of_birth=date(1970, 1, 1)
        )
        types = []
        for n in range(TYPES):
            test_type = TestType.objects.create(
                code=f"bench-{stamp}-{n}",
                name=f"Benchmark test {n}",
                turnaround_target_days=2,
                turnaround_max_days=5,
            )
            LabTestCode.objects.create(
                test_type=test_type, lab=lab, code=f"B{n}", kind=ResultKind.CYTOGENETICS
            )
            types.append(test_type)
        orders = []
        start = timezone.now() + timedelta(days=500)
        for n in range(math.ceil(count / TYPES)):
            appointment = Appointment.objects.create(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                room=room,
                start_at=start + timedelta(hours=n),
                end_at=start + timedelta(hours=n, minutes=30),
                status=Appointment.Status.CANCELLED,  # holds no slot
            )
            orders += [
                TestOrder(
                    appointment=appointment,
                    site=room.site,
                    test_type=t,
                    status=TestOrder.Status.SENT,
                    collected_at=timezone.now(),
                    expected_by=timezone.localdate() + timedelta(days=3),
                )
                for t in types
            ]
        orders = TestOrder.objects.bulk_create(orders[:count])
    return lab, patient, types, orders


def _cleanup(lab: Lab, patient: Patient, types: list[TestType]) -> None:
    with transaction.atomic():
        orders = TestOrder.objects.filter(test_type__in=types)
        LabInboundMessage.objects.filter(lab=lab).delete()
        TestResult.objects.filter(order__in=orders).delete()
        appointments = Appointment.objects.filter(patient=patient)
        orders.delete()
        appointments.delete()
        patient.delete()
        LabTestCode.objects.filter(lab=lab).delete()
        for t in types:
            t.delete()
        lab.delete()


def _message(lab: Lab, patient: Patient, order: TestOrder, n: int, prefix: str = "BM") -> bytes:
    obr = [""] * 26
    obr[0:4] = ["OBR", "1", f"{order.pk}^CLINIC", f"BA{order.pk}"]
    obr[25] = "F"
    return (
        f"MSH|^~\\&|{lab.sending_application}||CLINIC|CLINIC|20250101||ORU^R01^ORU_R01|"
        f"{prefix}{lab.pk}-{n}|P|2.5.1\r"
        f"PID|1||{patient.mrn}^^^CLINIC^MR||Mark^Bench||19700101\r"
        + "|".join(obr)
        + "\rOBX|1|ST|CYTO-ISCN^Karyotype^99CLN||46,XY[20]||||||F\r"
        "OBX|2|NM|CYTO-META^Metaphases^99CLN||20||||||F\r"
    ).encode()


def _start_listener(port: int, workers: int, processes: int) -> subprocess.Popen:
    process = subprocess.Popen(  # noqa: S603 (our own manage.py)
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "mllp_listener",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--processes",
            str(processes),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    started = 0
    stderr = process.stderr
    assert stderr is not None  # noqa: S101 (stderr=PIPE above)
    for line in stderr:  # each process logs this line once it accepts connections
        if "MLLP listener on" in line:
            started += 1
            if started == processes:
                threading.Thread(target=stderr.read, daemon=True).start()
                return process
    raise RuntimeError("the listener did not start")


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of the listener and its forked processes, added up. PSS shares
    each page among the processes that map it: the memory the listener costs."""
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    rss = pss = 0
    for proc in tree:
        info = proc.memory_full_info()
        rss, pss = rss + info.rss, pss + info.pss
    return rss, pss


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of the listener's process tree so far."""
    tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return sum(p.cpu_times().user + p.cpu_times().system for p in tree)


async def _send_timed(
    port: int, payloads: list[bytes], timeout: float
) -> list[tuple[bytes, float]]:
    """Send each message over one connection as a lab does (the next one after the
    ACK of the last); each ACK with the seconds it took."""
    reader, writer = await asyncio.wait_for(open_hl7_connection("127.0.0.1", port), timeout)
    out = []
    try:
        for payload in payloads:
            sent = time.perf_counter()
            writer.writeblock(payload)
            await writer.drain()
            reply = await asyncio.wait_for(reader.readblock(), timeout)
            out.append((bytes(reply), time.perf_counter() - sent))
    finally:
        writer.close()
    return out


def _queries_per_message(lab: Lab, patient: Patient, orders: list[TestOrder]) -> int:
    """The statements one result message costs once the sender's lab is known,
    taken in this process (BEGIN and COMMIT included); pinned by
    procedures/labs/tests/test_inbound_queries.py."""
    warm, measured = orders
    lab_message_receive(raw=_message(lab, patient, warm, 0, prefix="QW"), peer="benchmark")
    with CaptureQueriesContext(connection) as queries:
        lab_message_receive(raw=_message(lab, patient, measured, 0, prefix="QC"), peer="benchmark")
    return len(queries.captured_queries)


def run(*, count: int, connections: list[int], workers: int, processes: int = 1) -> dict[str, Any]:
    """One run per number of connections; `ok` when every run committed every
    message once with the listener under 150 MB, and one of them reached 100/s."""
    load_before = os.getloadavg()
    runs = [_run_one(count, n, workers, processes) for n in connections]
    best = max(r["messages_per_second"] for r in runs)
    all_right = all(r["all_committed_once"] and r["listener_rss_mb_peak"] < 150 for r in runs)
    return {
        "messages_per_run": count,
        "listener_processes": processes,
        "listener_workers_per_process": workers,
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "target_messages_per_second": 100,
        "target_rss_mb": 150,
        "best_messages_per_second": best,
        "runs": runs,
        "ok": all_right and best >= 100,
    }


def _run_one(count: int, connections: int, workers: int, processes: int) -> dict[str, Any]:
    lab, patient, types, orders = _fixture(count + 2)
    try:
        queries = _queries_per_message(lab, patient, orders[-2:])
        return {
            "queries_per_message": queries,
            **_measure(lab, patient, orders[:count], connections, workers, processes),
        }
    finally:
        _cleanup(lab, patient, types)


def _measure(
    lab: Lab,
    patient: Patient,
    orders: list[TestOrder],
    connections: int,
    workers: int,
    processes: int,
) -> dict[str, Any]:
    count = len(orders)
    port = free_port()
    listener = _start_listener(port, workers, processes)
    peak = {"rss": 0, "pss": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            rss, pss = _memory(listener.pid)
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)

    sampler = threading.Thread(target=sample)
    sampler.start()
    messages = [_message(lab, patient, order, n) for n, order in enumerate(orders)]
    chunks = [messages[i::connections] for i in range(connections)]
    try:
        cpu_before = _cpu_seconds(listener.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            timed = [
                pair
                for chunk in pool.map(lambda c: asyncio.run(_send_timed(port, c, 30)), chunks)
                for pair in chunk
            ]
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(listener.pid) - cpu_before
        final_rss, final_pss = _memory(listener.pid)
    finally:
        done.set()
        sampler.join()
        listener.terminate()
        listener.wait(10)
    accepted = sum(1 for ack, _ in timed if b"MSA|AA|" in ack)
    committed = LabInboundMessage.objects.filter(
        lab=lab, match_status="attached", control_id__startswith="BM"
    ).count()
    results = TestResult.objects.filter(order__in=[o.pk for o in orders]).count()
    latencies = sorted(seconds for _, seconds in timed)
    rate = committed / elapsed
    rss_mb = max(peak["rss"], final_rss) / 2**20
    pss_mb = max(peak["pss"], final_pss) / 2**20
    return {
        "connections": connections,
        "seconds": round(elapsed, 3),
        "acks_aa": accepted,
        "committed_inbound_rows": committed,
        "committed_results": results,
        "all_committed_once": accepted == committed == results == count,
        "messages_per_second": round(rate, 1),
        "ack_ms_p50": round(statistics.median(latencies) * 1000, 1),
        "ack_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        "listener_cpu_ms_per_message": round(cpu / count * 1000, 2),
        "listener_rss_mb_peak": round(rss_mb, 1),
        "listener_pss_mb_peak": round(pss_mb, 1),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }
