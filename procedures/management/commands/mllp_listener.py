"""Listen for lab results over MLLP (HL7 v2 ORU^R01): procedures/labs/mllp.py."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from procedures.labs import mllp
from procedures.labs.inbound import lab_message_receive


class Command(BaseCommand):
    help = "Accept lab results over MLLP and answer each with an ACK (AA, AE or AR)."
    # The system checks load the URLconf, and with it every view, the PDF, FHIR and
    # image libraries (about 35 MB a process) that a listener never uses; the web
    # process and `manage.py check --deploy` run them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.MLLP_HOST)
        parser.add_argument("--port", type=int, default=settings.MLLP_PORT)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="threads writing to the database, per process (default 4; 1 on SQLite)",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.MLLP_PROCESSES,
            help="processes sharing the port (default MLLP_PROCESSES, 1); 1 on SQLite",
        )

    def handle(self, *args, host, port, workers, processes, **options):
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        # A listener serves no pages: with DEBUG on, Django would also keep the last
        # 9000 queries of every worker thread's connection in memory.
        settings.DEBUG = False
        if workers is None:
            workers = 1 if connection.vendor == "sqlite" else 4
        if connection.vendor == "sqlite":
            processes = 1  # one writer at a time anyway
        mllp.run(host, port, workers, lab_message_receive, processes=max(processes, 1))
