from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from services.ingest.projections import ingest_projections
from services.stats.projections import StatsProjection
from shared.migrations import apply_migrations
from shared.projections import Projection
from shared.settings import Settings
from tests.support.processes import REPO, service_env, stop


@pytest.fixture(scope="session")
async def service_schemas(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "ingest", "services.ingest")
        await apply_migrations(conn, "stats", "services.stats")


def scaled_projections() -> list[Projection]:
    return [*ingest_projections(), StatsProjection()]


Start = Callable[[str], Awaitable[asyncio.subprocess.Process]]


@pytest.fixture
async def start_replica(settings: Settings) -> AsyncIterator[Start]:
    """Start replicas (`ingest` or `stats`) as real processes; all are stopped at the end."""
    started: list[asyncio.subprocess.Process] = []

    async def start(kind: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.scaling.replica",
            kind,
            env=service_env(settings),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        started.append(process)
        assert process.stdout
        line = await asyncio.wait_for(process.stdout.readline(), 90)
        assert line.strip() == b"worker ready", f"{kind} replica did not start: {line!r}"
        return process

    try:
        yield start
    finally:
        await asyncio.gather(*(stop(process) for process in started))


async def wait_until_projected(
    pool: asyncpg.Pool, projections: list[Projection], workspaces: list[str], within: float = 120
) -> None:
    """Poll until every projection's checkpoint is at its workspace's last event, twice running."""
    deadline, settled = time.monotonic() + within, 0
    while settled < 2:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT e.workspace_id, p.name, coalesce(c.position, 0) >= max(e.position) AS done"
                " FROM events e CROSS JOIN unnest($2::text[]) p(name)"
                " LEFT JOIN projection_checkpoints c"
                " ON c.projection = p.name AND c.workspace_id = e.workspace_id"
                " WHERE e.workspace_id = ANY($1::text[])"
                " GROUP BY e.workspace_id, p.name, c.position",
                workspaces,
                [p.name for p in projections],
            )
        settled = settled + 1 if rows and all(row["done"] for row in rows) else 0
        assert time.monotonic() < deadline, [tuple(r) for r in rows if not r["done"]]
        await asyncio.sleep(0.2)
