"""`vigil token create` prints one token, verifiable, with the role and scope asked for."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from services.api.tokens import Role, verify_token
from services.cli._admin_token import TOKEN_FILE, prepare_database
from tests.integration.cli.conftest import VIGIL
from tests.support.processes import REPO


@pytest.mark.parametrize(
    ("role", "workspace_id"),
    [(Role.VIEWER, None), (Role.ANALYST, "ws-cli-acme"), (Role.ADMIN, None)],
)
async def test_token_create_prints_only_a_token_with_its_role_and_scope(
    session_env: dict[str, str], pool: asyncpg.Pool, role: Role, workspace_id: str | None
) -> None:
    scope = ["--workspace", workspace_id] if workspace_id else []
    process = await asyncio.create_subprocess_exec(
        *VIGIL, "token", "create", "--role", role.value, *scope, "--name", "cli test",
        env=session_env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert len(lines) == 1
    async with pool.acquire() as conn:
        principal = await verify_token(conn, lines[0])
    assert principal is not None
    assert principal.role is role
    assert principal.workspace_id == workspace_id
    assert principal.name == "cli test"


def test_vigil_up_keeps_its_admin_token_while_it_verifies(
    database_url: str, tmp_path: Path
) -> None:
    first = prepare_database(database_url, tmp_path)
    again = prepare_database(database_url, tmp_path)
    token_file = tmp_path / TOKEN_FILE

    assert again == first
    assert token_file.read_text().strip() == first
    assert token_file.stat().st_mode & 0o777 == 0o600


def test_vigil_up_replaces_an_admin_token_that_no_longer_verifies(
    database_url: str, tmp_path: Path
) -> None:
    token_file = tmp_path / TOKEN_FILE
    token_file.write_text("vgl_revoked-or-from-another-database\n")
    token_file.chmod(0o644)

    token = prepare_database(database_url, tmp_path)

    assert token.startswith("vgl_")
    assert token_file.read_text().strip() == token
    assert token_file.stat().st_mode & 0o777 == 0o600
