"""Backup and restore (docs/operations.md): a pg_dump of the database, restored with
pg_restore into a fresh database, holds the same patients and their audit trail."""

import os
import shutil
import subprocess

import psycopg
import pytest
from auditlog.models import LogEntry
from django.db import connection

from patients.models import Patient
from patients.tests.factories import PatientFactory
from procedures.tests.factories import AppointmentFactory

PATIENTS = (
    "SELECT mrn, given_name, family_name, date_of_birth, email FROM patients_patient ORDER BY mrn"
)


def pg(args: list[str], settings_dict: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGPASSWORD": settings_dict.get("PASSWORD") or ""}
    common = ["-h", settings_dict["HOST"] or "127.0.0.1", "-p", str(settings_dict["PORT"] or 5432)]
    common += ["-U", settings_dict["USER"]]
    return subprocess.run(
        [args[0], *common, *args[1:]], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db(transaction=True)
def test_it_restores_a_dump_into_a_fresh_database_with_the_same_patients(postgres, tmp_path):
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.fail("pg_dump and pg_restore are needed (apt-get install postgresql-client)")
    AppointmentFactory.create_batch(3)
    PatientFactory(given_name="Zoë", family_name="O'Brien-Łukasik")
    settings_dict = connection.settings_dict
    source = settings_dict["NAME"]
    fresh = f"{source}_restored"
    dump = tmp_path / "clinic.dump"
    with connection.cursor() as cursor:
        cursor.execute(PATIENTS)
        expected = cursor.fetchall()

    backup = pg(
        ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source], settings_dict
    )
    assert backup.returncode == 0, backup.stderr
    pg(["dropdb", "--if-exists", fresh], settings_dict)
    created = pg(["createdb", fresh], settings_dict)
    assert created.returncode == 0, created.stderr
    try:
        restore = pg(
            ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={fresh}", str(dump)],
            settings_dict,
        )
        assert restore.returncode == 0, restore.stderr

        params = {
            "host": settings_dict["HOST"] or "127.0.0.1",
            "port": settings_dict["PORT"] or 5432,
            "user": settings_dict["USER"],
            "password": settings_dict.get("PASSWORD") or None,
            "dbname": fresh,
        }
        with psycopg.connect(**params) as restored:
            rows = restored.execute(PATIENTS).fetchall()
            audit_rows = restored.execute("SELECT count(*) FROM auditlog_logentry").fetchone()[0]
            constraints = restored.execute(
                "SELECT count(*) FROM pg_constraint WHERE conname LIKE 'appt_no_overlap_%'"
            ).fetchone()[0]
    finally:
        pg(["dropdb", "--if-exists", fresh], settings_dict)

    assert len(rows) == Patient.objects.count() == 4
    assert rows == expected
    assert ("O'Brien-Łukasik",) in [(r[2],) for r in rows]
    assert audit_rows == LogEntry.objects.count() > 0
    assert constraints >= 1  # the double-booking guarantee came back too
