"""Listen for lab results over MLLP (HL7 v2 ORU^R01): procedures/labs/mllp.py."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from procedures.labs import mllp
from procedures.labs.inbound import lab_message_receive


class Command(BaseCommand):
    help = "Accept lab results over MLLP and answer each with an ACK (AA, AE or AR)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.MLLP_HOST)
        parser.add_argument("--port", type=int, default=settings.MLLP_PORT)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="threads writing to the database (default 4; 1 on SQLite)",
        )

    def handle(self, *args, host, port, workers, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        if workers is None:
            workers = 1 if connection.vendor == "sqlite" else 4
        mllp.run(host, port, workers, lab_message_receive)
