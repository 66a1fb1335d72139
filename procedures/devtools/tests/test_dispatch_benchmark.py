"""The benchmark command (management/commands/benchmark_dispatch.py) runs end to end
and leaves nothing behind."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from patients.models import Patient
from procedures.messaging.models import Reminder
from procedures.scheduling.models import Appointment
from procedures.tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_it_reports_both_rates_their_ratio_and_dwell_times(tmp_path, capsys):
    AppointmentFactory()  # a catalog: procedure, provider, room
    before = (Patient.objects.count(), Appointment.objects.count(), Reminder.objects.count())
    out = tmp_path / "bench.json"

    call_command("benchmark_dispatch", count=20, json_path=str(out))

    result = json.loads(out.read_text())
    assert result["count"] == 20
    assert result["dispatcher_rate"] > 0 and result["bare_rate"] > 0
    assert result["ratio"] == pytest.approx(result["dispatcher_rate"] / result["bare_rate"])
    assert 0 <= result["dwell_p50"] <= result["dwell_p99"]
    printed = capsys.readouterr().out
    assert "dispatcher:" in printed and "bare smtplib:" in printed and "ratio:" in printed
    after = (Patient.objects.count(), Appointment.objects.count(), Reminder.objects.count())
    assert after == before


def test_it_needs_a_catalog():
    with pytest.raises(CommandError, match="seed_demo"):
        call_command("benchmark_dispatch", count=5)
