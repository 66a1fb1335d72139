"""The dispatch benchmark (management/commands/benchmark_dispatch.py) runs end to end
with real worker processes and a real SMTP server, and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Patient
from procedures.messaging.models import CallTask, Reminder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Patient, Appointment, Reminder, CallTask))


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_it_drains_a_small_batch_with_one_and_two_worker_processes(
    postgres, redis_url, tmp_path, capsys
):
    AppointmentFactory()  # a catalog: procedure, provider, room
    before = counts()
    out = tmp_path / "bench.json"

    call_command("benchmark_dispatch", emails=16, workers="1,2", json_path=str(out))

    result = json.loads(out.read_text())
    assert (result["emails"], result["appointments"]) == (16, 2)
    assert result["mix"] == {
        "booking_confirmation": 2,
        "day_before": 2,
        "escort_request": 2,
        "prep_step": 10,
    }
    # The second patient has opted out: their eight emails become front-desk calls.
    assert [run["worker_processes"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["statuses"] == {"sent": 8, "skipped": 8}
        assert run["smtp_accepted"] == 8
        assert run["duplicates"] == 0
    assert result["goals"]["duplicates"] == 0
    assert set(result["per_email_ms"]) == {"load", "render", "mime", "smtp", "mark"}
    printed = capsys.readouterr().out
    assert "two processes / one:" in printed and "duplicates: 0" in printed
    assert counts() == before


@pytest.mark.django_db
def test_it_needs_a_catalog():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("benchmark_dispatch", emails=5)


@pytest.mark.django_db
def test_it_refuses_a_batch_of_nothing():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("benchmark_dispatch", emails=0)
