"""Fault-test harness: a private Redis, real Celery worker processes, and an SMTP
server that records every Message-ID it accepts (duplicates included).

Each test starts its own redis-server on a free loopback port (no persistence),
so it can restart it, and so that no other run's messages can reach its
workers. Workers run `celery -A clinic worker` in a process group of their own,
on the test database, so a test can SIGKILL the whole group.
"""

import os
import shutil
import subprocess
import time

import pytest
from celery import Celery
from django.db import connection

from clinic.testing.processes import start_worker, stop_group, wait_until
from clinic.testing.smtp import Recorder, free_port, recording_server
from conftest import missing_service
from tests.integration.test_worker import database_url


@pytest.fixture
def mail_server():
    """An SMTP server that records the Message-ID of every message it accepts, in
    order, duplicates included (clinic/testing/smtp.py)."""
    with recording_server(Recorder(parse=False)) as recorder:
        yield recorder


class PrivateRedis:
    """redis-server on a free loopback port, without persistence; restartable."""

    def __init__(self, workdir):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def answers():
            try:
                return client.ping()
            except redis.RedisError:
                return False

        wait_until(answers, timeout=20, interval=0.05, what="redis-server to answer")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            stop_group(self.process, timeout=10)

    def restart(self) -> None:
        """Stop (losing everything held in memory) and start again on the same port."""
        self.stop()
        self.start()

    def client(self):
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(tmp_path):
    if not shutil.which("redis-server"):
        missing_service("needs redis-server (apt-get install -y redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(private_redis, monkeypatch):
    """The Celery app this test publishes with (the project's settings, private Redis)."""
    from celery import current_app

    # Celery reads CELERY_BROKER_URL from the environment before its own settings.
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)

    app = Celery("clinic-faults", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=private_redis.url, broker_connection_retry_on_startup=True)
    previous = current_app._get_current_object()
    app.set_current()
    try:
        yield app
    finally:
        previous.set_current()
        app.close()


@pytest.fixture
def workers(postgres, private_redis, mail_server, broker, tmp_path):
    """Start real worker processes on demand: `workers.start(name)`; all are stopped
    at the end. Short leases and retry delays keep the faults quick to recover from."""
    started = []

    class Workers:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": private_redis.url,
            "EMAIL_URL": f"smtp://{mail_server.host}:{mail_server.port}",
            "EMAIL_TIMEOUT": "2",
            "REMINDER_LEASE_SECONDS": "8",
            "REMINDER_LEASE_GRACE_SECONDS": "2",
            "REMINDER_BATCH_SIZE": "100",
            "REMINDER_RETRY_BASE_SECONDS": "1",
            # Production settings: no query log, no template debugging.
            "DEBUG": "0",
            "SECRET_KEY": "faults-" + "x" * 50,
            "ALLOWED_HOSTS": "localhost",
            "LOG_LEVEL": "INFO",
            "CLINIC_VAR_DIR": str(tmp_path / "var"),
        }

        def start(self, name: str, *, pool: str = "prefork") -> subprocess.Popen:
            log = tmp_path / f"worker-{name}.log"
            process = start_worker(name, env=self.env, log=log, pool=pool)
            started.append(process)
            return process

    try:
        yield Workers()
    finally:
        for process in started:
            stop_group(process, timeout=10)


def wait_for_rows(predicate, *, timeout: float, what: str, wake=None, every: float = 1.0):
    """Poll the database until `predicate()` holds; `wake()` stands in for beat ticks."""
    last_wake = [0.0]

    def check():
        if wake and time.monotonic() - last_wake[0] >= every:
            wake()
            last_wake[0] = time.monotonic()
        return predicate()

    return wait_until(check, timeout=timeout, interval=0.2, what=what)
