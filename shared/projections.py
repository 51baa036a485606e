"""Projections: read models kept from the log, exactly once, rebuildable at will.

A projection applies the events of one workspace in log order and advances
its checkpoint for that workspace in the same transaction, holding the
checkpoint row locked meanwhile. A redelivered or late message is therefore a
no-op, several replicas can share the work (workspaces progress in parallel,
one workspace is applied by one replica at a time), and the events between
the checkpoint and a message's position are read from the log itself, so a
projection never depends on the order in which messages reach a replica.
"""

from __future__ import annotations

import abc
import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from prometheus_client import Counter

from shared.eventstore import record_from_row

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import asyncpg

    from shared.contracts.base import RecordedEvent
    from shared.database import Connection

__all__ = ("Fold", "Projection", "ProjectionRunner", "ProjectionTimeout")

_applied = Counter(
    "vigil_projection_applied_events", "Events applied to read models", ["projection"]
)
_PAGE = 2000
"""Events read from the log and applied per `Projection.apply_batch` call."""
_SELECT = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
)


class ProjectionTimeout(TimeoutError):
    """A read model did not reach the awaited log position in time."""


class Fold(abc.ABC):
    """A read model's rows held in memory across batches and written back when saved.

    A replay applies a long log to empty shadow tables. Applied batch by
    batch, a finding seen by fifty scans is read and written fifty times;
    folded in memory, it is written once per save. A fold must leave the
    tables exactly as `Projection.apply_batch` leaves them (tested per read
    model), whatever its saves' boundaries.
    """

    @abc.abstractmethod
    async def load(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Read in the rows `events` touch that the fold neither holds nor knows to be absent."""

    @abc.abstractmethod
    def fold(self, events: Sequence[RecordedEvent]) -> int:
        """Apply those of `events` its read model handles to the rows held; how many that was.

        `events` are in log order, their rows loaded; other types are ignored.
        """

    @abc.abstractmethod
    async def save(self, conn: Connection) -> None:
        """Write every change since the last save, inside the caller's transaction."""

    @abc.abstractmethod
    def forget(self) -> None:
        """Drop the rows held, after a save, to bound memory; later loads read them back."""

    @property
    @abc.abstractmethod
    def held(self) -> int:
        """How many rows the fold holds in memory."""

    @property
    @abc.abstractmethod
    def knows_all(self) -> bool:
        """True while the fold holds every row there is (it began on empty tables, forgot none).

        `load` then reads nothing, and folding needs no connection.
        """


class Projection(abc.ABC):
    """A read model: the event types it handles, its tables and how it applies events."""

    name: ClassVar[str]
    """Stable name, used for its checkpoints."""

    event_types: ClassVar[frozenset[str]]
    """Event types it applies; others only advance its checkpoint."""

    tables: ClassVar[tuple[str, ...]]
    """Tables it owns, emptied before a rebuild."""

    @abc.abstractmethod
    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Apply one event to the read model inside the caller's transaction."""

    async def apply_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply events (in log order) inside the caller's transaction, as `apply` would one by one.

        The runner always calls this; the default applies each event in turn.
        A projection may override it with set-based statements, provided the
        read model ends exactly as applying the events one by one leaves it.
        """
        for event in events:
            await self.apply(conn, event)

    def start_fold(self, *, empty: bool) -> Fold | None:
        """A `Fold` of this read model for a replay, or None to replay through `apply_batch`.

        `empty`: the tables hold no rows yet, so a row the fold does not hold
        does not exist and need not be looked for.
        """
        return None


class ProjectionRunner:
    """Applies the log to a set of projections, one workspace at a time."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Iterable[Projection],
        *,
        schema: str | None = None,
    ) -> None:
        """`schema`, when given, is searched before the usual path in every transaction.

        `shared.replay` uses it to apply projections to same-named shadow tables
        (and shadow checkpoints) kept in a schema of their own, since
        projections name their tables unqualified.
        """
        self._pool = pool
        self.projections = tuple(projections)
        self.schema = schema
        self._applied: dict[str, int] = {}

    async def on_event(self, workspace_id: str, position: int) -> None:
        """React to a relayed event: bring the workspace up to the log head, at most once per event.

        Everything up to the head is committed (appends are serialised), so
        one message brings along all those that follow it; the positions this
        process already applied are remembered, so their messages cost no
        database round trip.
        """
        if position <= self._applied.get(workspace_id, 0):
            return
        async with self._pool.acquire() as conn:
            head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
        await self.catch_up(workspace_id, head)
        self._applied[workspace_id] = max(head, self._applied.get(workspace_id, 0))

    async def catch_up(self, workspace_id: str, up_to: int) -> None:
        """Apply every event of `workspace_id` up to log position `up_to` to each projection."""
        for projection in self.projections:
            async with self._pool.acquire() as conn, conn.transaction():
                await self.catch_up_in(conn, workspace_id, up_to, projection)

    async def catch_up_in(
        self, conn: Connection, workspace_id: str, up_to: int, projection: Projection
    ) -> None:
        """Like `catch_up` for one projection, inside the caller's open transaction."""
        if self.schema is not None:
            await conn.execute(
                "SELECT set_config('search_path', quote_ident($1) || ', '"
                " || current_setting('search_path'), true)",
                self.schema,
            )
        await self._catch_up(conn, projection, workspace_id, up_to)

    async def _catch_up(
        self, conn: Connection, projection: Projection, workspace_id: str, up_to: int
    ) -> None:
        await conn.execute(
            "INSERT INTO projection_checkpoints (projection, workspace_id, position)"
            " VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
            projection.name,
            workspace_id,
        )
        checkpoint: int = await conn.fetchval(
            "SELECT position FROM projection_checkpoints"
            " WHERE projection = $1 AND workspace_id = $2 FOR UPDATE",
            projection.name,
            workspace_id,
        )
        if checkpoint >= up_to:
            return
        await self._apply_from_log(conn, projection, workspace_id, checkpoint, up_to)
        await conn.execute(
            "UPDATE projection_checkpoints SET position = $3"
            " WHERE projection = $1 AND workspace_id = $2",
            projection.name,
            workspace_id,
            up_to,
        )

    async def _apply_from_log(
        self, conn: Connection, projection: Projection, workspace_id: str, after: int, up_to: int
    ) -> None:
        """Apply the workspace's events in (after, up_to], a page at a time (memory stays flat)."""
        while after < up_to:
            rows = await conn.fetch(
                f"{_SELECT} WHERE workspace_id = $1 AND position > $2 AND position <= $3"
                " AND event_type = ANY($4::text[]) ORDER BY position LIMIT $5",
                workspace_id,
                after,
                up_to,
                list(projection.event_types),
                _PAGE,
            )
            if not rows:
                return
            await projection.apply_batch(conn, [record_from_row(row) for row in rows])
            _applied.labels(projection.name).inc(len(rows))
            after = rows[-1]["position"]

    async def apply_appended(
        self, conn: Connection, workspace_id: str, events: Sequence[RecordedEvent]
    ) -> None:
        """Apply events the caller just appended, inside the caller's open transaction.

        `events` are what `EventStore.append` returned on `conn` (in log order,
        all of `workspace_id`): they are applied as they are, without reading
        them back, after whatever of the workspace the checkpoint still lacks
        before them; each checkpoint then moves to the last of them, in the
        same transaction. Events the checkpoint already covers are skipped.
        """
        if not events:
            return
        if self.schema is not None:
            await conn.execute(
                "SELECT set_config('search_path', quote_ident($1) || ', '"
                " || current_setting('search_path'), true)",
                self.schema,
            )
        first, last = events[0].position, events[-1].position
        for projection in self.projections:
            await conn.execute(
                "INSERT INTO projection_checkpoints (projection, workspace_id, position)"
                " VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                projection.name,
                workspace_id,
            )
            checkpoint: int = await conn.fetchval(
                "SELECT position FROM projection_checkpoints"
                " WHERE projection = $1 AND workspace_id = $2 FOR UPDATE",
                projection.name,
                workspace_id,
            )
            if checkpoint >= last:
                continue
            if checkpoint < first - 1:
                await self._apply_from_log(conn, projection, workspace_id, checkpoint, first - 1)
            mine = [
                e
                for e in events
                if e.position > checkpoint
                and e.workspace_id == workspace_id
                and e.type in projection.event_types
            ]
            if mine:
                await projection.apply_batch(conn, mine)
                _applied.labels(projection.name).inc(len(mine))
            await conn.execute(
                "UPDATE projection_checkpoints SET position = $3"
                " WHERE projection = $1 AND workspace_id = $2",
                projection.name,
                workspace_id,
                last,
            )

    async def catch_up_all(self, up_to: int | None = None) -> None:
        """Bring every workspace of every projection up to `up_to` (default: the log head)."""
        async with self._pool.acquire() as conn:
            head = up_to or await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
            workspaces = await conn.fetch("SELECT DISTINCT workspace_id FROM events")
        for row in workspaces:
            await self.catch_up(row["workspace_id"], head)

    async def rebuild(self, projection: Projection) -> None:
        """Empty a projection's tables and checkpoints and apply the whole log again."""
        async with self._pool.acquire() as conn, conn.transaction():
            for table in projection.tables:
                await conn.execute(f"TRUNCATE {table}")
            await conn.execute(
                "DELETE FROM projection_checkpoints WHERE projection = $1", projection.name
            )
        runner = ProjectionRunner(self._pool, [projection])
        await runner.catch_up_all()

    async def checkpoint(self, projection: str, workspace_id: str) -> int:
        """Log position a projection has applied for a workspace (0 before its first event)."""
        async with self._pool.acquire() as conn:
            position: int | None = await conn.fetchval(
                "SELECT position FROM projection_checkpoints"
                " WHERE projection = $1 AND workspace_id = $2",
                projection,
                workspace_id,
            )
        return position or 0

    async def wait_for(
        self, projection: str, workspace_id: str, position: int, within: float = 10.0
    ) -> None:
        """Wait until a projection has applied `position` for a workspace (read-your-writes).

        Raises:
            ProjectionTimeout: the read model is lagging more than `within` seconds.
        """
        deadline = time.monotonic() + within
        delay = 0.005
        while await self.checkpoint(projection, workspace_id) < position:
            if time.monotonic() > deadline:
                raise ProjectionTimeout(
                    f"read model {projection!r} has not caught up with position {position}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
