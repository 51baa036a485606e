"""The process supervisor behind `vigil up`: spawn, wait until ready, restart, stop.

Each child is a `vigil serve` process in a session of its own, so a Ctrl-C
in the terminal reaches only the supervisor, which then stops the children
in order (SIGTERM, a grace period, SIGKILL for stragglers).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import httpx

from services.cli.serve import SUPERVISOR_PID_ENV

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from rich.console import Console

MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0
STABLE_AFTER = 30.0
"""A child that ran this long before exiting is restarted after the minimum delay again."""
GRACE = 10.0
"""How long children get to stop after SIGTERM before they are killed."""


@dataclasses.dataclass(eq=False)
class Child:
    """One replica of a service: where it listens and logs, and its current process."""

    service: str
    replica: int
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = MIN_BACKOFF
    restarts: int = 0
    ready: bool = False

    @property
    def name(self) -> str:
        """``service-replica``, as in logs and messages."""
        return f"{self.service}-{self.replica}"

    @property
    def pid(self) -> int:
        """The pid of the current process (0 before the first start)."""
        return self.process.pid if self.process else 0

    def exit_code(self) -> int | None:
        """None while the process runs; its exit code (negative: signal) once it has ended."""
        return self.process.poll() if self.process else None


class StartupFailed(Exception):
    """A child exited, or did not become ready in time, before everything was up."""

    def __init__(self, child: Child, reason: str) -> None:
        super().__init__(f"{child.name} {reason}")
        self.child = child


def describe_exit(code: int) -> str:
    """An exit code in words: ``with code 1`` or ``on SIGKILL``."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"on {signal.Signals(-code).name}"
    return f"with code {code}"


class Supervisor:
    """Runs `children` as `vigil serve` processes and keeps them running."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        env: dict[str, str],
        probe_host: str,
        console: Console,
        on_change: Callable[[], None],
    ) -> None:
        self.children = list(children)
        self._env = env
        self._probe_host = probe_host
        self._console = console
        self._on_change = on_change

    def _spawn(self, child: Child) -> None:
        command = [sys.executable, "-m", "services.cli.main", "serve", child.service]
        command += ["--port", str(child.port)]
        env = {
            **self._env,
            "VIGIL_SERVICE_NAME": child.service,
            SUPERVISOR_PID_ENV: str(os.getpid()),
        }
        with open(child.log, "ab") as log:
            child.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        child.started_at = time.monotonic()
        child.restart_at = None
        child.ready = False

    def start(self) -> None:
        """Start every child."""
        for child in self.children:
            self._spawn(child)
        self._on_change()

    def _is_ready(self, client: httpx.Client, child: Child) -> bool:
        try:
            url = f"http://{self._probe_host}:{child.port}/ready"
            return client.get(url).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(
        self,
        stop: threading.Event,
        timeout: float,
        progress: Callable[[list[Child]], None],
    ) -> bool:
        """Poll /ready until every child answers 200; False if `stop` was set first.

        Raises `StartupFailed` when a child exits or `timeout` passes first:
        at start-up a crash is a configuration problem, not bad luck.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while not stop.is_set():
                waiting = [child for child in self.children if not child.ready]
                progress(waiting)
                if not waiting:
                    return True
                for child in waiting:
                    code = child.exit_code()
                    if code is not None:
                        raise StartupFailed(child, f"exited {describe_exit(code)}")
                    child.ready = self._is_ready(client, child)
                if time.monotonic() > deadline and not all(c.ready for c in waiting):
                    late = next(c for c in waiting if not c.ready)
                    raise StartupFailed(late, f"did not answer /ready within {timeout:.0f} s")
                stop.wait(0.2)
        return False

    def watch(self, stop: threading.Event) -> None:
        """Restart children that exit, with exponential backoff, until `stop` is set."""
        while not stop.wait(0.25):
            now = time.monotonic()
            for child in self.children:
                if child.restart_at is not None:
                    if now >= child.restart_at:
                        child.restarts += 1
                        self._spawn(child)
                        self._on_change()
                        self._console.log(f"restarted {child.name} (pid {child.pid})")
                    continue
                code = child.exit_code()
                if code is None:
                    continue
                if now - child.started_at >= STABLE_AFTER:
                    child.backoff = MIN_BACKOFF
                self._console.log(
                    f"{child.name} (pid {child.pid}) exited {describe_exit(code)}; "
                    f"restarting in {child.backoff:.1f} s (log: {child.log})"
                )
                child.restart_at = now + child.backoff
                child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def stop(self, grace: float = GRACE) -> None:
        """SIGTERM every child, wait up to `grace` seconds, SIGKILL the stragglers, reap all."""
        running = [c.process for c in self.children if c.process and c.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            time.sleep(0.05)
        for process in running:
            if process.poll() is None:
                self._console.log(
                    f"pid {process.pid} did not stop within {grace:.0f} s; killing it"
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()
