import datetime as dt

import pytest
from django.utils import timezone

from clinic.models import Heartbeat


@pytest.mark.django_db
def test_it_is_unhealthy_until_the_dispatcher_has_run(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["status"] == "ok"
    assert body["dispatcher"]["status"] == "never_run"


@pytest.mark.django_db
def test_it_is_healthy_with_database_broker_and_a_recent_dispatcher_run(client):
    Heartbeat.objects.create(name="dispatcher", last_run_at=timezone.now())
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_it_is_unhealthy_when_the_dispatcher_has_stopped(client, settings):
    settings.HEALTHZ_DISPATCHER_MAX_AGE_SECONDS = 300
    Heartbeat.objects.create(
        name="dispatcher", last_run_at=timezone.now() - dt.timedelta(minutes=6)
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["dispatcher"]["status"] == "stale"
    assert body["dispatcher"]["age_seconds"] >= 360


@pytest.mark.django_db
def test_it_is_unhealthy_when_the_broker_cannot_be_reached(client, monkeypatch):
    from clinic.celery import app

    Heartbeat.objects.create(name="dispatcher", last_run_at=timezone.now())

    def unreachable():
        raise ConnectionRefusedError

    monkeypatch.setattr(app, "connection_for_write", unreachable)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["broker"] == {"status": "error", "error": "ConnectionRefusedError"}


@pytest.mark.django_db
def test_it_becomes_healthy_once_the_dispatcher_has_run(client):
    from procedures.messaging.dispatch import reminders_dispatch

    reminders_dispatch()

    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_it_answers_anyone_without_caching_and_without_a_login(client):
    response = client.get("/healthz")

    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert "ok" in response.json()["database"]["status"]


@pytest.mark.django_db
def test_it_answers_get_only(client):
    assert client.post("/healthz").status_code == 405
