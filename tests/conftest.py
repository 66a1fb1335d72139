"""Helpers for the tests that start real processes (a Celery worker, the make-run stack)."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def wait_until(predicate: Callable, *, timeout: float, interval: float = 0.2, what: str):
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds.

    Returns the truthy value. A poll with a deadline, never a bare sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def processes_with_env(name: str, value: str) -> dict[int, str]:
    """Live processes (pid -> command line) whose environment has name=value.

    Processes started by honcho run in sessions of their own, outside the
    process group of whoever started honcho; tagging a run with a unique
    environment value finds all of them, orphans included. Linux only (/proc).
    """
    needle = f"{name}={value}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not ours
            continue
        if needle in environ.split(b"\0"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def stop_group(process: subprocess.Popen, *, sig=signal.SIGTERM, timeout: float = 15) -> None:
    """Teardown: signal the process group `process` leads, SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
