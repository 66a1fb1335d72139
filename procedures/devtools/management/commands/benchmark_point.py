"""python manage.py benchmark_point --scale S --volume V --options JSON: the process
that measures one point's pages for `benchmark --interleave`, driven a line of JSON at
a time on its standard input. Not for running by hand."""

import json
import sys

from django.core.management.base import BaseCommand

from procedures.devtools.benchmarks.interleave import serve
from procedures.devtools.benchmarks.runner import Point


class Command(BaseCommand):
    help = (
        "Measure one point's pages, driven by `benchmark --interleave` on standard input "
        "(a line of JSON per step); not for running by hand."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=int, required=True)
        parser.add_argument("--volume", type=int, required=True)
        parser.add_argument("--options", required=True, help="JSON: base_patients, providers…")

    def handle(self, *args, **opts):
        def say(line: str) -> None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

        serve(
            Point(opts["scale"], opts["volume"]),
            json.loads(opts["options"]),
            lines=sys.stdin,
            say=say,
            log=lambda text: sys.stderr.write(text + "\n"),
        )
