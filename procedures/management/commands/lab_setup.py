"""Create or update a lab interface: procedures/labs/setup.py (docs/integration.md)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from procedures.labs.models import Lab
from procedures.labs.setup import lab_configure


class Command(BaseCommand):
    help = "Create or update a lab: how orders reach it, how it names itself, its tests."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--protocol", choices=Lab.Protocol.values, required=True)
        parser.add_argument("--application", required=True, help="the lab's MSH-3")
        parser.add_argument("--facility", default="", help="the lab's MSH-4")
        parser.add_argument("--host", default="")
        parser.add_argument("--port", type=int)
        parser.add_argument("--base-url", default="")
        parser.add_argument("--outbound-token", default="")
        parser.add_argument(
            "--test",
            action="append",
            default=[],
            help="TEST_TYPE_CODE=LAB_CODE[:KIND[:LOINC]], repeatable",
        )
        parser.add_argument(
            "--new-token", action="store_true", help="issue the lab's FHIR bearer token"
        )

    def handle(self, *args, **o):
        try:
            lab, token = lab_configure(
                name=o["name"],
                protocol=o["protocol"],
                application=o["application"],
                facility=o["facility"],
                host=o["host"],
                port=o["port"],
                base_url=o["base_url"],
                outbound_token=o["outbound_token"],
                tests=o["test"],
                new_token=o["new_token"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Lab {lab.pk}: {lab.name} ({lab.get_protocol_display()})")
        if token:
            self.stdout.write(f"Bearer token (shown once, stored hashed): {token}")
