"""The navigation's "N expected · M to fix" next to Today, on every staff page, and the
same counts above the today board.

Working them out means the whole day's flags (the board's queries: hundreds of
arrivals a site at a network's volume), so they are kept in the cache for a short while
and dropped whenever a row they depend on is saved or deleted through the ORM. Writes
that bypass the ORM's signals (the dispatcher marks emails failed with one UPDATE) show
within COUNTS_SECONDS. The board's rows and their flags are always read live."""

from datetime import date
from typing import cast

from django.core.cache import cache
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from patients.models import BloodResult, Medication, Patient
from procedures.messaging.models import Reminder
from procedures.prep.models import ChecklistTick, PrepPlan
from procedures.scheduling.models import Appointment
from procedures.today.board import today_counts

COUNTS_SECONDS = 30
# Bumped on every change. Each entry keeps the generation it was worked out at, and is
# read in the same round trip as the current one: a bump retires every day's and every
# scope's counts at once, and a hit costs one call to the cache, not two.
_GENERATION = "today-counts:generation"


def _key(day: date, scope: str) -> str:
    # "v2": the counts gained the day's total (an entry cached before lacks it).
    return f"today-counts:v2:{day.isoformat()}:{scope}"


def today_counts_cached(*, day: date, site_id: int | None = None) -> dict[str, int]:
    """`board.today_counts`, from the cache when worked out in the last COUNTS_SECONDS
    and nothing they depend on changed since; each site (and "all sites") has its own
    entry."""
    key = _key(day, "all" if site_id is None else f"site-{site_id}")
    found = cache.get_many([_GENERATION, key])
    generation = found.get(_GENERATION)
    if generation is None:  # first use, or the cache was emptied
        generation = cache.get_or_set(_GENERATION, 1, None)
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        return cast(dict[str, int], entry[1])
    counts = today_counts(day=day, site_id=site_id)
    # Under the generation read before working them out: a change meanwhile bumped it,
    # so the next read works them out again.
    cache.set(key, (generation, counts), COUNTS_SECONDS)
    return counts


def forget_today_counts(**kwargs: object) -> None:
    """Retire every cached count (a signal receiver: any save or delete of a row the
    counts read)."""
    try:
        cache.incr(_GENERATION)
    except ValueError:  # not there yet (or expired): nothing cached under it either
        cache.set(_GENERATION, 1, None)


# What the counts read: the day's visits and their flags' rows.
WATCHED: tuple[type[Model], ...] = (
    Appointment,
    Reminder,
    PrepPlan,
    ChecklistTick,
    Medication,
    BloodResult,
    Patient,
)


def connect() -> None:
    for model in WATCHED:
        post_save.connect(forget_today_counts, sender=model, dispatch_uid=f"today-counts-{model}")
        post_delete.connect(
            forget_today_counts, sender=model, dispatch_uid=f"today-counts-del-{model}"
        )
