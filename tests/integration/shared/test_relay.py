"""The relay publishes the log to JetStream in order, exactly once, with one active relay."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
from nats.js import JetStreamContext

from shared.eventstore import EventStore, wire_from_row
from shared.relay import Relay, checkpoint_key, ensure_stream
from shared.settings import Settings
from shared.wire import POSITION_HEADER, decode_wire, event_subject
from tests.support.events import notes
from tests.support.jetstream import stream_messages, wait_for_count


@contextlib.asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await task


async def wait_until(predicate: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_committed_events_reach_the_stream_once_in_log_order(
    settings: Settings, js: JetStreamContext, store: EventStore, workspace_id: str
) -> None:
    subject = f"{settings.subject_prefix}.{workspace_id}.>"
    async with running(Relay(settings, js)):
        recorded = []
        for batch in range(5):
            recorded += await store.append_to_stream(
                f"n-{workspace_id}", workspace_id, notes(40, str(batch))
            )
        await wait_for_count(js, settings.stream_name, subject, len(recorded))

    messages = await stream_messages(js, settings.stream_name, subject)
    bodies = [decode_wire(m.data) for m in messages]
    assert [b.position for b in bodies] == [r.position for r in recorded]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [str(r.event_id) for r in recorded]
    assert {m.subject for m in messages} == {
        f"{settings.subject_prefix}.{workspace_id}.test.TestNoteTaken"
    }
    assert [b.to_recorded() for b in bodies] == recorded


async def test_only_one_of_two_relays_is_active_and_the_other_takes_over(
    settings: Settings, js: JetStreamContext, store: EventStore, workspace_id: str
) -> None:
    subject = f"{settings.subject_prefix}.{workspace_id}.>"
    first, second = Relay(settings, js), Relay(settings, js)
    async with running(second):
        async with running(first):
            await wait_until(lambda: first.is_leader or second.is_leader)
            await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(10))
            await wait_for_count(js, settings.stream_name, subject, 10)
            assert [first.is_leader, second.is_leader].count(True) == 1
            leader_was_first = first.is_leader
        if leader_was_first:
            await wait_until(lambda: second.is_leader)
        await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(10, "after"))
        await wait_for_count(js, settings.stream_name, subject, 20)

    positions = [
        decode_wire(m.data).position
        for m in await stream_messages(js, settings.stream_name, subject)
    ]
    assert len(positions) == 20
    assert positions == sorted(set(positions))


async def test_a_restarted_relay_resumes_where_the_stream_ends(
    settings: Settings, js: JetStreamContext, store: EventStore, workspace_id: str
) -> None:
    subject = f"{settings.subject_prefix}.{workspace_id}.>"
    async with running(Relay(settings, js)):
        await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(30))
        await wait_for_count(js, settings.stream_name, subject, 30)
    await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(30, "offline"))

    restarted = Relay(settings, js)
    async with running(restarted):
        await wait_for_count(js, settings.stream_name, subject, 60)
        await wait_until(lambda: restarted.position >= 60)

    messages = await stream_messages(js, settings.stream_name, subject)
    assert len(messages) == 60
    assert len({m.headers["Nats-Msg-Id"] for m in messages}) == 60


async def test_republishing_an_event_is_deduplicated_by_message_id(
    settings: Settings, js: JetStreamContext, store: EventStore, workspace_id: str
) -> None:
    subject = f"{settings.subject_prefix}.{workspace_id}.>"
    async with running(Relay(settings, js)):
        [event] = await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(1))
        await wait_for_count(js, settings.stream_name, subject, 1)
    [message] = await stream_messages(js, settings.stream_name, subject)

    ack = await js.publish(message.subject, message.data, headers=dict(message.headers or {}))

    assert ack.duplicate
    assert len(await stream_messages(js, settings.stream_name, subject)) == 1
    assert str(event.event_id) == message.headers["Nats-Msg-Id"]


async def test_a_batch_that_broke_off_mid_way_is_completed_without_duplicates(
    settings: Settings,
    js: JetStreamContext,
    store: EventStore,
    pool: asyncpg.Pool,
    workspace_id: str,
) -> None:
    """A node died while a pipelined batch was in flight: later messages landed, earlier ones not.

    The stream's last message is then past the relay's checkpoint with holes before it. The
    relay must fill the holes and must not publish again what is there, even when message-id
    dedupe cannot help (the messages here carry none, as after the duplicate window).
    """
    tag = secrets.token_hex(3)
    own = msgspec.structs.replace(
        settings, stream_name=f"GAP_{tag}".upper(), subject_prefix=f"g{tag}"
    )
    await ensure_stream(js, own)
    recorded = await store.append_to_stream(f"n-{workspace_id}", workspace_id, notes(20))
    checkpoint = recorded[9].position
    landed = [recorded[i] for i in (12, 13, 17, 18, 19)]
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO relay_checkpoint (relay, position) VALUES ($1, $2)",
            checkpoint_key(own.stream_name),
            checkpoint,
        )
        rows = await conn.fetch(
            "SELECT * FROM events WHERE position = ANY($1::bigint[]) ORDER BY position",
            [e.position for e in landed],
        )
    for row in rows:
        body = wire_from_row(row)
        await js.publish(
            event_subject(own.subject_prefix, workspace_id, body.type),
            msgspec.json.encode(body),
            headers={POSITION_HEADER: str(body.position)},
        )

    relay = Relay(own, js)
    async with running(relay):
        await wait_until(lambda: relay.position >= recorded[-1].position)

    subject = f"{own.subject_prefix}.{workspace_id}.>"
    positions = [
        decode_wire(m.data).position for m in await stream_messages(js, own.stream_name, subject)
    ]
    after_checkpoint = [p for p in positions if p > checkpoint]
    assert sorted(after_checkpoint) == [e.position for e in recorded[10:]]
    assert len(after_checkpoint) == len(set(after_checkpoint)), "nothing published twice"
    assert not [p for p in positions if p <= checkpoint], "nothing before the checkpoint again"
