from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import nats
import pytest

from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from shared.contracts import (
    RecordedEvent,
    ScanCompleted,
    ScanFailed,
    ScanUploaded,
    scan_stream,
)
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.objectstore import ScanObjectStore
from shared.projections import ProjectionRunner
from shared.settings import Settings
from tests.integration.ingest.formats import FormatsWithFixture

FAST_FAILOVER = {
    "heartbeat_interval": 0.5,
    "heartbeat_ttl": 3.0,
    "maintenance_interval": 1.0,
    "poll_interval": 0.2,
    "min_backoff": 0.2,
    "max_backoff": 1.0,
}


@pytest.fixture(scope="session")
async def ingest_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "ingest", "services.ingest")


@pytest.fixture
async def objects(settings: Settings) -> AsyncIterator[ScanObjectStore]:
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        yield ScanObjectStore(nc.jetstream())
    finally:
        await nc.drain()


@pytest.fixture(scope="module")
def idle_queue(settings: Settings) -> Iterator[ImportQueue]:
    """A queue to enqueue on, with no worker in this process."""
    queue = ImportQueue(settings, formats=FormatsWithFixture(), **FAST_FAILOVER)
    try:
        yield queue
    finally:
        queue.close()


@pytest.fixture(scope="module")
def queue(settings: Settings, ingest_schema: None) -> Iterator[ImportQueue]:
    """A queue with a real dramatiq worker (two threads) in this process."""
    queue = ImportQueue(settings, formats=FormatsWithFixture(), **FAST_FAILOVER)
    queue.start_worker()
    try:
        yield queue
    finally:
        queue.close()


async def upload(
    store: EventStore,
    objects: ScanObjectStore,
    workspace_id: str,
    content: bytes,
    *,
    scope: str | None = None,
    format_hint: str | None = None,
) -> str:
    """Store a file and record its `ScanUploaded`, as the upload route does."""
    scan_id = f"scan-{secrets.token_hex(8)}"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64 * 1024):
            yield content[start : start + 64 * 1024]

    stored = await objects.put(scan_id, chunks())
    assert stored.sha256 == hashlib.sha256(content).hexdigest()
    await store.append_to_stream(
        scan_stream(scan_id),
        workspace_id,
        [
            ScanUploaded(
                scan_id=scan_id,
                workspace_id=workspace_id,
                object_name=scan_id,
                filename="scan.jsonl",
                size=stored.size,
                sha256=stored.sha256,
                format_hint=format_hint,
                scope=scope,
            )
        ],
        expected_version=0,
    )
    return scan_id


async def wait_finished(
    store: EventStore, scan_id: str, within: float = 120.0
) -> ScanCompleted | ScanFailed:
    """Poll the scan's stream until it completes or fails."""
    deadline = time.monotonic() + within
    while True:
        for event in await store.read_stream(scan_stream(scan_id)):
            if isinstance(event.data, ScanCompleted | ScanFailed):
                return event.data
        if time.monotonic() > deadline:
            raise AssertionError(f"scan {scan_id} did not finish within {within}s")
        await asyncio.sleep(0.1)


async def project(pool: asyncpg.Pool, workspace_id: str) -> None:
    async with pool.acquire() as conn:
        head = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    await ProjectionRunner(pool, ingest_projections()).catch_up(workspace_id, head)


async def read_models(pool: asyncpg.Pool, workspace_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every hosts / services / findings row of a workspace, in a stable order."""
    order = {
        "ingest_hosts": "asset_id",
        "ingest_services": "asset_id, port, protocol",
        "ingest_findings": "fingerprint",
    }
    async with pool.acquire() as conn:
        return {
            table: [
                dict(row)
                for row in await conn.fetch(
                    f"SELECT * FROM {table} WHERE workspace_id = $1 ORDER BY {key}", workspace_id
                )
            ]
            for table, key in order.items()
        }


async def workspace_events(store: EventStore, workspace_id: str) -> list[RecordedEvent]:
    return await store.read_all(workspace_id=workspace_id, limit=1_000_000)
