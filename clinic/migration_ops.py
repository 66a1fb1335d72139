"""A migration operation that runs only on PostgreSQL.

The model state still changes everywhere, so `makemigrations --check` stays
clean on SQLite; only the database work (trigram indexes, exclusion
constraints) is skipped where the backend has no such feature. On SQLite the
same rules are enforced by the services inside IMMEDIATE transactions.
"""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db.migrations.operations.base import Operation
from django.db.models import Index


class PostgreSQLOnly(Operation):
    reduces_to_sql = False
    reversible = True

    def __init__(self, operation: Operation):
        self.operation = operation

    def deconstruct(self):
        return (self.__class__.__qualname__, [self.operation], {})

    def state_forwards(self, app_label, state):
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"{self.operation.describe()} (PostgreSQL only)"


class TrigramIndex(GinIndex):
    """A GIN index (pg_trgm's gin_trgm_ops) on PostgreSQL; on SQLite a plain index on
    the same expression under the same name.

    The models make these with `fastupdate=False`, without GIN's "fast update": a new
    or changed name goes into the index at once, instead of into a pending list that
    every search then reads row by row until a vacuum merges it (up to
    gin_pending_list_limit, 4 MB). These indexes serve the searches, and their tables
    are written a few times a day: 6,827 seeded name words left pending made each typo
    search's dictionary lookup read and score all of them (4.6 ms instead of 0.07).
    PostgreSQL's documentation, "GIN Fast Update Technique".

    SQLite rebuilds a whole table to add most columns, recreating every index of the
    model from the migration state; a GIN index there would stop the rebuild.
    """

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = Index(
            *[e.source_expressions[0] if isinstance(e, OpClass) else e for e in self.expressions],
            name=self.name,
        )
        return plain.create_sql(model, schema_editor, **kwargs)


class ContainmentIndex(GinIndex):
    """A GIN index (jsonb_path_ops: "does this JSON list contain X?", `@>`) on
    PostgreSQL; on SQLite a plain index on the same column under the same name (see
    TrigramIndex: a GIN index there would stop a table rebuild)."""

    def __init__(self, *, fields, name, **kwargs):
        super().__init__(
            fields=fields, name=name, opclasses=["jsonb_path_ops"] * len(fields), **kwargs
        )

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs.pop("opclasses", None)
        return path, args, kwargs

    def create_sql(self, model, schema_editor, using="", **kwargs):
        if schema_editor.connection.vendor == "postgresql":
            return super().create_sql(model, schema_editor, using=using, **kwargs)
        plain = Index(fields=self.fields, name=self.name)
        return plain.create_sql(model, schema_editor, **kwargs)
