"""`vigil up` end to end: its own embedded servers, two gateway replicas, restarts, Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import httpx
import msgspec

from services.cli._runfile import RunRecord, SupervisedProcess, read_run_record
from services.cli.catalog import GATEWAY, SERVICES
from shared.embedded import find_running
from tests.integration.cli.conftest import (
    VIGIL,
    free_port,
    pid_alive,
    wait_until,
    without_vigil_env,
)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class _Up:
    """A `vigil up` child process whose output lands in files under `folder`."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.folder = folder
        self.out = folder / "up.out"
        self.err = folder / "up.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [*VIGIL, "up", *args],
                cwd=folder,
                env=without_vigil_env(),
                stdout=out,
                stderr=err,
            )

    def output(self) -> str:
        return self.out.read_text()

    def banner_shown(self) -> bool:
        assert self.process.poll() is None, f"vigil up exited:\n{self.err.read_text()}"
        return "Press Ctrl-C to stop." in self.output()


def _vigil(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VIGIL, *args],
        cwd=folder,
        env=without_vigil_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _process(record: RunRecord, service: str, replica: int) -> SupervisedProcess:
    return next(p for p in record.processes if (p.service, p.replica) == (service, replica))


def _stop_leftover_servers(state: Path) -> None:
    """After a failed run only: stop the servers that run started, so none outlive the test."""
    with contextlib.suppress(OSError, msgspec.DecodeError):
        record = msgspec.json.decode((state / "servers.json").read_bytes())
        for key in ("nats_pid", "postgres_pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record[key], signal.SIGTERM)


def test_up_serves_replicas_restarts_the_dead_and_stops_everything_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port(count=2)
    state = tmp_path / ".vigil"
    up = _Up(tmp_path, "--scale", "api=2", "--port", str(port), "--state-dir", ".vigil")
    try:
        wait_until(up.banner_shown, "the banner", timeout=180)
        token = (state / "admin-token").read_text().strip()
        assert token in up.output()
        assert f"http://127.0.0.1:{port}" in up.output()
        assert (state / "admin-token").stat().st_mode & 0o777 == 0o600
        record = read_run_record(state)
        assert record is not None
        gateways = [(p.replica, p.port) for p in record.processes if p.service == GATEWAY]
        assert gateways == [(1, port), (2, port + 1)]
        assert {p.service for p in record.processes} == set(SERVICES)
        assert all(_ready(p.port) for p in record.processes)

        created = _vigil(tmp_path, "token", "create", "--role", "viewer")
        assert created.returncode == 0, created.stderr
        viewer = created.stdout.strip()
        listed = httpx.get(
            f"http://127.0.0.1:{port + 1}/api/v1/workspaces",
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert listed.status_code == 200

        second = _vigil(tmp_path, "up", "--port", str(free_port()), "--state-dir", ".vigil")
        assert second.returncode != 0
        assert "already running" in second.stderr

        victim = _process(record, GATEWAY, 2)
        os.kill(victim.pid, signal.SIGKILL)

        def restarted() -> RunRecord | None:
            now = read_run_record(state)
            replaced = now is not None and _process(now, GATEWAY, 2).pid != victim.pid
            return now if replaced and _ready(victim.port) else None

        after = wait_until(restarted, "the killed replica to be restarted and ready")
        assert isinstance(after, RunRecord)
        assert _process(after, GATEWAY, 2).restarts == 1
        assert _process(after, GATEWAY, 1).pid == _process(record, GATEWAY, 1).pid

        status = _vigil(tmp_path, "status")
        assert status.returncode == 0, status.stderr
        assert "embedded" in status.stdout
        assert "Relay" in status.stdout

        up.process.send_signal(signal.SIGINT)
        assert up.process.wait(60) == 0, up.err.read_text()
    finally:
        if up.process.poll() is None:
            up.process.kill()
            up.process.wait()
            _stop_leftover_servers(state)

    assert not any(pid_alive(p.pid) for p in after.processes)
    assert find_running(state) is None
    assert read_run_record(state) is None
