"""Start and kill real service processes for crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def service_env(settings: Settings) -> dict[str, str]:
    """The environment that points a child process at this test session's servers."""
    assert settings.nats_url
    assert settings.database_url
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_DATABASE_URL": settings.database_url,
        "VIGIL_STREAM_NAME": settings.stream_name,
        "VIGIL_SUBJECT_PREFIX": settings.subject_prefix,
        "VIGIL_LOG_FORMAT": "json",
        "VIGIL_LOG_LEVEL": "warning",
    }


async def start_worker(settings: Settings, *args: str) -> asyncio.subprocess.Process:
    """Start `tests.support.worker` and wait until it says it is ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.worker",
        *args,
        env=service_env(settings),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout
    while (
        line := await asyncio.wait_for(process.stdout.readline(), 60)
    ).strip() != b"worker ready":
        assert line, "the worker exited before it was ready"
    asyncio.create_task(_drain(process.stdout))  # noqa: RUF006 (ends with the process)
    return process


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def kill_hard(process: asyncio.subprocess.Process) -> None:
    """SIGKILL: no cleanup, no goodbye, exactly like a crash."""
    process.send_signal(signal.SIGKILL)
    await process.wait()


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM and wait."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
