"""The admin token `vigil up` shows: kept in ``<state_dir>/admin-token`` and reused."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from services.api.tokens import Role, create_token, verify_token
from services.cli._servers import with_database
from services.cli.tokens import apply_api_schema

if TYPE_CHECKING:
    from pathlib import Path

    import asyncpg

TOKEN_FILE = "admin-token"
ADMIN_TOKEN_NAME = "vigil up admin"


def _write_secret(path: Path, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")


def prepare_database(database_url: str, state_dir: Path) -> str:
    """Apply the shared and api migrations; return the admin token, reused while it verifies."""
    path = state_dir / TOKEN_FILE
    try:
        kept = path.read_text().strip()
    except OSError:
        kept = ""

    async def work(conn: asyncpg.Connection[asyncpg.Record]) -> str:
        await apply_api_schema(conn)
        principal = await verify_token(conn, kept) if kept else None
        if principal and principal.role is Role.ADMIN and principal.workspace_id is None:
            return kept
        return await create_token(conn, name=ADMIN_TOKEN_NAME, role=Role.ADMIN)

    token = with_database(database_url, work)
    if token != kept:
        _write_secret(path, token)
    else:
        path.chmod(0o600)
    return token
