from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from services.api.dependencies import projections as api_projections
from services.ingest.projections import ingest_projections
from shared.migrations import apply_migrations
from shared.projections import Projection, ProjectionRunner

TABLE_KEYS = {
    "ingest_scans": "scan_id",
    "ingest_hosts": "asset_id",
    "ingest_services": "asset_id, port, protocol",
    "ingest_findings": "fingerprint",
    "api_workspaces": "workspace_id",
}


def all_projections() -> list[Projection]:
    return [*api_projections(), *ingest_projections()]


@pytest.fixture(scope="session")
async def read_model_schemas(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "api", "services.api")
        await apply_migrations(conn, "ingest", "services.ingest")


async def project_live(pool: asyncpg.Pool, workspaces: list[str]) -> None:
    """What the services' consumers do: catch every workspace up to the head."""
    async with pool.acquire() as conn:
        head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    runner = ProjectionRunner(pool, all_projections())
    for workspace in workspaces:
        await runner.catch_up(workspace, head)


async def snapshot(pool: asyncpg.Pool, workspaces: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every read-model row of `workspaces`, in a stable order."""
    async with pool.acquire() as conn:
        return {
            table: [
                dict(row)
                for row in await conn.fetch(
                    f"SELECT * FROM {table} WHERE workspace_id = ANY($1::text[])"
                    f" ORDER BY workspace_id, {key}",
                    workspaces,
                )
            ]
            for table, key in TABLE_KEYS.items()
        }


async def index_names(pool: asyncpg.Pool, table: str) -> set[str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND schemaname = 'public'", table
        )
    return {row["indexname"] for row in rows}
