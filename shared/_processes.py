"""Small helpers to start, probe, wait for and stop local server processes (POSIX only)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = (
    "accepts_tcp",
    "command_line",
    "free_port",
    "pid_alive",
    "stop_pid",
    "tail",
    "wait_until",
)


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie.

    A server orphaned by a crash is re-parented to PID 1, which in a container
    often never reaps it: ``kill(pid, 0)`` then still succeeds, so the
    process state is read from ``/proc`` as well.

    Args:
        pid: The process id.

    Returns:
        True when the process runs (or is stopped), False when it is gone or a zombie.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The command name (2nd field) is in parentheses and may contain spaces.
    return status.rpartition(")")[2].split()[0] not in {"Z", "X"}


def command_line(pid: int) -> list[str]:
    """The command line of process `pid`, empty when unknown (gone, or not Linux)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def accepts_tcp(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on `host`:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        return probe.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now (another process may take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of the text file `path`, or a note when it cannot be read."""
    try:
        with path.open("rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 64 * 1024))
            text = file.read().decode(errors="replace")
    except OSError:
        return f"({path} could not be read)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def wait_until(ready: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `ready` until it returns True or `timeout` seconds have passed.

    Args:
        ready: The condition; it may raise to abort the wait.
        timeout: Seconds to wait at most.
        interval: Seconds between two polls.

    Returns:
        Whether `ready` returned True in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def stop_pid(pid: int, timeout: float = 10.0, sig: signal.Signals = signal.SIGTERM) -> bool:
    """Send `sig` to `pid`, wait up to `timeout` seconds for it to go, then SIGKILL it.

    The caller reaps the process if it is its own child (``Popen.wait``).

    Args:
        pid: The process to stop.
        timeout: Seconds to wait after `sig` before SIGKILL.
        sig: The polite signal.

    Returns:
        True when it went after `sig`, False when it had to be killed.
    """
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    if wait_until(lambda: not pid_alive(pid), timeout):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not pid_alive(pid), 5.0)
    return False
