"""python manage.py benchmark [--scale 1,10] [--volume 1,10] [--base-patients 20000]
[--json out.json], or [--interleave 1x1=DATABASE_URL 10x10=DATABASE_URL] on data already
seeded in two databases."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from procedures.devtools.benchmarks.interleave import parse_point, run_interleaved
from procedures.devtools.benchmarks.report import combine, table, verdict
from procedures.devtools.benchmarks.runner import BenchmarkError, run


def _factors(text: str, what: str) -> list[int]:
    try:
        factors = sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError as exc:
        raise CommandError(f"--{what} takes factors such as 1,10.") from exc
    if not factors or factors[0] < 1:
        raise CommandError(f"--{what} takes factors of at least 1, such as 1,10.")
    return factors


def _names(text: str) -> set[str] | None:
    """--only's scenario names: split on semicolons if there are any, else on commas."""
    parts = text.split(";") if ";" in text else text.split(",")
    return {p.strip() for p in parts if p.strip()} or None


class Command(BaseCommand):
    help = (
        "Seed the scale data at each --scale times --base-patients and each --volume times "
        "the daily work, time the front desk's pages against their floor and goals, "
        "drain a morning batch of reminders; print a table and check the goals. "
        "Replaces the seed_scale rows (and only those). Stops at the first page that "
        "does not answer as it should, with a non-zero exit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", default="1,10", help="Comma-separated patient factors.")
        parser.add_argument(
            "--volume", default="1", help="Comma-separated daily volume factors (1,10)."
        )
        parser.add_argument(
            "--diagonal",
            action="store_true",
            help="Pair the i-th scale with the i-th volume (1x1 and 10x10) instead of all pairs.",
        )
        parser.add_argument(
            "--reuse",
            action="store_true",
            help="Measure first, without seeding again, the point whose data is already seeded.",
        )
        parser.add_argument("--base-patients", type=int, default=20_000)
        parser.add_argument("--requests", type=int, default=30)
        parser.add_argument("--providers", type=int, default=50)
        parser.add_argument("--rooms", type=int, default=30)
        parser.add_argument("--dispatch", type=int, default=10_000, help="0 to skip.")
        parser.add_argument(
            "--only",
            default="",
            help=(
                "Scenario names, separated by commas; by semicolons when a name has a "
                'comma in it ("today board; today board, all sites").'
            ),
        )
        parser.add_argument(
            "--interleave",
            nargs="+",
            default=None,
            metavar="POINTxVOLUME=DATABASE_URL",
            help=(
                "Measure two or more points in turns, page by page, each in a process of "
                "its own on the database already seeded with its data (1x1=postgres://…/a "
                "10x10=postgres://…/b), so that both meet the same machine. Seeds nothing; "
                "--scale, --volume and --reuse do not apply."
            ),
        )
        parser.add_argument(
            "--rounds",
            type=int,
            default=6,
            help="With --interleave: the turns each page's requests are taken in.",
        )
        parser.add_argument("--json", dest="json_path", default=None)
        parser.add_argument(
            "--compare",
            default=None,
            help=(
                "The JSON of an earlier run at other points (e.g. 1x1 measured with --reuse "
                "on its own database): its measures go first, and the ratios and goals are "
                "checked across both runs. The JSON says so."
            ),
        )

    def handle(self, *args, **opts):
        try:
            result = self._interleaved(opts) if opts["interleave"] else self._one_by_one(opts)
        except BenchmarkError as exc:
            raise CommandError(f"Benchmark stopped: {exc}") from exc
        if opts["compare"]:
            try:
                with open(opts["compare"]) as handle:
                    earlier = json.load(handle)
                result = combine(earlier, result, source=opts["compare"])
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"--compare {opts['compare']}: {exc}") from exc
        self.stdout.write("")
        self.stdout.write(table(result))
        self.stdout.write("")
        self.stdout.write(verdict(result))
        if opts["json_path"]:
            with open(opts["json_path"], "w") as handle:
                json.dump(result, handle, indent=2, default=str)

    def _interleaved(self, opts) -> dict:
        try:
            specs = [parse_point(text) for text in opts["interleave"]]
        except ValueError as exc:
            raise CommandError(f"--interleave {exc}") from exc
        if len({point for point, _url in specs}) < 2:
            raise CommandError("--interleave takes two or more different points.")
        if opts["compare"]:
            raise CommandError("--interleave measures its points together: no --compare.")
        return run_interleaved(specs, rounds=max(1, opts["rounds"]), **self._shared(opts))

    def _one_by_one(self, opts) -> dict:
        scales = _factors(opts["scale"], "scale")
        volumes = _factors(opts["volume"], "volume")
        single = len(scales) * len(volumes) < 2 or (opts["diagonal"] and len(scales) < 2)
        if single and not opts["reuse"]:
            raise CommandError(
                "Give two points to compare: --scale 1,10 (and/or --volume 1,10); "
                "one point only with --reuse (the data already seeded, measured in place)."
            )
        if opts["diagonal"] and len(scales) != len(volumes):
            raise CommandError("--diagonal needs as many --volume factors as --scale factors.")
        if connection.vendor != "postgresql":
            self.stderr.write("Not PostgreSQL: the figures say nothing about production.")
        return run(
            scales=scales,
            volumes=volumes,
            diagonal=opts["diagonal"],
            reuse=opts["reuse"],
            **self._shared(opts),
        )

    def _shared(self, opts) -> dict:
        """What both kinds of run take from the options."""
        return {
            "base_patients": opts["base_patients"],
            "requests": max(3, opts["requests"]),
            "providers": opts["providers"],
            "rooms": opts["rooms"],
            "only": _names(opts["only"]),
            "dispatch_count": opts["dispatch"] or None,
            "log": self.stdout.write,
        }
