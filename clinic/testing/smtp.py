"""A real SMTP server (aiosmtpd) that records what it accepts.

- `Recorder`: the handler. Every accepted message's Message-ID, in order and
  duplicates included; with `parse`, the envelope and the parsed message too. It can
  answer DATA with scripted replies ("451 try later") or refuse everything.
- `recording_server()`: a Recorder behind a Controller on a free loopback port, in a
  thread of this process (tests).
- `SMTPSink`: the same in a process of its own, so that under load it competes with
  neither side for the GIL (benchmarks); it counts accepted and duplicate messages.
"""

import contextlib
import email
import email.message
import email.policy
import logging
import multiprocessing
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]+>)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    """An aiosmtpd handler that keeps what it accepted."""

    host = "127.0.0.1"
    port = 0

    def __init__(self, *, parse: bool = True) -> None:
        self.parse = parse
        self.ids: list[str | None] = []  # Message-IDs accepted, duplicates included
        self.envelopes: list[Any] = []
        self.messages: list[email.message.EmailMessage] = []
        # Replies to DATA, in order, before accepting again (e.g. "451 4.3.0 try later").
        self.scripted_replies: list[str] = []
        # Answer every DATA with this (e.g. "550 5.1.1 no such user") while set.
        self.always_reply: str | None = None
        self.refused = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            reply = self.always_reply or (
                self.scripted_replies.pop(0) if self.scripted_replies else None
            )
            if reply:
                self.refused += 1
            else:
                self.accept(envelope)
            self.changed.notify_all()
        return reply or "250 OK"

    def accept(self, envelope: Any) -> None:
        found = MESSAGE_ID.search(envelope.original_content)
        self.ids.append(found.group(1).decode() if found else None)
        if self.parse:
            self.envelopes.append(envelope)
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )

    def wait_for(self, count: int, timeout: float = 30) -> list[email.message.EmailMessage]:
        """Block until `count` messages were accepted (a condition wait, not a sleep);
        the parsed messages so far."""
        with self.lock:
            self.changed.wait_for(lambda: len(self.ids) >= count, timeout=timeout)
            return list(self.messages)

    def received(self) -> list[email.message.EmailMessage]:
        """The parsed messages accepted so far."""
        with self.lock:
            return list(self.messages)

    def message_ids(self) -> list[str | None]:
        with self.lock:
            return list(self.ids)

    snapshot = message_ids

    def counts(self) -> Counter:
        """How many times each Message-ID arrived."""
        return Counter(self.message_ids())


@contextlib.contextmanager
def recording_server(recorder: Recorder | None = None) -> Iterator[Recorder]:
    """A Recorder listening on a free loopback port for the duration."""
    # aiosmtpd logs every SMTP command at INFO: thousands of lines per test.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    recorder = recorder or Recorder()
    recorder.port = free_port()
    controller = Controller(recorder, hostname=recorder.host, port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


class _CountingRecorder(Recorder):
    """Counts into values shared with the parent process instead of keeping lists."""

    def __init__(self, accepted: Any, duplicates: Any) -> None:
        super().__init__(parse=False)
        self.shared = accepted, duplicates
        self.seen: set[bytes] = set()

    def accept(self, envelope: Any) -> None:
        accepted, duplicates = self.shared
        found = MESSAGE_ID.search(envelope.original_content)
        key = found.group(1) if found else b""
        with accepted.get_lock():
            accepted.value += 1
            if key in self.seen:
                duplicates.value += 1
        self.seen.add(key)


def _serve(port: int, ready: Any, stop: Any, accepted: Any, duplicates: Any) -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(
        _CountingRecorder(accepted, duplicates), hostname="127.0.0.1", port=port
    )
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class SMTPSink:
    """An SMTP server in a process of its own that accepts everything and counts the
    messages and the Message-IDs it saw more than once. Use as a context manager."""

    def __init__(self) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.accepted = multiprocessing.Value("l", 0)
        self.duplicates = multiprocessing.Value("l", 0)
        self._ready, self._stop = multiprocessing.Event(), multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=_serve,
            args=(self.port, self._ready, self._stop, self.accepted, self.duplicates),
            daemon=True,
        )

    @property
    def url(self) -> str:
        """What EMAIL_URL says to send here."""
        return f"smtp://{self.host}:{self.port}"

    def __enter__(self) -> "SMTPSink":
        self._process.start()
        if not self._ready.wait(timeout=30):
            self._process.terminate()
            raise RuntimeError("the SMTP sink did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
