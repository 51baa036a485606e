"""Projections apply each event exactly once, survive crashes and equal a rebuild."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from nats.js import JetStreamContext

from shared.eventstore import EventStore
from shared.projections import ProjectionRunner, ProjectionTimeout
from shared.settings import Settings
from shared.wire import decode_wire
from tests.support.events import NOTES_TABLE, NotesProjection, notes
from tests.support.jetstream import stream_messages, wait_for_count
from tests.support.processes import kill_hard, start_worker, stop


@pytest.fixture
async def runner(pool: asyncpg.Pool) -> ProjectionRunner:
    async with pool.acquire() as conn:
        await conn.execute(NOTES_TABLE)
    return ProjectionRunner(pool, [NotesProjection()])


async def projected(pool: asyncpg.Pool, workspace_id: str) -> list[tuple[int, str]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT position, text FROM test_notes WHERE workspace_id = $1 ORDER BY position",
            workspace_id,
        )
    return [(r["position"], r["text"]) for r in rows]


async def from_log(store: EventStore, workspace_id: str) -> list[tuple[int, str]]:
    events = await store.read_all(workspace_id=workspace_id, limit=1_000_000)
    return [(e.position, e.data.text) for e in events]  # type: ignore[attr-defined]


async def test_catch_up_applies_once_and_a_repeat_is_a_no_op(
    runner: ProjectionRunner, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    recorded = await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(5))
    head = recorded[-1].position

    await runner.catch_up(workspace_id, head)
    await runner.catch_up(workspace_id, head)
    await runner.catch_up(workspace_id, recorded[1].position)

    assert await projected(pool, workspace_id) == await from_log(store, workspace_id)
    assert await runner.checkpoint("test.notes", workspace_id) == head


async def test_a_late_message_for_an_earlier_position_brings_everything_before_it(
    runner: ProjectionRunner, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    recorded = await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(6))

    await runner.catch_up(workspace_id, recorded[3].position)

    assert [p for p, _ in await projected(pool, workspace_id)] == [r.position for r in recorded[:4]]


async def test_concurrent_replicas_never_apply_an_event_twice(
    runner: ProjectionRunner, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    recorded = await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(200))
    replicas = [ProjectionRunner(pool, [NotesProjection()]) for _ in range(4)]

    await asyncio.gather(
        *(
            replica.catch_up(workspace_id, event.position)
            for event in recorded[::7]
            for replica in replicas
        ),
        runner.catch_up(workspace_id, recorded[-1].position),
    )

    assert await projected(pool, workspace_id) == await from_log(store, workspace_id)


async def test_wait_for_reports_a_lagging_read_model(
    runner: ProjectionRunner, workspace_id: str
) -> None:
    with pytest.raises(ProjectionTimeout, match="has not caught up"):
        await runner.wait_for("test.notes", workspace_id, 10**12, within=0.05)


async def test_kill_9_of_relay_and_projector_mid_stream_loses_and_repeats_nothing(
    settings: Settings,
    js: JetStreamContext,
    store: EventStore,
    pool: asyncpg.Pool,
    runner: ProjectionRunner,
    workspace_id: str,
) -> None:
    """10,000 events written while the process that relays and projects them is killed twice."""
    subject = f"{settings.subject_prefix}.{workspace_id}.>"
    total, batch = 10_000, 100
    worker = await start_worker(settings, "--project")

    async def write() -> None:
        for b in range(total // batch):
            await store.append_to_stream(
                f"n-{workspace_id}-{b % 7}", workspace_id, notes(batch, str(b))
            )
            await asyncio.sleep(0.002)

    writer = asyncio.create_task(write())
    try:
        for kill_after in (2_000, 6_000):
            await wait_for_count(js, settings.stream_name, subject, kill_after)
            await kill_hard(worker)
            worker = await start_worker(settings, "--project")
        await writer
        await wait_for_count(js, settings.stream_name, subject, total)
        head = (await store.read_all(workspace_id=workspace_id, limit=1, after=0))[0].position
        expected = await from_log(store, workspace_id)
        # A bound on liveness, not on speed: the restarted worker first gets what the durable
        # consumer kept for it, earlier tests' messages included, on a machine that may be busy.
        deadline = time.monotonic() + 180
        while await runner.checkpoint("test.notes", workspace_id) < expected[-1][0]:
            assert time.monotonic() < deadline, "projection did not catch up"
            await asyncio.sleep(0.05)
    finally:
        writer.cancel()
        await stop(worker)

    positions = [
        decode_wire(m.data).position
        for m in await stream_messages(js, settings.stream_name, subject)
    ]
    assert len(positions) == total
    assert positions == sorted(set(positions))
    assert positions[0] == head
    live = await projected(pool, workspace_id)
    assert live == expected
    await runner.rebuild(NotesProjection())
    assert await projected(pool, workspace_id) == live
