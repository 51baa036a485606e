from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import asyncpg
import nats
import pytest

from services.reports.builder import ReportBuilder
from services.reports.jobs import ReportQueue
from shared.contracts import (
    Event,
    ReportFailed,
    ReportFilters,
    ReportFormat,
    ReportGenerated,
    ReportRequested,
    ReportTemplate,
    finding_stream,
    report_stream,
)
from shared.contracts.workspace import workspace_stream
from shared.eventstore import EventStore, StreamWrite
from shared.migrations import apply_migrations
from shared.objectstore import REPORTS_BUCKET, ScanObjectStore
from shared.settings import Settings

FAST_FAILOVER = {
    "heartbeat_interval": 0.5,
    "heartbeat_ttl": 3.0,
    "maintenance_interval": 1.0,
    "poll_interval": 0.2,
    "min_backoff": 0.2,
    "max_backoff": 1.0,
}


@pytest.fixture(scope="session")
async def reports_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "reports", "services.reports")


@pytest.fixture
async def files(settings: Settings) -> AsyncIterator[ScanObjectStore]:
    assert settings.nats_url
    nc = await nats.connect(settings.nats_url)
    try:
        yield ScanObjectStore(nc.jetstream(), bucket=REPORTS_BUCKET)
    finally:
        await nc.drain()


@pytest.fixture
def builder(pool: asyncpg.Pool, store: EventStore, files: ScanObjectStore) -> ReportBuilder:
    return ReportBuilder(pool, store, files, progress_interval=0.0)


@pytest.fixture(scope="module")
def queue(settings: Settings) -> Iterator[ReportQueue]:
    """A render queue with a real dramatiq worker (two threads) in this process."""
    queue = ReportQueue(settings, **FAST_FAILOVER)  # type: ignore[arg-type]
    queue.start_worker()
    try:
        yield queue
    finally:
        queue.close()


async def append_history(store: EventStore, workspace_id: str, events: Sequence[Event]) -> int:
    """Append a workspace's events (workspace + findings) in a few batches; returns the head."""
    writes = []
    for event in events:
        fingerprint = getattr(event, "fingerprint", None)
        stream = finding_stream(fingerprint) if fingerprint else workspace_stream(workspace_id)
        writes.append(StreamWrite(stream_id=stream, workspace_id=workspace_id, events=[event]))
    for start in range(0, len(writes), 2000):
        await store.append(writes[start : start + 2000])
    return await store.head_position()


async def record_request(
    store: EventStore,
    workspace_id: str,
    *,
    format: ReportFormat = ReportFormat.CSV,
    template: ReportTemplate = ReportTemplate.EXECUTIVE,
    filters: ReportFilters | None = None,
) -> ReportRequested:
    """Record a request as the gateway does: as of the current head."""
    report_id = f"rep-{secrets.token_hex(6)}"
    asked = ReportRequested(
        report_id=report_id,
        workspace_id=workspace_id,
        format=format,
        template=template,
        filters=filters or ReportFilters(),
        position=await store.head_position(),
    )
    await store.append_to_stream(
        report_stream(report_id), workspace_id, [asked], expected_version=0
    )
    return asked


async def wait_outcome(
    store: EventStore, report_id: str, within: float = 120.0
) -> ReportGenerated | ReportFailed:
    """Poll the report's stream until it is generated or failed."""
    deadline = time.monotonic() + within
    while True:
        for event in await store.read_stream(report_stream(report_id)):
            if isinstance(event.data, ReportGenerated | ReportFailed):
                return event.data
        if time.monotonic() > deadline:
            raise AssertionError(f"report {report_id} had no outcome within {within}s")
        await asyncio.sleep(0.1)


async def read_file(files: ScanObjectStore, name: str) -> bytes:
    async with files.download(name) as file:
        return file.read()
