"""Keeping the stats read models: batch catch-up and throttled `StatsUpdated` notifications.

`StatsRunner` is `ProjectionRunner` (the per-workspace checkpoint row,
locked ``FOR UPDATE`` while a batch applies through
`StatsProjection.apply_batch` and advanced in the same transaction) that
also records `StatsUpdated` in that same transaction when one is due. The
checkpoint row lock serialises every replica's work on a workspace,
notifications included, so two replicas give the same numbers and the same
notifications as one.

A notification is due when the statistics moved past what the last one
announced (`stats_workspaces.position` > `stats_emissions.position`) and the
last one is at least `THROTTLE` old. Changes that arrive within the throttle
window are announced by `flush_due`, which the service runs in a loop, so the
last change of a burst is always announced, about a second later at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import TYPE_CHECKING

import structlog
from prometheus_client import Counter

from services.stats.projections import StatsProjection
from shared.contracts import StatsUpdated, stats_stream
from shared.eventstore import EventStore
from shared.projections import ProjectionRunner

if TYPE_CHECKING:
    import asyncpg

    from shared.database import Connection

__all__ = ("THROTTLE", "StatsRunner", "emit_if_due", "flush_due", "run_flusher")

THROTTLE = dt.timedelta(seconds=1)
"""Least time between two `StatsUpdated` of one workspace."""

_log = structlog.get_logger("vigil.stats")
_emitted = Counter("vigil_stats_updates", "StatsUpdated events recorded")


async def _lock_checkpoint(conn: Connection, workspace_id: str) -> int:
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection, workspace_id, position)"
        " VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
        StatsProjection.name,
        workspace_id,
    )
    position: int = await conn.fetchval(
        "SELECT position FROM projection_checkpoints"
        " WHERE projection = $1 AND workspace_id = $2 FOR UPDATE",
        StatsProjection.name,
        workspace_id,
    )
    return position


class StatsRunner(ProjectionRunner):
    """Applies the log to the stats read models and records `StatsUpdated` when due.

    Catching up uses `ProjectionRunner`'s protocol unchanged (checkpoint row
    locked, batches through `StatsProjection.apply_batch`); the notification
    is recorded in that same transaction, under that same lock.
    """

    def __init__(self, pool: asyncpg.Pool, *, notify: bool = True) -> None:
        self.projection = StatsProjection()
        super().__init__(pool, [self.projection])
        self.notify = notify
        self._store = EventStore(pool)

    async def catch_up(self, workspace_id: str, up_to: int) -> None:
        """Apply every event of `workspace_id` up to `up_to`; record `StatsUpdated` when due."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self.catch_up_in(conn, workspace_id, up_to, self.projection)
            if self.notify:
                await emit_if_due(conn, self._store, workspace_id)


async def emit_if_due(conn: Connection, store: EventStore, workspace_id: str) -> bool:
    """Record `StatsUpdated` for `workspace_id` if one is due; True if it did.

    Call it holding the workspace's stats checkpoint row lock, inside the
    transaction that may append.
    """
    row = await conn.fetchrow(
        "SELECT w.position, w.risk_score, e.position AS announced,"
        " (e.emitted_at IS NULL OR e.emitted_at <= clock_timestamp() - $2::interval) AS due"
        " FROM stats_workspaces w LEFT JOIN stats_emissions e USING (workspace_id)"
        " WHERE w.workspace_id = $1",
        workspace_id,
        THROTTLE,
    )
    if row is None or not row["due"] or row["position"] <= (row["announced"] or 0):
        return False
    counts = await conn.fetch(
        "SELECT severity, status, findings FROM stats_severity_status WHERE workspace_id = $1",
        workspace_id,
    )
    open_by = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
    for count in counts:
        if count["status"] in ("open", "reopened"):
            open_by[count["severity"]] = open_by.get(count["severity"], 0) + count["findings"]
    event = StatsUpdated(
        workspace_id=workspace_id,
        position=row["position"],
        findings=sum(c["findings"] for c in counts),
        open=sum(open_by.values()),
        open_critical=open_by["critical"],
        open_high=open_by["high"],
        open_medium=open_by["medium"],
        open_low=open_by["low"],
        open_info=open_by["info"],
        risk_score=row["risk_score"],
    )
    await store.append_to_stream(stats_stream(workspace_id), workspace_id, [event], conn=conn)
    await conn.execute(
        "INSERT INTO stats_emissions (workspace_id, position, emitted_at)"
        " VALUES ($1, $2, clock_timestamp()) ON CONFLICT (workspace_id) DO UPDATE"
        " SET position = EXCLUDED.position, emitted_at = EXCLUDED.emitted_at",
        workspace_id,
        row["position"],
    )
    _emitted.inc()
    return True


async def flush_due(pool: asyncpg.Pool) -> int:
    """Record every `StatsUpdated` that the throttle held back and is now due; how many."""
    store = EventStore(pool)
    async with pool.acquire() as conn:
        pending = await conn.fetch(
            "SELECT w.workspace_id FROM stats_workspaces w"
            " LEFT JOIN stats_emissions e USING (workspace_id)"
            " WHERE w.position > coalesce(e.position, 0)"
            " AND (e.emitted_at IS NULL OR e.emitted_at <= clock_timestamp() - $1::interval)",
            THROTTLE,
        )
    emitted = 0
    for row in pending:
        async with pool.acquire() as conn, conn.transaction():
            await _lock_checkpoint(conn, row["workspace_id"])
            emitted += await emit_if_due(conn, store, row["workspace_id"])
    return emitted


async def run_flusher(pool: asyncpg.Pool, stop: asyncio.Event, interval: float = 0.2) -> None:
    """Call `flush_due` every `interval` seconds until `stop` is set; errors are logged."""
    while not stop.is_set():
        try:
            await flush_due(pool)
        except Exception:
            _log.exception("stats notifications could not be flushed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
