"""python manage.py seed_scale --patients N: a clinic network's worth of data."""

import resource
import sys
import time

from django.core.management.base import BaseCommand, CommandError

from procedures.devtools.scale import ScalePlan, scale_clear, scale_seed


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = (
        "Generate realistic data proportional to --patients (200,000 is about 1,000,000 "
        "appointments, 2,000,000 test orders and 3,000,000 reminders). Deletes the rows "
        "an earlier run made first; leaves every other row alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, required=True)
        parser.add_argument("--providers", type=int, default=50)
        parser.add_argument("--rooms", type=int, default=30)
        parser.add_argument(
            "--volume",
            type=int,
            default=1,
            help="Daily volume factor: providers and rooms times this (10: ~7,650 visits a day).",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--clear", action="store_true", help="Only delete the scale rows.")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        if opts["patients"] < 1:
            raise CommandError("--patients must be at least 1.")
        started = time.monotonic()
        deleted = scale_clear()
        self.stdout.write(f"Cleared {deleted} rows of an earlier run.")
        if opts["clear"]:
            return
        plan = ScalePlan(
            patients=opts["patients"],
            providers=max(1, opts["providers"]),
            rooms=max(1, opts["rooms"]),
            seed=opts["seed"],
            volume=max(1, opts["volume"]),
        )
        bars = []

        def finish_bars():
            for bar in bars:
                bar.total = bar.n  # the totals are estimates (cancelled visits have no orders)
                bar.close()
            bars.clear()

        def progress(table, total):
            finish_bars()
            if opts["no_progress"] or opts["verbosity"] == 0:
                return lambda n: None
            try:
                from tqdm import tqdm
            except ImportError:  # pragma: no cover - tqdm is pinned
                return lambda n: None
            bar = tqdm(
                total=total,
                desc=f"{table:>12}",
                unit=" rows",
                unit_scale=True,
                file=sys.stderr,
                mininterval=0.5,
            )
            bars.append(bar)

            return bar.update

        report = scale_seed(plan, progress=progress)
        finish_bars()
        elapsed = time.monotonic() - started
        rows = sum(report.counts.values())
        counts = ", ".join(f"{n:,} {table}" for table, n in report.counts.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {counts} over {report.working_days} working days "
                f"({report.first_day} to {report.last_day}) with {plan.providers} providers "
                f"and {plan.rooms} rooms, the reports' roll-up counted for "
                f"{report.rolled_days:,} site-days, in {elapsed:.1f} s "
                f"({rows / elapsed:,.0f} rows/s); "
                f"peak RSS {peak_rss_mb():.0f} MB."
            )
        )
