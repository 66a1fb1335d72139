"""Helpers for the tests that start real processes (a Celery worker, the make-run stack)."""

from pathlib import Path

# The harness itself lives in clinic/testing (shared with .ci/smoke.py and the benchmarks).
from clinic.testing.processes import ROOT, log_tail, stop_group, wait_until

__all__ = ["ROOT", "VENV_BIN", "log_tail", "processes_with_env", "stop_group", "wait_until"]

VENV_BIN = ROOT / ".venv" / "bin"


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
