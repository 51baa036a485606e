"""Contract of the event log, run against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from typing import ClassVar

import asyncpg
import msgspec
import pytest

from shared.contracts import Event, EventMetadata, WorkspaceCreated, register, upcaster
from shared.eventstore import ConcurrencyError, EventStore, StreamWrite
from tests.support.events import NoteTaken, notes


@register
class TitleSet(Event, frozen=True, tag="TestTitleSet"):
    """Version 2 renamed `name` to `title`."""

    context: ClassVar[str] = "test"
    schema_version: ClassVar[int] = 2
    title: str


@upcaster("TestTitleSet", 1)
def _title_v1_to_v2(data: dict[str, object]) -> dict[str, object]:
    data["title"] = data.pop("name")
    return data


async def test_append_records_versions_and_contiguous_positions(
    store: EventStore, workspace_id: str
) -> None:
    recorded = await store.append_to_stream("s-" + workspace_id, workspace_id, notes(3))

    assert [r.stream_version for r in recorded] == [1, 2, 3]
    positions = [r.position for r in recorded]
    assert positions == list(range(positions[0], positions[0] + 3))
    assert await store.read_stream("s-" + workspace_id) == recorded


async def test_stream_reads_back_typed_events_and_metadata(
    store: EventStore, workspace_id: str
) -> None:
    meta = EventMetadata(correlation_id="c1", causation_id="c0", actor="alice", traceparent="00-x")
    event = WorkspaceCreated(workspace_id=workspace_id, name="Acme")
    await store.append_to_stream("ws-" + workspace_id, workspace_id, [event], metadata=meta)

    [read] = await store.read_stream("ws-" + workspace_id)

    assert read.data == event
    assert isinstance(read.data, WorkspaceCreated)
    assert read.metadata == meta
    assert read.type == "WorkspaceCreated"
    assert read.event_id.version == 7


async def test_new_stream_expectation_conflicts_with_existing_stream(
    store: EventStore, workspace_id: str
) -> None:
    stream = "s-" + workspace_id
    await store.append_to_stream(stream, workspace_id, notes(1), expected_version=0)
    head = await store.head_position()

    with pytest.raises(ConcurrencyError) as caught:
        await store.append_to_stream(stream, workspace_id, notes(1), expected_version=0)

    assert caught.value.actual == 1
    assert "expected 0" in str(caught.value)
    assert await store.head_position() == head


async def test_failed_expectation_in_a_batch_writes_nothing_at_all(
    store: EventStore, workspace_id: str
) -> None:
    await store.append_to_stream("a-" + workspace_id, workspace_id, notes(2))
    head = await store.head_position()
    writes = [
        StreamWrite(stream_id="b-" + workspace_id, workspace_id=workspace_id, events=notes(5)),
        StreamWrite(
            stream_id="a-" + workspace_id,
            workspace_id=workspace_id,
            events=notes(1),
            expected_version=1,
        ),
    ]

    with pytest.raises(ConcurrencyError):
        await store.append(writes)

    assert await store.head_position() == head
    assert await store.read_stream("b-" + workspace_id) == []


async def test_racing_writers_on_one_stream_exactly_one_wins(
    store: EventStore, workspace_id: str
) -> None:
    stream = "race-" + workspace_id
    await store.append_to_stream(stream, workspace_id, notes(1))

    results = await asyncio.gather(
        *(
            store.append_to_stream(stream, workspace_id, notes(1, f"w{i}"), expected_version=1)
            for i in range(6)
        ),
        return_exceptions=True,
    )

    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, ConcurrencyError) for r in results if isinstance(r, BaseException))
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2]


async def test_batch_of_thousands_is_one_transaction(store: EventStore, workspace_id: str) -> None:
    writes = [
        StreamWrite(
            stream_id=f"bulk-{workspace_id}-{i}", workspace_id=workspace_id, events=notes(5)
        )
        for i in range(1000)
    ]

    recorded = await store.append(writes)

    assert len(recorded) == 5000
    read = await store.read_all(after=recorded[0].position - 1, limit=10_000)
    assert [r.event_id for r in read if r.workspace_id == workspace_id] == [
        r.event_id for r in recorded
    ]


async def test_read_all_filters_by_workspace_and_type(store: EventStore, workspace_id: str) -> None:
    other = workspace_id + "-other"
    start = await store.head_position()
    await store.append_to_stream("n-" + workspace_id, workspace_id, notes(2))
    await store.append_to_stream("n-" + other, other, notes(2))
    await store.append_to_stream(
        "ws-" + workspace_id, workspace_id, [WorkspaceCreated(workspace_id=workspace_id, name="x")]
    )

    mine = await store.read_all(after=start, workspace_id=workspace_id)
    created = await store.read_all(after=start, types=["WorkspaceCreated"])

    assert [r.type for r in mine] == ["TestNoteTaken", "TestNoteTaken", "WorkspaceCreated"]
    assert [r.workspace_id for r in created] == [workspace_id]


async def test_old_schema_versions_are_upcast_on_read(
    store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    [first] = await store.append_to_stream(
        "t-" + workspace_id, workspace_id, [TitleSet(title="new")]
    )
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO events SELECT position + 1, gen_random_uuid(), stream_id, 2, workspace_id,"
            " event_type, 1, $2::jsonb, metadata, recorded_at FROM events WHERE position = $1",
            first.position,
            msgspec.json.encode({"type": "TestTitleSet", "name": "old"}),
        )

    events = await store.read_stream("t-" + workspace_id)

    assert [e.data for e in events] == [TitleSet(title="new"), TitleSet(title="old")]


@pytest.mark.parametrize(
    "statement", ["UPDATE events SET stream_id = 'x'", "DELETE FROM events", "TRUNCATE events"]
)
async def test_the_log_refuses_updates_and_deletes(
    store: EventStore, pool: asyncpg.Pool, workspace_id: str, statement: str
) -> None:
    await store.append_to_stream("s-" + workspace_id, workspace_id, notes(1))

    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute(statement)


async def test_follower_sees_every_event_once_in_one_order_under_concurrent_writers(
    store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    """8 writers x 2,000 events, committing after random delays, and a follower reading live."""
    writers, per_writer, batch = 8, 2000, 50
    start = await store.head_position()
    done = asyncio.Event()

    async def write(w: int) -> None:
        rng = random.Random(w)
        for b in range(per_writer // batch):
            async with pool.acquire() as conn, conn.transaction():
                await store.append_to_stream(
                    f"gap-{workspace_id}-{w}",
                    workspace_id,
                    notes(batch, f"{w}.{b}"),
                    conn=conn,
                )
                await asyncio.sleep(rng.random() / 200)

    async def follow() -> list[int]:
        seen: list[int] = []
        after = start
        while True:
            finished = done.is_set()
            page = await store.read_all(after=after, limit=700, workspace_id=workspace_id)
            seen.extend(r.position for r in page)
            if page:
                after = page[-1].position
            elif finished:
                return seen
            else:
                await asyncio.sleep(0.001)

    follower = asyncio.create_task(follow())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    seen = await follower

    final = [
        r.position
        for r in await store.read_all(after=start, limit=100_000, workspace_id=workspace_id)
    ]
    assert len(final) == writers * per_writer
    assert seen == final
    assert len(set(seen)) == len(seen)
    assert seen == sorted(seen)


async def test_nul_characters_are_stored_as_replacement_characters(
    store: EventStore, workspace_id: str
) -> None:
    [appended] = await store.append_to_stream(
        "nul-" + workspace_id, workspace_id, [NoteTaken(text="a\x00b \\u0000 literal")]
    )

    [read] = await store.read_stream("nul-" + workspace_id)

    assert read.data == NoteTaken(text="a\ufffdb \\u0000 literal")
    assert appended.data == read.data  # what projections apply from memory is what was stored
