"""Roll up the reports' days that are over (procedures/reports/rollup.py): what the
hourly beat task does, with progress, for the first run on a large database; or check
the rolled-up days against a live count."""

from django.core.management.base import BaseCommand, CommandError

from procedures.catalog.sites import Site
from procedures.reports.rollup import forget_sites, roll_due, rolled_check


class Command(BaseCommand):
    help = (
        "Count every site's days that are over into the reports' roll-up (the beat does "
        "it hourly). --again forgets the roll-up first and counts every day afresh; "
        "--check counts the last --days rolled-up days live again, forgets any that "
        "differ and counts them again (exit status 1 if one did)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--again", action="store_true", help="forget every rolled-up day first")
        parser.add_argument(
            "--check", action="store_true", help="compare rolled-up days with a live count"
        )
        parser.add_argument(
            "--days", type=int, default=90, help="how many days back --check looks (90)"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options):
        if options["days"] < 1:
            raise CommandError("--days must be 1 or more.")
        wrong = []
        if options["check"]:
            checked = rolled_check(days=options["days"])
            wrong = checked.wrong
            for code, day in wrong:
                self.stdout.write(f"{code}: {day} differed from a live count; counted again.")
            self.stdout.write(
                f"Checked {checked.days:,} rolled-up day(s): {len(wrong):,} differed."
            )
        if options["again"]:
            forgotten = forget_sites(Site.objects.values_list("pk", flat=True))
            self.stdout.write(f"Forgot {forgotten:,} rolled-up day(s).")
        progress = None if options["no_progress"] else self.stdout.write
        report = roll_due(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(f"Rolled up {report.days:,} day(s) at {report.sites:,} site(s).")
        )
        if wrong:
            raise CommandError(
                f"{len(wrong):,} rolled-up day(s) differed from a live count (counted again "
                "now): was a past visit or result changed outside the app? docs/operations.md"
            )
