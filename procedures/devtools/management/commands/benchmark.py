"""python manage.py benchmark [--scale 1,10] [--base-patients 2000] [--json out.json]"""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from procedures.devtools.benchmarks.report import table
from procedures.devtools.benchmarks.runner import run


class Command(BaseCommand):
    help = (
        "Seed the scale data at each --scale times --base-patients, time the front desk's "
        "pages against their floor, drain a morning batch of reminders; print a table "
        "and check the goals. Replaces the seed_scale rows (and only those)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="1,10", help="Comma-separated factors.")
        parser.add_argument("--base-patients", type=int, default=2000)
        parser.add_argument("--requests", type=int, default=30)
        parser.add_argument("--providers", type=int, default=50)
        parser.add_argument("--rooms", type=int, default=30)
        parser.add_argument("--dispatch", type=int, default=10_000, help="0 to skip.")
        parser.add_argument("--only", default="", help="Comma-separated scenario names.")
        parser.add_argument("--json", dest="json_path", default=None)

    def handle(self, *args, **opts):
        try:
            scales = sorted({int(s) for s in opts["scale"].split(",") if s.strip()})
        except ValueError as exc:
            raise CommandError("--scale takes factors such as 1,10.") from exc
        if len(scales) < 2 or scales[0] < 1:
            raise CommandError("--scale needs two factors of at least 1, such as 1,10.")
        if connection.vendor != "postgresql":
            self.stderr.write("Not PostgreSQL: the figures say nothing about production.")
        result = run(
            base_patients=opts["base_patients"],
            scales=scales,
            requests=max(3, opts["requests"]),
            providers=opts["providers"],
            rooms=opts["rooms"],
            only={s.strip() for s in opts["only"].split(",") if s.strip()} or None,
            dispatch_count=opts["dispatch"] or None,
            log=self.stdout.write,
        )
        self.stdout.write("")
        self.stdout.write(table(result))
        self.stdout.write("")
        verdict = "All goals met." if result["all_goals_met"] else "Some goals are not met."
        self.stdout.write(verdict)
        if opts["json_path"]:
            with open(opts["json_path"], "w") as handle:
                json.dump(result, handle, indent=2, default=str)
