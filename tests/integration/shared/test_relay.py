"""The relay publishes the log to JetStream in order, exactly once, with one active relay."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from nats.js import JetStreamContext

from shared.eventstore import EventStore
from shared.relay import Relay
from shared.settings import Settings
from shared.wire import decode_wire
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
