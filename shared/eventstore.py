"""The append-only event log in PostgreSQL.

Appends are serialised by a transaction-scoped advisory lock and each batch
takes the positions right after the current head. PostgreSQL releases the
lock only after the commit is visible, so positions become visible in
increasing order with no holes: a reader following ``position > last`` can
never skip an event that commits late. Optimistic concurrency is checked
under the same lock, and the UNIQUE (stream_id, stream_version) constraint
backs it up.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from shared.contracts.base import (
    Event,
    EventMetadata,
    RecordedEvent,
    decode_event,
    new_event_id,
)
from shared.wire import WireEvent

if TYPE_CHECKING:
    import uuid

    import asyncpg

    from shared.database import Connection

__all__ = (
    "NOTIFY_CHANNEL",
    "ConcurrencyError",
    "EventStore",
    "ImportConflict",
    "StreamWrite",
    "record_from_row",
    "wire_from_row",
)

NOTIFY_CHANNEL = "vigil_events"
"""LISTEN/NOTIFY channel that carries the new head position after each append."""

_APPEND_LOCK = 0x76696765  # "vige"
_COLUMNS = (
    "position",
    "event_id",
    "stream_id",
    "stream_version",
    "workspace_id",
    "event_type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)
_SELECT = "SELECT " + ", ".join(_COLUMNS) + " FROM events"
_encode = msgspec.json.Encoder().encode
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _to_jsonb(value: object) -> bytes:
    """JSON for a jsonb column: PostgreSQL cannot store U+0000, so it becomes U+FFFD.

    Scanner output does carry NUL characters (binary evidence); refusing the
    whole import for them would be worse than replacing them.
    """
    return _without_nul(_encode(value))


def _without_nul(encoded: bytes) -> bytes:
    if b"\\u0000" in encoded:
        return _NUL_ESCAPE.sub(rb"\1\\ufffd", encoded)
    return encoded


def _as_stored(event: Event) -> tuple[bytes, Event]:
    """The event's stored JSON, and the event as it will read back from the log.

    Usually the event itself; when a NUL had to be replaced, the replaced
    version, so that what an append returns (and projections apply from
    memory) is exactly what any later reader of the log gets.
    """
    encoded = _encode(event)
    stored = _without_nul(encoded)
    if stored == encoded:
        return stored, event
    return stored, decode_event(event.type_name(), event.schema_version, stored)


_metadata_decoder = msgspec.json.Decoder(EventMetadata)


@functools.lru_cache(maxsize=1024)
def _metadata_of(encoded: bytes) -> EventMetadata:
    """Decoded metadata; the events of one append share theirs, so a log read decodes it once."""
    return _metadata_decoder.decode(encoded)


class ConcurrencyError(Exception):
    """A stream was not at the version the writer expected; nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id!r} is at version {actual}, but the append expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class ImportConflict(Exception):
    """An imported event does not follow its stream as this log holds it; nothing was written."""


class StreamWrite(msgspec.Struct, frozen=True, kw_only=True):
    """Events to append to one stream.

    `expected_version` None appends at the end whatever the version; 0 means
    the stream must not exist yet; n means the stream must be at version n.
    """

    stream_id: str
    workspace_id: str
    events: Sequence[Event]
    expected_version: int | None = None


def record_from_row(row: asyncpg.Record) -> RecordedEvent:
    """Decode one ``events`` row (selected with all columns) into a `RecordedEvent`."""
    return RecordedEvent(
        position=row["position"],
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        workspace_id=row["workspace_id"],
        type=row["event_type"],
        schema_version=row["schema_version"],
        data=decode_event(row["event_type"], row["schema_version"], row["data"]),
        metadata=_metadata_of(row["metadata"]),
        recorded_at=row["recorded_at"],
    )


def wire_from_row(row: asyncpg.Record) -> WireEvent:
    """One ``events`` row as it travels on the wire: data and metadata stay raw JSON."""
    return WireEvent(
        position=row["position"],
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        workspace_id=row["workspace_id"],
        type=row["event_type"],
        schema_version=row["schema_version"],
        data=msgspec.Raw(row["data"]),
        metadata=msgspec.Raw(row["metadata"]),
        recorded_at=row["recorded_at"],
    )


def _page_query(
    after: int,
    limit: int,
    workspace_id: str | None,
    types: Sequence[str] | None,
    up_to: int | None,
) -> tuple[str, list[Any]]:
    clauses = ["position > $1"]
    args: list[Any] = [after]
    if workspace_id is not None:
        args.append(workspace_id)
        clauses.append(f"workspace_id = ${len(args)}")
    if types:
        args.append(list(types))
        clauses.append(f"event_type = ANY(${len(args)}::text[])")
    if up_to is not None:
        args.append(up_to)
        clauses.append(f"position <= ${len(args)}")
    args.append(limit)
    return f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY position LIMIT ${len(args)}", args


class EventStore:
    """Append to and read from the event log."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def append(
        self,
        writes: Sequence[StreamWrite],
        *,
        metadata: EventMetadata | None = None,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append every write atomically and return the recorded events in log order.

        With `conn`, the append joins the caller's open transaction (so that
        a handler can record events and its own bookkeeping atomically);
        otherwise it runs in a transaction of its own.

        Raises:
            ConcurrencyError: a stream was not at its expected version.
        """
        if conn is not None:
            return await self._append(conn, writes, metadata or EventMetadata())
        async with self._pool.acquire() as own, own.transaction():
            return await self._append(own, writes, metadata or EventMetadata())

    async def append_to_stream(
        self,
        stream_id: str,
        workspace_id: str,
        events: Sequence[Event],
        *,
        expected_version: int | None = None,
        metadata: EventMetadata | None = None,
        conn: Connection | None = None,
    ) -> list[RecordedEvent]:
        """Append `events` to one stream; see `append`."""
        write = StreamWrite(
            stream_id=stream_id,
            workspace_id=workspace_id,
            events=events,
            expected_version=expected_version,
        )
        return await self.append([write], metadata=metadata, conn=conn)

    async def _append(
        self, conn: Connection, writes: Sequence[StreamWrite], metadata: EventMetadata
    ) -> list[RecordedEvent]:
        writes = [w for w in writes if w.events]
        if not writes:
            return []
        head = await self.hold_appends(conn)
        versions = await self._stream_versions(conn, {w.stream_id for w in writes})
        now = dt.datetime.now(dt.UTC)
        encoded_metadata = _to_jsonb(metadata)
        rows: list[tuple[Any, ...]] = []
        recorded: list[RecordedEvent] = []
        for write in writes:
            version = versions.get(write.stream_id, 0)
            if write.expected_version is not None and write.expected_version != version:
                raise ConcurrencyError(write.stream_id, write.expected_version, version)
            for written in write.events:
                version += 1
                head += 1
                event_id = new_event_id()
                data, event = _as_stored(written)
                rows.append(
                    (
                        head,
                        event_id,
                        write.stream_id,
                        version,
                        write.workspace_id,
                        event.type_name(),
                        event.schema_version,
                        data,
                        encoded_metadata,
                        now,
                    )
                )
                recorded.append(
                    RecordedEvent(
                        position=head,
                        event_id=event_id,
                        stream_id=write.stream_id,
                        stream_version=version,
                        workspace_id=write.workspace_id,
                        type=event.type_name(),
                        schema_version=event.schema_version,
                        data=event,
                        metadata=metadata,
                        recorded_at=now,
                    )
                )
            versions[write.stream_id] = version
        await conn.copy_records_to_table("events", records=rows, columns=_COLUMNS)
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(head))
        return recorded

    @staticmethod
    async def hold_appends(conn: Connection) -> int:
        """Take the append lock until `conn`'s transaction ends; returns the head, which stays put.

        Appends on `conn` itself go on; every other append waits for the commit.
        An importer holds it while it brings its read models up to the head, so
        that the events it appends follow what they show.
        """
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _APPEND_LOCK)
        head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
        return head

    @staticmethod
    async def _stream_versions(conn: Connection, stream_ids: set[str]) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT stream_id, max(stream_version) AS version FROM events"
            " WHERE stream_id = ANY($1::text[]) GROUP BY stream_id",
            list(stream_ids),
        )
        return {row["stream_id"]: row["version"] for row in rows}

    async def read_stream(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        """Every event of one stream after `after_version`, in version order."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"{_SELECT} WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version",
                stream_id,
                after_version,
            )
        return [record_from_row(row) for row in rows]

    async def read_all(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        workspace_id: str | None = None,
        types: Sequence[str] | None = None,
        up_to: int | None = None,
    ) -> list[RecordedEvent]:
        """At most `limit` events after position `after`, in log order, optionally filtered."""
        query, args = _page_query(after, limit, workspace_id, types, up_to)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [record_from_row(row) for row in rows]

    async def read_wire(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        workspace_id: str | None = None,
        types: Sequence[str] | None = None,
        up_to: int | None = None,
    ) -> list[WireEvent]:
        """Like `read_all`, without decoding the data: any type, even unknown, passes as is."""
        query, args = _page_query(after, limit, workspace_id, types, up_to)
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
        return [wire_from_row(row) for row in rows]

    async def iter_all(
        self, *, after: int = 0, batch_size: int = 5000, workspace_id: str | None = None
    ) -> AsyncIterator[list[RecordedEvent]]:
        """The log from `after` to the head as it is now, in batches, in order."""
        head = await self.head_position()
        while after < head:
            batch = await self.read_all(
                after=after, limit=batch_size, workspace_id=workspace_id, up_to=head
            )
            if not batch:
                return
            yield batch
            after = batch[-1].position

    async def head_position(self) -> int:
        """The position of the newest committed event (0 for an empty log)."""
        async with self._pool.acquire() as conn:
            head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
        return head

    async def get_event(self, event_id: uuid.UUID) -> RecordedEvent | None:
        """One event by id, or None."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"{_SELECT} WHERE event_id = $1", event_id)
        return record_from_row(row) if row else None

    async def import_events(
        self, events: Sequence[WireEvent], *, conn: Connection | None = None
    ) -> tuple[int, int]:
        """Append events recorded by another log, atomically; returns (imported, skipped).

        Each keeps its event id, stream and stream version, workspace, data,
        metadata and recording time; it gets the next position here, in the
        order given. Events whose id the log already holds are skipped, so
        importing the same export twice changes nothing. With `conn`, the
        import joins the caller's transaction (a whole file in several calls,
        all or nothing), holding the append lock until it commits.

        Raises:
            ImportConflict: an event's stream version does not follow its stream here.
            UnknownEventType: an event type this version of vigil does not know.
            msgspec.ValidationError: an event's data does not match its type.
        """
        for event in events:
            decode_event(event.type, event.schema_version, bytes(event.data))
            _metadata_decoder.decode(event.metadata)
        if conn is not None:
            return await self._import(conn, events)
        async with self._pool.acquire() as own, own.transaction():
            return await self._import(own, events)

    async def _import(self, conn: Connection, events: Sequence[WireEvent]) -> tuple[int, int]:
        head = await self.hold_appends(conn)
        present = {
            row["event_id"]
            for row in await conn.fetch(
                "SELECT event_id FROM events WHERE event_id = ANY($1::uuid[])",
                [e.event_id for e in events],
            )
        }
        fresh = []
        for event in events:
            if event.event_id not in present:
                present.add(event.event_id)
                fresh.append(event)
        if not fresh:
            return 0, len(events)
        versions = await self._stream_versions(conn, {e.stream_id for e in fresh})
        rows: list[tuple[Any, ...]] = []
        for event in fresh:
            expected = versions.get(event.stream_id, 0) + 1
            if event.stream_version != expected:
                raise ImportConflict(
                    f"event {event.event_id} is version {event.stream_version} of stream"
                    f" {event.stream_id!r}, which is at version {expected - 1} here"
                )
            versions[event.stream_id] = expected
            head += 1
            rows.append(
                (
                    head,
                    event.event_id,
                    event.stream_id,
                    event.stream_version,
                    event.workspace_id,
                    event.type,
                    event.schema_version,
                    bytes(event.data),
                    bytes(event.metadata),
                    event.recorded_at,
                )
            )
        await conn.copy_records_to_table("events", records=rows, columns=_COLUMNS)
        await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(head))
        return len(fresh), len(events) - len(fresh)

    async def get_wire(self, event_id: uuid.UUID) -> WireEvent | None:
        """One event by id, undecoded (see `read_wire`), or None."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(f"{_SELECT} WHERE event_id = $1", event_id)
        return wire_from_row(row) if row else None
