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
    from collections.abc import Iterable

    import asyncpg

    from shared.contracts.base import RecordedEvent
    from shared.database import Connection

__all__ = ("Projection", "ProjectionRunner", "ProjectionTimeout")

_applied = Counter(
    "vigil_projection_applied_events", "Events applied to read models", ["projection"]
)
_SELECT = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
)


class ProjectionTimeout(TimeoutError):
    """A read model did not reach the awaited log position in time."""


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


class ProjectionRunner:
    """Applies the log to a set of projections, one workspace at a time."""

    def __init__(self, pool: asyncpg.Pool, projections: Iterable[Projection]) -> None:
        self._pool = pool
        self.projections = tuple(projections)

    async def catch_up(self, workspace_id: str, up_to: int) -> None:
        """Apply every event of `workspace_id` up to log position `up_to` to each projection."""
        for projection in self.projections:
            async with self._pool.acquire() as conn, conn.transaction():
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
        rows = await conn.fetch(
            f"{_SELECT} WHERE workspace_id = $1 AND position > $2 AND position <= $3"
            " AND event_type = ANY($4::text[]) ORDER BY position",
            workspace_id,
            checkpoint,
            up_to,
            list(projection.event_types),
        )
        for row in rows:
            await projection.apply(conn, record_from_row(row))
        _applied.labels(projection.name).inc(len(rows))
        await conn.execute(
            "UPDATE projection_checkpoints SET position = $3"
            " WHERE projection = $1 AND workspace_id = $2",
            projection.name,
            workspace_id,
            up_to,
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
