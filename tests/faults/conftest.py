"""Fault-test harness: a private Redis, real Celery worker processes, and an SMTP
server that records every Message-ID it accepts (duplicates included).

Each test starts its own redis-server on a free loopback port (no persistence),
so it can restart it, and so that no other run's messages can reach its
workers. Workers run `celery -A clinic worker` in a process group of their own,
on the test database, so a test can SIGKILL the whole group.
"""

import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller
from celery import Celery
from django.db import connection

from conftest import free_port, missing_service
from tests.conftest import ROOT, VENV_BIN, log_tail, stop_group, wait_until
from tests.integration.test_worker import database_url

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


@dataclass
class MessageIdRecorder:
    """Keeps the Message-ID of every message accepted, in order, duplicates included."""

    ids: list = field(default_factory=list)
    # Replies to DATA, in order, before accepting again (e.g. "451 4.3.0 try later").
    scripted_replies: list = field(default_factory=list)
    # Answer every DATA with this (e.g. "550 5.1.1 no such user") while set.
    always_reply: str | None = None
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = None

    def __post_init__(self):
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            reply = self.always_reply or (
                self.scripted_replies.pop(0) if self.scripted_replies else None
            )
            if reply:
                self.refused += 1
                self.changed.notify_all()
                return reply
            found = MESSAGE_ID.search(envelope.original_content)
            self.ids.append(found.group(1).decode() if found else None)
            self.changed.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float) -> int:
        """Block until `count` messages were accepted (a condition wait, not a sleep)."""
        with self.lock:
            self.changed.wait_for(lambda: len(self.ids) >= count, timeout=timeout)
            return len(self.ids)

    def snapshot(self) -> list:
        with self.lock:
            return list(self.ids)

    def counts(self) -> Counter:
        return Counter(self.snapshot())


@pytest.fixture
def mail_server():
    import logging

    # aiosmtpd logs every SMTP command at INFO: thousands of lines per test.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    recorder = MessageIdRecorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    recorder.host, recorder.port = "127.0.0.1", port
    try:
        yield recorder
    finally:
        controller.stop()


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
            nodename = f"{name}-{os.getpid()}@localhost"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [
                        str(VENV_BIN / "celery"),
                        "-A",
                        "clinic",
                        "worker",
                        "--pool",
                        pool,
                        "--concurrency",
                        "1",
                        "--hostname",
                        nodename,
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel",
                        "INFO",
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            process.log = log
            started.append(process)

            def ready():
                if process.poll() is not None:
                    raise AssertionError(f"worker {name} exited:\n{log_tail(log)}")
                return f"{nodename} ready." in log.read_text(errors="replace")

            try:
                wait_until(ready, timeout=60, what=f"worker {name} to be ready")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; its log:\n{log_tail(log)}") from None
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
