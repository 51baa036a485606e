"""`vigil import` end to end: a real process uploading to a real gateway and ingest service."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from services.api.app import create_app
from services.api.tokens import Role, create_token
from shared.settings import Settings
from tests.integration.cli.conftest import VIGIL
from tests.integration.ingest.formats import scan_file
from tests.support.processes import REPO
from tests.support.services import running_ingest, serve_app

HOSTS = {"10.0.0.1": ["p1", "r2", "r3"], "10.0.0.2": ["p1", "r4"], "10.0.0.3": []}


@pytest.fixture(scope="module")
async def gateway(settings: Settings) -> AsyncIterator[str]:
    """The gateway and the ingest service, running until the module ends."""
    async with serve_app(create_app(settings)) as url, running_ingest(settings):
        yield url


@pytest.fixture(scope="module")
async def admin_token(gateway: str, pool: asyncpg.Pool) -> str:
    async with pool.acquire() as conn:
        return await create_token(conn, name="import-test", role=Role.ADMIN)


@pytest.fixture
async def workspace(gateway: str, admin_token: str) -> str:
    workspace_id = f"ws-{secrets.token_hex(6)}"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as client:
        created = await client.post(
            "/api/v1/workspaces", json={"id": workspace_id, "name": "import test"}
        )
    assert created.status_code == 201, created.text
    return workspace_id


async def vigil_import(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `vigil import ...` as a process; the event loop keeps serving meanwhile."""
    process = await asyncio.create_subprocess_exec(
        *VIGIL, "import", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 240)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_import_uploads_waits_and_prints_the_counts(
    gateway: str, admin_token: str, workspace: str, session_env: dict[str, str], tmp_path: Path
) -> None:
    scan = tmp_path / "weekly.jsonl"
    scan.write_bytes(scan_file(HOSTS))
    env = {**session_env, "VIGIL_URL": gateway, "VIGIL_TOKEN": admin_token}

    code, out, err = await vigil_import(env, str(scan), "--workspace", workspace, "--scope", "w1")

    assert code == 0, err
    assert "applied: weekly.jsonl as vigil-test-jsonl (scanner testscanner)" in out
    assert "hosts 3, services 3, findings 5" in out
    assert "5 new, 0 seen again, 0 reopened, 0 closed" in out


async def test_import_of_a_broken_file_exits_1_with_the_reason(
    gateway: str, admin_token: str, workspace: str, session_env: dict[str, str], tmp_path: Path
) -> None:
    scan = tmp_path / "cut-short.jsonl"
    scan.write_bytes(scan_file(HOSTS, truncate=True))
    env = {**session_env, "VIGIL_TOKEN": admin_token}

    code, out, err = await vigil_import(env, str(scan), "-w", workspace, "--url", gateway)

    assert code == 1
    assert "Import of cut-short.jsonl failed: The file is truncated" in err
    assert "applied" not in out


async def test_import_uses_the_admin_token_vigil_up_keeps_and_can_skip_waiting(
    gateway: str, admin_token: str, workspace: str, session_env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "admin-token").write_text(admin_token + "\n")
    scan = tmp_path / "scan.jsonl"
    scan.write_bytes(scan_file({"10.9.9.9": ["r1"]}))
    env = {**session_env, "VIGIL_URL": gateway, "VIGIL_STATE_DIR": str(state)}
    env.pop("VIGIL_TOKEN", None)

    code, out, err = await vigil_import(env, str(scan), "-w", workspace, "--no-wait")

    assert code == 0, err
    assert out.startswith("Scan ")
    assert f"queued: {gateway}/api/v1/workspaces/{workspace}/scans/" in out


async def test_import_explains_a_refusal(
    gateway: str, session_env: dict[str, str], tmp_path: Path, workspace: str
) -> None:
    scan = tmp_path / "scan.jsonl"
    scan.write_bytes(scan_file({"10.9.9.9": ["r1"]}))
    env = {**session_env, "VIGIL_URL": gateway, "VIGIL_TOKEN": "vgl_not-a-real-token"}

    code, _, err = await vigil_import(env, str(scan), "-w", workspace)

    assert code == 1
    assert "check --token / VIGIL_TOKEN" in err
