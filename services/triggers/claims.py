"""Claiming a firing: recording `TriggerFired` exactly once, only for a live trigger.

A firing's id is derived from its cause, and `TriggerFired` must be version 1
of the stream ``firing-<id>`` (``expected_version=0``). Whoever appends it
first has claimed the firing; a redelivered message, a second replica or a
retried tick hits `ConcurrencyError` and fires nothing. The trigger's state
is read from the log (not a read model) in the same transaction, so a
trigger disabled or deleted before the claim never fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.contracts import (
    EventMetadata,
    TriggerCreated,
    TriggerDeleted,
    TriggerDisabled,
    TriggerEnabled,
    firing_stream,
    trigger_stream,
)
from shared.eventstore import ConcurrencyError, StreamWrite

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from shared.contracts import TriggerFired
    from shared.database import Connection
    from shared.eventstore import EventStore

__all__ = ("claim_firings", "claim_firings_in")

_STATE_TYPES = [
    t.type_name() for t in (TriggerCreated, TriggerEnabled, TriggerDisabled, TriggerDeleted)
]
_METADATA = EventMetadata(actor="service:triggers")


async def _live(conn: Connection, trigger_ids: set[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (stream_id) stream_id, event_type,"
        " coalesce((data->>'enabled')::boolean, true) AS enabled"
        " FROM events WHERE stream_id = ANY($1::text[]) AND event_type = ANY($2::text[])"
        " ORDER BY stream_id, stream_version DESC",
        [trigger_stream(t) for t in trigger_ids],
        _STATE_TYPES,
    )
    live = set()
    for row in rows:
        kind = row["event_type"]
        if kind == "TriggerEnabled" or (kind == "TriggerCreated" and row["enabled"]):
            live.add(row["stream_id"].removeprefix("trigger-"))
    return live


async def claim_firings_in(
    conn: Connection, store: EventStore, firings: Sequence[TriggerFired]
) -> list[TriggerFired]:
    """Claim `firings` inside the caller's transaction; returns those this call recorded.

    Raises:
        ConcurrencyError: one of them was claimed before (nothing was written).
    """
    if not firings:
        return []
    live = await _live(conn, {f.trigger_id for f in firings})
    chosen = [f for f in firings if f.trigger_id in live]
    writes = [
        StreamWrite(
            stream_id=firing_stream(f.firing_id),
            workspace_id=f.workspace_id,
            events=[f],
            expected_version=0,
        )
        for f in chosen
    ]
    await store.append(writes, metadata=_METADATA, conn=conn)
    return chosen


async def claim_firings(
    pool: asyncpg.Pool, store: EventStore, firings: Sequence[TriggerFired]
) -> list[TriggerFired]:
    """Claim firings in one transaction, falling back to one at a time when some were claimed.

    Returns the firings this call recorded; the others were claimed by
    someone else before, or belong to triggers that are no longer live.
    """
    if not firings:
        return []
    unique = list({f.firing_id: f for f in firings}.values())
    try:
        async with pool.acquire() as conn, conn.transaction():
            return await claim_firings_in(conn, store, unique)
    except ConcurrencyError:
        if len(unique) == 1:
            return []
    claimed: list[TriggerFired] = []
    for firing in unique:
        claimed += await claim_firings(pool, store, [firing])
    return claimed
