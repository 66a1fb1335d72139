"""Streaming rows into a table for seed_scale: COPY on PostgreSQL (psycopg 3's
`cursor.copy()`), `executemany` in batches elsewhere; and the id sequences after."""

from collections.abc import Callable, Iterator

from django.db import connection, models

BATCH = 10_000


class _Writer:
    """Streams rows into one table: COPY on PostgreSQL, executemany elsewhere.

    Rows are dicts of attname -> value; the other columns take the field's default."""

    def __init__(self, model: type[models.Model], *, with_id: bool = True):
        self.model = model
        self.fields = [f for f in model._meta.concrete_fields if with_id or not f.primary_key]
        self.defaults = [f.get_default() for f in self.fields]
        self.attnames = [f.attname for f in self.fields]
        self.columns = [f.column for f in self.fields]
        self.pg = connection.vendor == "postgresql"

    def _values(self, row: dict) -> list:
        return [row.get(a, d) for a, d in zip(self.attnames, self.defaults, strict=True)]

    def write(self, rows: Iterator[dict], tick: Callable[[int], None]) -> int:
        table = connection.ops.quote_name(self.model._meta.db_table)
        cols = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        written = 0
        with connection.cursor() as cursor:
            if self.pg:
                raw = cursor.cursor  # psycopg 3's own cursor
                with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(self._values(row))
                        written += 1
                        if written % BATCH == 0:
                            tick(BATCH)
            else:
                sql = (
                    f"INSERT INTO {table} ({cols}) VALUES ({', '.join(['%s'] * len(self.columns))})"  # noqa: S608
                )
                batch = []
                for row in rows:
                    values = self._values(row)
                    batch.append(
                        [
                            f.get_db_prep_save(v, connection)
                            for f, v in zip(self.fields, values, strict=True)
                        ]
                    )
                    if len(batch) == BATCH:
                        cursor.executemany(sql, batch)
                        written += len(batch)
                        tick(len(batch))
                        batch = []
                if batch:
                    cursor.executemany(sql, batch)
                    written += len(batch)
        tick(written % BATCH)
        return written


def _next_id(model: type[models.Model]) -> int:
    return (model._default_manager.aggregate(m=models.Max("pk"))["m"] or 0) + 1


def _reset_sequence(model: type[models.Model]) -> None:
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    quoted = connection.ops.quote_name(table)
    sql = f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {quoted}))"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [table])
