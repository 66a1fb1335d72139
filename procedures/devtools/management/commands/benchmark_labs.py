"""Benchmark the MLLP listener: procedures/labs/benchmark.py."""

import json

from django.core.management.base import BaseCommand, CommandError

from procedures.labs import benchmark


class Command(BaseCommand):
    help = "Result messages a second through the MLLP listener, and its RSS, as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=1000)
        parser.add_argument("--connections", type=int, default=4)
        parser.add_argument("--workers", type=int, default=4, help="threads per process")
        parser.add_argument("--processes", type=int, default=1, help="listener processes")
        parser.add_argument("--json", dest="json_path", help="also write the JSON here")

    def handle(self, *args, count, connections, workers, processes, json_path, **options):
        try:
            result = benchmark.run(
                count=count, connections=connections, workers=workers, processes=processes
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(result, indent=2)
        self.stdout.write(text)
        if json_path:
            with open(json_path, "w") as handle:
                handle.write(text + "\n")
        if not result["ok"]:
            raise CommandError("below target: see the JSON above")
