"""Send an HL7 v2 message to the MLLP listener and print the ACK (see README)."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from procedures.labs import mllp
from procedures.labs.demo import demo_lab, example_oru
from procedures.results.models import TestOrder


class Command(BaseCommand):
    help = (
        "Send a message to the MLLP listener: a file (- for stdin), or with --order N an "
        "example ORU^R01 for that order from the demo lab. Prints the ACK."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="an HL7 v2 message (segments on lines)")
        parser.add_argument("--order", type=int, help="build an example result for this order")
        parser.add_argument(
            "--status", default="F", choices=["P", "F", "C", "X"], help="OBR-25 (default F)"
        )
        parser.add_argument("--host", default=settings.MLLP_HOST)
        parser.add_argument("--port", type=int, default=settings.MLLP_PORT)
        parser.add_argument("--encoding", default="utf-8")

    def handle(self, *args, file, order, status, host, port, encoding, **options):
        if order:
            order_row = (
                TestOrder.objects.select_related("appointment__patient", "test_type")
                .filter(pk=order)
                .first()
            )
            if order_row is None:
                raise CommandError(f"no order {order}")
            demo_lab()
            message = example_oru(order_row, status=status)
        elif file:
            message = sys.stdin.read() if file == "-" else open(file, encoding=encoding).read()  # noqa: SIM115
        else:
            raise CommandError("give a file or --order N")
        try:
            [ack] = mllp.exchange(host, port, [message.encode(encoding)])
        except OSError as exc:
            raise CommandError(f"no listener at {host}:{port} ({exc}); is `make run` up?") from exc
        self.stdout.write(ack.decode("utf-8").replace("\r", "\n"))
