"""(a) Batched append throughput against raw COPY of the same rows into the same table shape."""

from __future__ import annotations

import time

from bench.harness import Figure, report
from shared.contracts import new_event_id
from shared.database import connect_pool
from shared.eventstore import EventStore, StreamWrite
from shared.settings import Settings
from tests.support.events import NoteTaken

EVENTS = 100_000
BATCH = 2_000
PER_STREAM = 10


def _writes(batch: int, workspace: str) -> list[StreamWrite]:
    return [
        StreamWrite(
            stream_id=f"bench-{batch}-{s}",
            workspace_id=workspace,
            events=[NoteTaken(text=f"note {batch}.{s}.{i}", n=i) for i in range(PER_STREAM)],
        )
        for s in range(BATCH // PER_STREAM)
    ]


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    pool = await connect_pool(settings.database_url, max_size=4)
    store = EventStore(pool)
    batches = [_writes(b, "bench") for b in range(EVENTS // BATCH)]
    started = time.perf_counter()
    for writes in batches:
        await store.append(writes)
    ours = EVENTS / (time.perf_counter() - started)

    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        rows = await conn.fetch(
            "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
            " schema_version, data, metadata, recorded_at FROM events ORDER BY position"
        )
        prepared = [
            [(*r[:1], new_event_id(), *r[2:]) for r in rows[i : i + BATCH]]
            for i in range(0, len(rows), BATCH)
        ]
        started = time.perf_counter()
        for chunk in prepared:
            async with conn.transaction():
                await conn.copy_records_to_table("raw_events", records=chunk)
        raw = EVENTS / (time.perf_counter() - started)
    await pool.close()
    return [
        report(Figure("append throughput, raw asyncpg COPY (ceiling)", raw, "events/s")),
        report(
            Figure(
                f"append throughput, EventStore.append ({BATCH}-event batches)",
                ours,
                "events/s",
                ceiling=raw,
                target="ratio >= 0.5",
                meets=ours / raw >= 0.5,
            )
        ),
    ]
