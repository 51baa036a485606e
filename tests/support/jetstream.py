"""Reading back what a JetStream stream holds, for assertions."""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import ServiceUnavailableError


async def stream_messages(js: JetStreamContext, stream: str, subject: str) -> list[Msg]:
    """Every message of `stream` on `subject` (wildcards allowed), oldest first.

    Read again from the start while a cluster that lost a node has no leader
    for the reading consumer yet (503 from a fetch, or a fetch timing out).
    """
    info = await js.stream_info(stream, subjects_filter=subject)
    expected = sum((info.state.subjects or {}).values())
    if not expected:
        return []
    deadline = time.monotonic() + 60
    while True:
        try:
            return await _read(js, stream, subject, expected)
        except (ServiceUnavailableError, nats.errors.TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _read(js: JetStreamContext, stream: str, subject: str, expected: int) -> list[Msg]:
    sub = await _reader(js, stream, subject)
    messages: list[Msg] = []
    try:
        while len(messages) < expected:
            messages.extend(await sub.fetch(min(expected - len(messages), 5000), timeout=5))
    finally:
        await sub.unsubscribe()
    return messages


async def _reader(
    js: JetStreamContext, stream: str, subject: str
) -> JetStreamContext.PullSubscription:
    """An ephemeral consumer of the whole subject; retried while a cluster elects leaders."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return await js.pull_subscribe(
                subject,
                stream=stream,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=30.0,
                ),
            )
        except nats.errors.TimeoutError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def count_messages(js: JetStreamContext, stream: str, subject: str) -> int:
    """How many messages of `stream` are on `subject`."""
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except nats.js.errors.NotFoundError:
        return 0
    return sum((info.state.subjects or {}).values())


async def wait_for_count(
    js: JetStreamContext, stream: str, subject: str, at_least: int, within: float = 60.0
) -> int:
    """Poll until the stream holds `at_least` messages on `subject`; return the count."""
    deadline = time.monotonic() + within
    while (count := await count_messages(js, stream, subject)) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"stream has {count} of {at_least} messages on {subject}")
        await asyncio.sleep(0.05)
    return count


async def wait_until_consumed(
    nats_url: str, stream: str, durable: str, *, within: float = 300.0
) -> None:
    """Wait until the durable consumer `durable` has nothing left to deliver or see acked.

    A service that starts late in a test session first works through the
    session's backlog; a test of its own events should start after that.
    """
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + within
        while True:
            info = await js.consumer_info(stream, durable)
            if not info.num_pending and not info.num_ack_pending:
                return
            assert time.monotonic() < deadline, (
                f"{durable} still had {info.num_pending} messages to deliver and"
                f" {info.num_ack_pending} unacknowledged after {within:.0f} s"
            )
            await asyncio.sleep(0.5)
    finally:
        await nc.close()
