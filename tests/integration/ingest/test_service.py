"""The ingest service as it runs: an uploaded scan is queued, imported and projected."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from litestar.testing import AsyncTestClient

from services.ingest.app import create_app
from shared.contracts import ScanFailed
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from shared.settings import Settings
from tests.integration.ingest.conftest import upload, wait_finished


async def test_service_imports_uploaded_scans_and_projects_the_outcome(
    settings: Settings,
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.get("/ready")).status_code == 200
        scan_id = await upload(
            store, objects, workspace_id, b"\x00\x01\x02 no scanner wrote this" * 50
        )
        done = await wait_finished(store, scan_id)
        assert isinstance(done, ScanFailed)
        assert "does not recognise" in done.reason
        deadline = time.monotonic() + 30
        async with pool.acquire() as conn:
            while (
                status := await conn.fetchval(
                    "SELECT status FROM ingest_scans WHERE scan_id = $1", scan_id
                )
            ) != "failed":
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.05)
