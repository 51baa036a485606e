"""Publishes committed events, in log order, to the JetStream stream.

One relay is active at a time: it holds a PostgreSQL session advisory lock,
which the server frees the moment the holder's connection dies, so a standby
takes over after a crash. Its checkpoint is the last position of a batch
whose every message JetStream acknowledged. It resumes from the position
carried in the last message the stream really holds (a JetStream ack is not
an fsync) when that is not past the checkpoint; when it is, a pipelined batch
broke off mid-way (a dead node, a lost connection) and may have left holes,
so it resumes from the checkpoint and skips what the stream already holds.
``Nats-Msg-Id`` = event id makes any other overlap a no-op. It sleeps on
LISTEN/NOTIFY between batches instead of polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import asyncpg
import msgspec
import nats.errors
import structlog
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from prometheus_client import Counter, Gauge

from shared.database import init_connection
from shared.eventstore import NOTIFY_CHANNEL, wire_from_row
from shared.wire import (
    CORRELATION_HEADER,
    MSG_ID_HEADER,
    POSITION_HEADER,
    TRACEPARENT_HEADER,
    event_subject,
    position_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from nats.js import JetStreamContext

    from shared.database import Connection
    from shared.settings import Settings

__all__ = (
    "Relay",
    "checkpoint_key",
    "ensure_stream",
    "publish_rows",
    "republish",
    "stream_head_position",
    "stream_positions_after",
)

_RELAY_LOCK = 0x76696772  # "vigr"
_BATCH = 5000
# How long a batch may take to be acknowledged, beyond a millisecond a message.
_ACK_TIMEOUT = 10.0
_log = structlog.get_logger("vigil.relay")
_published = Counter("vigil_relay_published_events", "Events the relay published to JetStream")
_position = Gauge("vigil_relay_position", "Log position the relay has published up to")
_leader = Gauge("vigil_relay_leader", "1 while this process is the active relay")
_encode = msgspec.json.Encoder().encode


class _Origin(msgspec.Struct):
    traceparent: str | None = None
    correlation_id: str | None = None


_origin = msgspec.json.Decoder(_Origin)


def checkpoint_key(stream_name: str) -> str:
    """The ``relay_checkpoint`` row of the relay that feeds stream `stream_name`."""
    return f"jetstream:{stream_name}"


async def ensure_stream(
    js: JetStreamContext, settings: Settings, replicas: int | None = None
) -> None:
    """Create the events stream if it does not exist (file storage, no limits).

    `replicas` defaults to ``settings.stream_replicas`` (``VIGIL_STREAM_REPLICAS``):
    3 on a 3-node JetStream cluster, 1 on a single server.
    """
    try:
        await js.stream_info(settings.stream_name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=settings.stream_name,
                subjects=[f"{settings.subject_prefix}.>"],
                storage=StorageType.FILE,
                num_replicas=replicas or settings.stream_replicas,
                duplicate_window=120.0,
            )
        )


async def stream_head_position(js: JetStreamContext, stream: str) -> int:
    """The log position of the last message the stream holds (0 when it is empty)."""
    info = await js.stream_info(stream)
    last_seq = info.state.last_seq
    if not last_seq or not info.state.messages:
        return 0
    message = await js.get_msg(stream, seq=last_seq)
    return position_of(message.headers)


async def stream_positions_after(js: JetStreamContext, stream: str, after: int) -> set[int]:
    """The log positions past `after` that the stream holds, read back from its tail.

    Costs one request per message past `after`: meant for the few messages of
    a broken-off batch, not for a whole stream.
    """
    info = await js.stream_info(stream)
    present: set[int] = set()
    if not info.state.messages:
        return present
    for seq in range(info.state.last_seq, info.state.first_seq - 1, -1):
        try:
            message = await js.get_msg(stream, seq=seq)
        except NotFoundError:  # deleted messages leave holes in the sequence
            continue
        position = position_of(message.headers)
        if position <= after:
            break
        present.add(position)
    return present


class Relay:
    """Follows the log and publishes every committed event exactly once into JetStream."""

    def __init__(self, settings: Settings, js: JetStreamContext) -> None:
        assert settings.database_url, "the relay needs a database URL"
        self._settings = settings
        self._dsn = settings.database_url
        self._js = js
        self._wake = asyncio.Event()
        self._checkpoint_key = checkpoint_key(settings.stream_name)
        self._present: set[int] = set()
        self.position = 0
        self.is_leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; on a lost connection, back off and start over."""
        while not stop.is_set():
            try:
                await self._run_once(stop)
            except (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                nats.errors.Error,
            ) as error:
                _log.warning(
                    "relay connection lost; retrying", error=repr(error), position=self.position
                )
                self._set_leader(False)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    def _set_leader(self, leader: bool) -> None:
        self.is_leader = leader
        _leader.set(1 if leader else 0)

    async def _run_once(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await init_connection(conn)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _RELAY_LOCK):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                if stop.is_set():
                    return
            self._set_leader(True)
            await ensure_stream(self._js, self._settings)
            await self._find_resume_position(conn)
            _log.info("relay active", resume_after=self.position, filling=len(self._present))
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            while not stop.is_set():
                # Clear before reading: a NOTIFY that lands while the batch is read
                # must still wake the next wait.
                self._wake.clear()
                if not await self._publish_batch(conn):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 1.0)
        finally:
            self._set_leader(False)
            await conn.close()

    async def _find_resume_position(self, conn: asyncpg.Connection) -> None:
        stream = self._settings.stream_name
        head = await stream_head_position(self._js, stream)
        checkpoint = await conn.fetchval(
            "SELECT position FROM relay_checkpoint WHERE relay = $1", self._checkpoint_key
        )
        if checkpoint is None or head <= checkpoint:
            self.position, self._present = head, set()
            return
        self.position = checkpoint
        self._present = await stream_positions_after(self._js, stream, checkpoint)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_batch(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(_SELECT_AFTER, self.position, _BATCH)
        if not rows:
            return 0
        missing = [row for row in rows if row["position"] not in self._present]
        await publish_rows(self._js, self._settings.subject_prefix, missing)
        self.position = rows[-1]["position"]
        self._present = {p for p in self._present if p > self.position}
        _published.inc(len(missing))
        _position.set(self.position)
        await conn.execute(
            "INSERT INTO relay_checkpoint (relay, position) VALUES ($1, $2)"
            " ON CONFLICT (relay) DO UPDATE SET position = $2, updated_at = now()",
            self._checkpoint_key,
            self.position,
        )
        return len(rows)


_SELECT_AFTER = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
    " WHERE position > $1 ORDER BY position LIMIT $2"
)


async def publish_rows(js: JetStreamContext, prefix: str, rows: Sequence[asyncpg.Record]) -> None:
    """Publish ``events`` rows in order, many acks in flight, and wait for every ack.

    Raises TimeoutError when the batch is not acknowledged in time (nats-py
    never fails the ack of a message lost with a dying connection), or the
    server's error for a refused message; the acks still awaited are then
    given up, so their slots in nats-py's window of pending acks are freed.
    """
    acks: list[asyncio.Future[PubAck]] = []
    try:
        await asyncio.wait_for(
            _publish_and_confirm(js, prefix, rows, acks), _ACK_TIMEOUT + len(rows) / 1000
        )
    finally:
        for ack in acks:
            ack.cancel()


async def _publish_and_confirm(
    js: JetStreamContext,
    prefix: str,
    rows: Sequence[asyncpg.Record],
    acks: list[asyncio.Future[PubAck]],
) -> None:
    for row in rows:
        body = wire_from_row(row)
        headers = {MSG_ID_HEADER: str(body.event_id), POSITION_HEADER: str(body.position)}
        origin = _origin.decode(body.metadata)
        if origin.traceparent:
            headers[TRACEPARENT_HEADER] = origin.traceparent
            # FastStream links a batch consumer's span to each distinct correlation id.
            headers[CORRELATION_HEADER] = origin.correlation_id or headers[MSG_ID_HEADER]
        acks.append(
            await js.publish_async(
                event_subject(prefix, body.workspace_id, body.type),
                _encode(body),
                headers=headers,
            )
        )
    await asyncio.gather(*acks)


async def republish(
    js: JetStreamContext,
    settings: Settings,
    conn: Connection,
    *,
    from_position: int = 1,
    skip_present: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Publish the log again from `from_position` (inclusive) to its head; returns (first, last).

    For a stream that was lost or recreated (it is created if missing). With
    `skip_present`, events up to the position of the stream's last message
    are left out, so running it twice publishes nothing twice whatever the
    age of the messages; otherwise ``Nats-Msg-Id`` dedupes repeats within the
    stream's duplicate window. Returns (0, 0) when there was nothing to publish.
    """
    await ensure_stream(js, settings)
    after = max(from_position - 1, 0)
    if skip_present:
        after = max(after, await stream_head_position(js, settings.stream_name))
    head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    first, position = after, after
    while position < head:
        rows = await conn.fetch(_SELECT_AFTER, position, _BATCH)
        rows = [row for row in rows if row["position"] <= head]
        if not rows:
            break
        await publish_rows(js, settings.subject_prefix, rows)
        position = rows[-1]["position"]
        _published.inc(len(rows))
        if on_progress is not None:
            on_progress(position - first, head - first)
    return (first + 1, position) if position > first else (0, 0)
