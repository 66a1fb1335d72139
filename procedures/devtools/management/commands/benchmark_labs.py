"""Benchmark the MLLP listener: procedures/labs/benchmark.py."""

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from procedures.labs import benchmark


def _counts(text: str) -> list[int]:
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("numbers separated by commas, e.g. 1,8") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("at least one connection")
    return counts


class Command(BaseCommand):
    help = "Result messages a second through the MLLP listener, ACK times and RSS, as JSON."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--count", type=int, default=1000, help="messages a run")
        parser.add_argument(
            "--connections",
            type=_counts,
            default=[1, 8],
            help="a run for each number of clients at once, e.g. 1,4,8 (default 1,8)",
        )
        parser.add_argument("--workers", type=int, default=4, help="threads per process")
        parser.add_argument(
            "--processes", type=int, default=2, help="listener processes (default 2, one a core)"
        )
        parser.add_argument("--json", dest="json_path", help="also write the JSON here")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = benchmark.run(
                count=options["count"],
                connections=options["connections"],
                workers=options["workers"],
                processes=options["processes"],
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        text = json.dumps(result, indent=2)
        self.stdout.write(text)
        if options["json_path"]:
            with open(options["json_path"], "w") as handle:
                handle.write(text + "\n")
        if not result["ok"]:
            raise CommandError("below target: see the JSON above")
