"""Helpers for running `vigil` as users do: real processes, real servers, free ports."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.embedded import ServerAddresses
from shared.settings import Settings
from tests.support.processes import REPO

VIGIL = [sys.executable, "-m", "services.cli.main"]


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive loopback ports that are free right now."""
    for _attempt in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count > 65535:
            continue
        if all(_bindable(first + offset) for offset in range(1, count)):
            return first
    raise AssertionError(f"no {count} consecutive free ports found")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> object:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)
    return result


def without_vigil_env() -> dict[str, str]:
    """This process's environment minus every ``VIGIL_*`` variable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIGIL_")}
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def session_env(servers: ServerAddresses, database_url: str, settings: Settings) -> dict[str, str]:
    """An environment pointing `vigil` at this test session's servers, database and stream."""
    return {
        **without_vigil_env(),
        "VIGIL_NATS_URL": servers.nats_url,
        "VIGIL_DATABASE_URL": database_url,
        "VIGIL_STREAM_NAME": settings.stream_name,
        "VIGIL_SUBJECT_PREFIX": settings.subject_prefix,
        "VIGIL_LOG_FORMAT": "json",
        "VIGIL_LOG_LEVEL": "warning",
    }


@pytest.fixture
def empty_state_dir(tmp_path: Path) -> Path:
    """A state folder where no `vigil up` ever ran."""
    path = tmp_path / "no-servers-here"
    path.mkdir()
    return path
