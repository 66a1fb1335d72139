"""Moving the test database along the migrations, for the tests of a data migration
(PostgreSQL, transactional tests): back to the state before it, rows written there,
then forward again."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate(targets):
    """The database migrated to `targets`; the apps as they were there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    """The targets of every migration of `procedures` (where a test puts it back)."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes("procedures")
