"""(c) Relay throughput to JetStream against raw nats-py publish_async of the same messages."""

from __future__ import annotations

import asyncio
import time

import msgspec
import nats
from nats.js.api import StorageType, StreamConfig

from bench.harness import Figure, report
from shared.database import connect_pool
from shared.eventstore import EventStore, StreamWrite, wire_from_row
from shared.relay import Relay
from shared.settings import Settings
from tests.support.events import NoteTaken

EVENTS = 100_000
encode = msgspec.json.Encoder().encode


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    assert settings.nats_url
    pool = await connect_pool(settings.database_url, max_size=4)
    store = EventStore(pool)
    for b in range(EVENTS // 2000):
        await store.append(
            [
                StreamWrite(
                    stream_id=f"relay-{b}-{s}",
                    workspace_id="bench",
                    events=[NoteTaken(text=f"note {b}.{s}.{i}", n=i) for i in range(10)],
                )
                for s in range(200)
            ]
        )
    nc = await nats.connect(settings.nats_url)
    js = nc.jetstream()

    relay = Relay(settings, js)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    while relay.position < EVENTS:
        await asyncio.sleep(0.005)
    ours = EVENTS / (time.perf_counter() - started)
    stop.set()
    await task

    raw_stream = settings.stream_name + "_RAW"
    await js.add_stream(StreamConfig(name=raw_stream, subjects=["raw.>"], storage=StorageType.FILE))
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
            " schema_version, data, metadata, recorded_at FROM events ORDER BY position"
        )
    messages = [
        (
            f"raw.bench.test.{row['event_type']}",
            encode(wire_from_row(row)),
            {"Nats-Msg-Id": str(row["event_id"]), "Vigil-Position": str(row["position"])},
        )
        for row in rows
    ]
    started = time.perf_counter()
    acks = [
        await js.publish_async(subject, body, headers=headers)
        for subject, body, headers in messages
    ]
    await asyncio.gather(*acks)
    raw = EVENTS / (time.perf_counter() - started)
    await js.delete_stream(raw_stream)
    await nc.drain()
    await pool.close()
    return [
        report(Figure("JetStream publish_async, raw nats-py (ceiling)", raw, "msgs/s")),
        report(
            Figure(
                "relay throughput, log -> JetStream",
                ours,
                "events/s",
                ceiling=raw,
                target="ratio >= 0.5",
                meets=ours / raw >= 0.5,
            )
        ),
    ]
