"""Real processes for tests and benchmarks: a Celery worker started the way compose
starts it, waited for until it says it is ready, and stopped with its whole group."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str
) -> Any:
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


def stop_group(
    process: subprocess.Popen, *, sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Signal the process group `process` leads, SIGKILL it if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # Anything left in its group (pool children) goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def start_logged(argv: Sequence[str], *, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `argv` from the checkout, its output to `log`, in a process group (a
    session) of its own: stopped, or SIGKILLed, as one with whatever it starts."""
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603 (our own commands)
            list(argv),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(
    name: str,
    *,
    env: dict[str, str],
    log: Path,
    concurrency: int = 1,
    pool: str = "prefork",
    options: Sequence[str] = (),
    standalone: bool = True,
    ready_timeout: float = 60,
) -> subprocess.Popen:
    """`celery -A clinic worker` in a process group of its own (so that it can be
    stopped, or SIGKILLed, as one), logging to `log`; returns once it is ready.
    Its node name is `<name>-<our pid>@localhost` (`process.nodename`). `standalone`:
    without gossip, mingle and heartbeat, which only slow a worker that has no peers
    to talk to; off, it runs as compose runs it."""
    nodename = f"{name}-{os.getpid()}@localhost"
    argv = [
        str(BIN / "celery"),
        "-A",
        "clinic",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--hostname",
        nodename,
        *(["--without-gossip", "--without-mingle", "--without-heartbeat"] if standalone else []),
        "--loglevel",
        "INFO",  # the "ready." line below is logged at INFO
        *options,
    ]
    process = start_logged(argv, env=env, log=log)
    process.nodename = nodename  # type: ignore[attr-defined]  # for the caller's control calls
    process.log = log  # type: ignore[attr-defined]

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"worker {name} exited ({process.returncode}):\n{log_tail(log)}")
        return f"{nodename} ready." in log.read_text(errors="replace")

    try:
        wait_until(ready, timeout=ready_timeout, what=f"worker {name} to be ready")
    except AssertionError as exc:
        stop_group(process, timeout=5)
        raise AssertionError(f"{exc}; its log:\n{log_tail(log)}") from None
    return process
