"""`vigil serve api` as a real process: ready on its port, gone cleanly on SIGTERM.

On SIGTERM (or Ctrl-C) the process shuts down gracefully and exits 0: `vigil
serve` keeps uvicorn from re-raising the signal after its graceful shutdown.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx

from tests.integration.cli.conftest import VIGIL, free_port, wait_until
from tests.support.processes import REPO


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_api_answers_ready_and_stops_cleanly_on_sigterm(
    session_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*VIGIL, "serve", "api", "--port", str(port)],
            env=session_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: process.poll() is not None or _ready(port), "api /ready = 200")
        assert process.poll() is None, log_path.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert returncode == 0, log_path.read_text()
    assert not _ready(port)
