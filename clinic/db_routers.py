"""Where queries go: writes to the primary, a report's reads to the read replica.

Django asks a router per model, but whether a read belongs to a report is a fact
about the request, not the model: the operations dashboard reads appointments,
rooms and test orders that every other page reads from the primary. So a report
marks the code that builds it: inside `with reporting():` every read of any
model goes to the `replica` alias (the settings point it at a streaming replica
when REPLICA_DATABASE_URL is set, else at the primary itself). Outside it the
router has no opinion and Django uses `default`. The mark is a context variable:
it holds per thread and per asyncio task, so one request's report never routes
another request's reads.

Writes always go to `default`, inside a report or not, and migrations never run
on the replica (it copies the primary's schema by streaming). Reads that must see
a write just made (a form's redirect, a lock) stay outside `reporting()`: a
replica lags the primary by a moment.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings

PRIMARY = "default"
REPLICA = "replica"

_reporting: ContextVar[bool] = ContextVar("clinic_reporting", default=False)


def reporting_alias() -> str:
    """The alias reports read from: `replica` where it is configured, else `default`."""
    return REPLICA if REPLICA in settings.DATABASES else PRIMARY


@contextmanager
def reporting() -> Iterator[str]:
    """Route every read inside the block to the reporting alias (yielded)."""
    token = _reporting.set(True)
    try:
        yield reporting_alias()
    finally:
        _reporting.reset(token)


class ReportingRouter:
    """Reads inside `reporting()` to the replica; every write to the primary."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return reporting_alias() if _reporting.get() else None

    def db_for_write(self, model: type, **hints: Any) -> str:
        return PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica holds the primary's rows: a row read from either may point at one
        # read from the other.
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None
