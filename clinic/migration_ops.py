"""A migration operation that runs only on PostgreSQL.

The model state still changes everywhere, so `makemigrations --check` stays
clean on SQLite; only the database work (trigram indexes, exclusion
constraints) is skipped where the backend has no such feature. On SQLite the
same rules are enforced by the services inside IMMEDIATE transactions.
"""

from django.db.migrations.operations.base import Operation


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
