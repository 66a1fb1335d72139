"""Roll up the reports' days that are over (procedures/reports/rollup.py): what the
hourly beat task does, with progress, for the first run on a large database."""

from django.core.management.base import BaseCommand

from procedures.catalog.sites import Site
from procedures.reports.rollup import forget_sites, roll_due


class Command(BaseCommand):
    help = (
        "Count every site's days that are over into the reports' roll-up (the beat does "
        "it hourly). --again forgets the roll-up first and counts every day afresh."
    )

    def add_arguments(self, parser):
        parser.add_argument("--again", action="store_true", help="forget every rolled-up day first")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        if options["again"]:
            forgotten = forget_sites(Site.objects.values_list("pk", flat=True))
            self.stdout.write(f"Forgot {forgotten:,} rolled-up day(s).")
        progress = None if options["no_progress"] else self.stdout.write
        report = roll_due(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Rolled up {report.days:,} day(s) at {report.sites:,} site(s).")
        )
