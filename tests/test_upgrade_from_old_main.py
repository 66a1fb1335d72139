"""A clinic running the main before the restructure upgrades without losing a row.

The fixture is the SQLite database that main at 9ee7437 (before `procedures` was split
into concern packages) built with `migrate` and `seed_demo`, with the row count of
every table it held. Today's code migrates a copy, and its models read every row back.
"""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OLD = FIXTURES / "main-9ee7437-seed-demo.sqlite3.gz"
COUNTS = json.loads((FIXTURES / "main-9ee7437-seed-demo.counts.json").read_text())
ROOT = Path(__file__).resolve().parent.parent

# Django's own bookkeeping grows with new models and migrations; the clinic's rows do not.
BOOKKEEPING = ("django_migrations", "django_content_type", "auth_permission", "auth_group_")

READ_BACK = """
import json
from django.apps import apps
models = apps.get_models(include_auto_created=True)
print(json.dumps({m._meta.db_table: m._default_manager.count() for m in models}))
"""


def _manage(db: Path, var: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{db}",
        "CLINIC_VAR_DIR": str(var),
        "CLINIC_REQUIRE_SERVICES": "",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_it_migrates_a_database_built_by_the_old_main_and_reads_every_row(tmp_path):
    db = tmp_path / "clinic.sqlite3"
    with gzip.open(OLD, "rb") as old, db.open("wb") as copy:
        shutil.copyfileobj(old, copy)

    _manage(db, tmp_path / "var", "migrate", "--noinput")
    read = json.loads(_manage(db, tmp_path / "var", "shell", "-c", READ_BACK).splitlines()[-1])

    domain = {t: n for t, n in COUNTS.items() if not t.startswith(BOOKKEEPING)}
    assert domain, "the fixture holds the demo clinic's rows"
    # The audit trail may grow (the upgrade's own writes are audited); nothing shrinks.
    lost = {t: (n, read.get(t)) for t, n in domain.items() if (read.get(t) or 0) < n}
    assert not lost, f"rows before -> after the upgrade: {lost}"
    changed = {
        t: (n, read[t]) for t, n in domain.items() if t != "auditlog_logentry" and read[t] != n
    }
    assert not changed, f"rows before -> after the upgrade: {changed}"
    # The demo clinic's heart is there: patients, visits, their emails and orders.
    for table in ("patients_patient", "procedures_appointment", "procedures_reminder"):
        assert read[table] == COUNTS[table] > 0

    # Issue 18: the one clinic became one site, made from the CLINIC_* settings, and
    # every room, physician and staff login belongs to it.
    sites = json.loads(_manage(db, tmp_path / "var", "shell", "-c", SITES).splitlines()[-1])
    assert sites == {
        "sites": [
            [
                "main",
                "Riverside Procedure Clinic",
                "2 Riverside Walk, London",
                "020 7946 0000",
                "Europe/London",
                "GB",
                "ENG",
            ]
        ],
        "rooms_elsewhere": 0,
        "rooms": COUNTS["procedures_room"],
        "visits": COUNTS["procedures_appointment"],
        "physicians_elsewhere": 0,
        "staff_without_home": 0,
        "closures_kept": COUNTS.get("procedures_clinicholiday", 0),
    }


SITES = """
import json
from django.contrib.auth.models import User
from procedures.models import Appointment, ClinicHoliday, Provider, Room, Site
main = Site.objects.get()
print(json.dumps({
    "sites": [list(s) for s in Site.objects.values_list(
        "code", "name", "address", "phone", "time_zone", "holidays_country",
        "holidays_subdivision")],
    "rooms_elsewhere": Room.objects.exclude(site=main).count(),
    "rooms": Room.objects.filter(site=main).count(),
    "visits": Appointment.objects.filter(site=main).count(),  # invariant 20
    "physicians_elsewhere": Provider.objects.exclude(sites=main).count(),
    "staff_without_home": User.objects.filter(staff_profile__home_site__isnull=True).count(),
    "closures_kept": ClinicHoliday.objects.filter(site__isnull=True).count(),
}))
"""
