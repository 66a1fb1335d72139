"""The visits' and orders' indexes (PostgreSQL): none is the plain prefix of another,
and a room's active holds over a span are read from the index made for them.

A physician's own index beside (physician, start) was smaller, so PostgreSQL ANDed it
into a site's day: 40,000 entries of the physician's history read to keep 254, at a
network's volume (docs/performance.md, seventh round). The planner choosing it depends
on the data's size; an index that is the prefix of another is the mistake itself."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from procedures.catalog.resources import Room
from procedures.devtools import scale
from procedures.scheduling.models import Appointment
from procedures.scheduling.slots import clinic_day_bounds
from procedures.scheduling.timegrid import holds_load
from procedures.tests.migrations import latest, migrate

pytestmark = [pytest.mark.django_db, pytest.mark.services]

# The tables a network's day grows: a million visits, two million orders, three
# million emails at 10x.
DAY_TABLES = ("procedures_appointment", "procedures_testorder", "procedures_reminder")

PREFIXES = """
WITH ix AS (
    SELECT i.indrelid::regclass::text AS tbl, c.relname AS name,
        array(
            SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            ORDER BY ord
        )::text[] AS cols,
        i.indnkeyatts AS nkeys
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE am.amname = 'btree' AND i.indpred IS NULL AND i.indexprs IS NULL
        AND NOT i.indisunique AND i.indrelid::regclass::text = ANY(%s)
)
SELECT a.name, b.name FROM ix a JOIN ix b ON a.tbl = b.tbl AND a.name <> b.name
WHERE a.nkeys < b.nkeys AND b.cols[1:a.nkeys] = a.cols[1:a.nkeys]
"""


def indexes_of(table: str) -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {name for name, info in constraints.items() if info["index"]}


def test_no_index_of_the_day_tables_is_the_prefix_of_another(postgres):
    with connection.cursor() as cursor:
        cursor.execute(PREFIXES, [list(DAY_TABLES)])
        redundant = cursor.fetchall()
    assert redundant == []
    # What answers the lookups of the indexes that went.
    assert {
        "appt_provider_start_idx",
        "appt_room_start_idx",
        "appt_patient_start_idx",
        "appt_room_active_idx",
    } <= indexes_of("procedures_appointment")
    assert "reminder_site_due_idx" in indexes_of("procedures_reminder")


def test_the_rooms_holds_are_read_from_the_active_index(postgres):
    # A few weeks of a small network (the benchmark's seed: 15,000 visits, analysed),
    # so the planner weighs real sizes.
    plan = scale.ScalePlan(patients=3000, providers=10, rooms=6)
    scale.scale_seed(plan, progress=lambda table, total: lambda n: None)
    day = plan.today
    rooms = list(Room.objects.filter(name__startswith=scale.ROOM_PREFIX).order_by("pk")[:3])

    # The read the booking form makes for the room a free time suggests (here of the
    # whole day, to count them below).
    start, end = clinic_day_bounds(day)
    with CaptureQueriesContext(connection) as read:
        holds = holds_load(start=start, end=end, providers=[], rooms=rooms)
    [query] = read.captured_queries
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {query['sql']}")
        plan_text = "\n".join(row[0] for row in cursor.fetchall())
    assert "appt_room_active_idx" in plan_text, plan_text
    # The network's future holds are never ANDed in.
    assert "appt_active_until_idx" not in plan_text, plan_text
    assert "BitmapAnd" not in plan_text, plan_text
    # Every active visit of those rooms that day, and nothing else.
    booked = (
        Appointment.objects.active()
        .filter(room__in=rooms, start_at__gte=start, start_at__lt=end)
        .count()
    )
    assert booked > 0
    assert len(holds) == booked
    assert {h.resource_id for h in holds} <= {r.pk for r in rooms}


@pytest.mark.django_db(transaction=True)
def test_the_migration_swaps_the_indexes_back_and_forward(postgres):
    migrate([("procedures", "0026_testorder_site_final_index")])
    old = indexes_of("procedures_appointment")
    assert "appt_room_blocked_idx" in old
    assert "appt_room_active_idx" not in old
    assert any(name.startswith("procedures_appointment_provider_id_") for name in old)

    migrate(latest())
    new = indexes_of("procedures_appointment")
    assert "appt_room_active_idx" in new
    assert "appt_room_blocked_idx" not in new
    left = [
        name
        for name in new
        for column in ("patient", "provider", "room")
        if name.startswith(f"procedures_appointment_{column}_id_")
    ]
    assert left == []
