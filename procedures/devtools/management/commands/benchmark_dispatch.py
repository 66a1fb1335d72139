"""Benchmark the reminder dispatcher on a realistic morning batch.

    python manage.py benchmark_dispatch [--emails 40000] [--workers 1,2] [--json out.json]

Writes a mix of due patient emails (procedures/devtools/dispatch_bench.py: 8 per
appointment, confirmations with .ics invites, day-before reminders, escort requests,
prep instructions; 10% Spanish, 5% opted out), drains it with `celery -A clinic worker
--concurrency N` for each N of --workers (compose runs 2) into an aiosmtpd server in a
process of its own, and reports the drain time, the scaling from one worker process to
two, the duplicates the server saw, and where one email's time goes. Needs PostgreSQL,
Redis and the demo catalog (seed_demo). Everything it wrote is deleted again.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from procedures.devtools import dispatch_bench

COMPOSE_CONCURRENCY = 2  # docker-compose.yml: celery -A clinic worker --concurrency 2


class Command(BaseCommand):
    help = "Drain a realistic morning batch of patient emails with real worker processes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--emails", "--count", dest="emails", type=int, default=40_000,
            help="How many emails in the batch (40,000: a clinic network's morning).",
        )  # fmt: skip
        parser.add_argument(
            "--workers", default="1,2", help="Worker processes per run, e.g. 2 or 1,2."
        )
        parser.add_argument("--json", dest="json_path", default=None)

    def handle(self, *args: Any, emails: int, workers: str, json_path: str | None, **opts: Any):
        if emails < 1:
            raise CommandError("--emails must be at least 1.")
        try:
            processes = sorted({int(n) for n in workers.split(",")})
        except ValueError:
            raise CommandError("--workers takes whole numbers, e.g. 1,2.") from None
        if not processes or min(processes) < 1:
            raise CommandError("--workers takes whole numbers of at least 1, e.g. 1,2.")
        try:
            result = dispatch_bench.run(
                emails=emails,
                worker_processes=processes,
                compose=COMPOSE_CONCURRENCY,
                log=self.stdout.write,
            )
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        g = result["goals"]
        ok = {True: "pass", False: "FAIL", None: "not measured"}
        self.stdout.write(
            f"drain with {COMPOSE_CONCURRENCY} worker processes: goal <= "
            f"{g['drain_seconds_max']:.0f} s: {ok[g['drain_met']]}\n"
            f"two processes / one: {g.get('scaling', '-')} (goal >= {g['scaling_min']}): "
            f"{ok[g.get('scaling_met')]}\n"
            f"duplicates: {g['duplicates']} (goal 0)\n"
            "one email (median ms): "
            + ", ".join(f"{k} {v}" for k, v in result["per_email_ms"].items())
        )
        if json_path:
            with open(json_path, "w") as handle:
                json.dump(result, handle, indent=2)
