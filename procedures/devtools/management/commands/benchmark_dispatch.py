"""Benchmark the reminder dispatcher against a bare smtplib loop.

    python manage.py benchmark_dispatch --count 10000 [--json out.json]

Starts a local aiosmtpd server (in a process of its own, so that it competes
with neither side for the GIL), writes N due reminders for a throwaway
appointment, sends them through the dispatcher exactly as the worker does
(claim with a lease, render, send over one connection per batch, mark each
row sent), then sends the same N messages, rendered beforehand, through a bare
`smtplib` loop over one connection. Prints both rates, their ratio and the
p50/p99 dwell time from due to sent. Everything it wrote is deleted again.
"""

import json
import multiprocessing
import resource
import smtplib
import socket
import statistics
import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from patients.models import Patient
from procedures.catalog.models import ProcedureType
from procedures.catalog.resources import Provider, Room
from procedures.messaging.dispatch import reminders_dispatch
from procedures.messaging.mail import reminder_message
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment


def _serve(port: int, ready, accepted) -> None:
    """The SMTP sink: accepts everything, counts what it accepted."""
    import asyncio
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            with accepted.get_lock():
                accepted.value += 1
            return "250 OK"

    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    asyncio.run(asyncio.sleep(10**6))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Send N due reminders through the dispatcher and through bare smtplib; compare."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=10000)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--json", dest="json_path", default=None)

    def handle(self, *args, count: int, batch_size: int | None, json_path: str | None, **opts):
        if count < 1:
            raise CommandError("--count must be at least 1.")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        ready, accepted = multiprocessing.Event(), multiprocessing.Value("l", 0)
        server = multiprocessing.Process(target=_serve, args=(port, ready, accepted), daemon=True)
        server.start()
        if not ready.wait(timeout=30):
            raise CommandError("The local SMTP server did not start.")
        smtp = {
            "EMAIL_BACKEND": "clinic.mail.SMTPBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }
        appointment = self._fixture()
        try:
            with override_settings(**smtp):
                result = self._run(appointment, count, batch_size, port, accepted)
        finally:
            self._cleanup(appointment)
            server.terminate()
            server.join(timeout=10)
        self.stdout.write(
            f"database: {result['database']}   N = {count}   batch size = {result['batch_size']}\n"
            f"dispatcher: {result['dispatcher_rate']:.0f} msg/s "
            f"({result['dispatcher_seconds']:.2f} s, "
            f"CPU {result['dispatcher_cpu_seconds']:.2f} s)\n"
            f"bare smtplib: {result['bare_rate']:.0f} msg/s "
            f"({result['bare_seconds']:.2f} s, CPU {result['bare_cpu_seconds']:.2f} s)\n"
            f"ratio: {result['ratio']:.2f} (goal >= 0.5)\n"
            f"dwell due -> sent: p50 {result['dwell_p50']:.2f} s, p99 {result['dwell_p99']:.2f} s\n"
            f"peak RSS of this process: {result['peak_rss_mb']:.0f} MB"
        )
        if json_path:
            with open(json_path, "w") as handle:
                json.dump(result, handle, indent=2)

    def _fixture(self) -> Appointment:
        """A throwaway appointment far in the future (deleted afterwards)."""
        procedure_type = ProcedureType.objects.first()
        provider, room = Provider.objects.first(), Room.objects.first()
        if not (procedure_type and provider and room):
            raise CommandError("No catalog yet: run `manage.py seed_demo` first.")
        with transaction.atomic():
            patient = Patient.objects.create(
                mrn=f"BENCH{time.time_ns() % 10**12}",
                given_name="Bench",
                family_name="Mark",
                date_of_birth=timezone.localdate() - timedelta(days=365 * 40),
                email="bench@example.invalid",
            )
            start = timezone.now() + timedelta(days=400)
            return Appointment.objects.create(
                patient=patient,
                procedure_type=procedure_type,
                provider=provider,
                room=room,
                start_at=start,
                end_at=start + timedelta(hours=1),
                status=Appointment.Status.CANCELLED,  # holds no slot
            )

    def _cleanup(self, appointment: Appointment) -> None:
        patient = appointment.patient
        Reminder.objects.filter(appointment=appointment).delete()
        appointment.delete()
        patient.delete()

    def _run(self, appointment, count, batch_size, port, accepted) -> dict:
        batch_size = batch_size or settings.REMINDER_BATCH_SIZE
        # Cancellation notices go out for a cancelled appointment: a kind the dispatcher
        # sends with its .ics attachment, the heaviest message.
        due = timezone.now()
        Reminder.objects.bulk_create(
            Reminder(
                appointment=appointment,
                kind=Reminder.Kind.CANCELLATION,
                appointment_version=appointment.version,
                due_at=due,
            )
            for _ in range(count)
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        sent = 0
        while True:
            report = reminders_dispatch(batch_size=batch_size, max_batches=10**6)
            sent += report.sent
            if not report.claimed:
                break
        dispatcher_seconds = time.perf_counter() - started
        dispatcher_cpu = time.process_time() - cpu_started
        if sent != count:
            raise CommandError(f"The dispatcher sent {sent} of {count}.")
        dwell = [
            (sent_at - due).total_seconds()
            for sent_at in Reminder.objects.filter(appointment=appointment).values_list(
                "sent_at", flat=True
            )
        ]

        # The same messages for the bare loop, rendered before its clock starts.
        rows = Reminder.objects.filter(appointment=appointment).select_related(
            "appointment__patient", "appointment__procedure_type"
        )
        messages = [reminder_message(row).message().as_bytes(linesep="\r\n") for row in rows]
        sender, recipient = settings.DEFAULT_FROM_EMAIL, appointment.patient.email
        started, cpu_started = time.perf_counter(), time.process_time()
        with smtplib.SMTP("127.0.0.1", port) as connection:
            for message in messages:
                connection.sendmail(sender, [recipient], message)
        bare_seconds = time.perf_counter() - started
        bare_cpu = time.process_time() - cpu_started
        if accepted.value != 2 * count:
            raise CommandError(f"The server accepted {accepted.value} of {2 * count}.")

        from django.db import connection as db

        return {
            "database": db.vendor,
            "count": count,
            "batch_size": batch_size,
            "dispatcher_seconds": dispatcher_seconds,
            "dispatcher_rate": count / dispatcher_seconds,
            "bare_seconds": bare_seconds,
            "bare_rate": count / bare_seconds,
            "ratio": (count / dispatcher_seconds) / (count / bare_seconds),
            "dwell_p50": statistics.median(dwell),
            "dwell_p99": _percentile(dwell, 0.99),
            # This process's own CPU time (all its threads), not the SMTP server's.
            "dispatcher_cpu_seconds": dispatcher_cpu,
            "bare_cpu_seconds": bare_cpu,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
