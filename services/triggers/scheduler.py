"""The clock side of triggers: schedule ticks and threshold crossings, fired exactly once.

Every replica runs a scheduler. Deciding a trigger's next step happens in a
transaction holding the trigger's bookkeeping row (``FOR UPDATE``), so
replicas take turns; the firing's deterministic id (trigger + tick, or
trigger + crossing number) backs that up in the log itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import structlog

from services.triggers.claims import claim_firings_in
from services.triggers.domain import (
    MISFIRE_GRACE,
    crosses,
    decide_tick,
    schedule_firing,
    threshold_firing,
)
from shared.contracts import TriggerDefinition
from shared.eventstore import ConcurrencyError

if TYPE_CHECKING:
    from services.triggers.actions import ActionRunner
    from shared.contracts import TriggerFired
    from shared.database import Connection
    from shared.eventstore import EventStore

__all__ = ("Scheduler", "metric_value")

_log = structlog.get_logger("vigil.triggers")
_definition = msgspec.json.Decoder(TriggerDefinition)
_LIVE = (
    "SELECT d.trigger_id, d.workspace_id, d.definition, d.version, d.active_since,"
    " s.last_tick FROM triggers_definitions d"
    " LEFT JOIN triggers_schedule_state s USING (trigger_id)"
    " WHERE d.kind = $1 AND d.enabled AND NOT d.deleted"
)
_OPEN = ("open", "reopened")


async def metric_value(conn: Connection, workspace_id: str, definition: TriggerDefinition) -> float:
    """The current value of a threshold trigger's metric, from the ingest findings read model.

    ``open_findings`` counts findings that are open or reopened and
    ``findings`` every finding; both only of `severity` when it lists some.
    """
    statuses = list(_OPEN) if definition.metric == "open_findings" else None
    value: int = await conn.fetchval(
        "SELECT count(*) FROM ingest_findings WHERE workspace_id = $1"
        " AND (cardinality($2::text[]) = 0 OR severity = ANY($2::text[]))"
        " AND ($3::text[] IS NULL OR status = ANY($3::text[]))",
        workspace_id,
        list(definition.severity),
        statuses,
    )
    return float(value)


class Scheduler:
    """Fires due schedule ticks every `poll` seconds and evaluates thresholds every `every`."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        actions: ActionRunner,
        *,
        poll: float = 0.2,
        threshold_every: float = 1.0,
        sweep_every: float = 5.0,
        grace: dt.timedelta = MISFIRE_GRACE,
    ) -> None:
        self._pool = pool
        self._store = store
        self._actions = actions
        self._poll = poll
        self._threshold_every = threshold_every
        self._sweep_every = sweep_every
        self._grace = grace
        self._missing_findings_logged = False

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set; the first pass also retries pending firings."""
        next_threshold = next_sweep = 0.0
        while not stop.is_set():
            try:
                await self.fire_due_ticks(dt.datetime.now(dt.UTC))
                if time.monotonic() >= next_threshold:
                    await self.evaluate_thresholds()
                    next_threshold = time.monotonic() + self._threshold_every
                if time.monotonic() >= next_sweep:
                    await self._actions.sweep()
                    next_sweep = time.monotonic() + self._sweep_every
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                _log.warning("scheduler pass failed; retrying", error=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._poll)

    async def fire_due_ticks(self, now: dt.datetime) -> list[TriggerFired]:
        """Fire (or skip, per misfire policy) each live schedule's due tick; returns those fired."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_LIVE, "schedule")
        fired: list[TriggerFired] = []
        for row in rows:
            definition = _definition.decode(row["definition"])
            last = max(row["last_tick"] or row["active_since"], row["active_since"])
            decision = decide_tick(
                definition, last=last, now=now, anchor=row["active_since"], grace=self._grace
            )
            if decision.handled_up_to > last:
                fired += await self._claim_tick(row, definition, now)
        for firing in fired:
            self._actions.submit(firing.firing_id)
        return fired

    async def _claim_tick(
        self, row: Any, definition: TriggerDefinition, now: dt.datetime
    ) -> list[TriggerFired]:
        trigger_id = row["trigger_id"]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO triggers_schedule_state (trigger_id, last_tick) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                trigger_id,
                row["active_since"],
            )
            locked = await conn.fetchval(
                "SELECT last_tick FROM triggers_schedule_state WHERE trigger_id = $1 FOR UPDATE",
                trigger_id,
            )
            last = max(locked, row["active_since"])
            decision = decide_tick(
                definition, last=last, now=now, anchor=row["active_since"], grace=self._grace
            )
            if decision.handled_up_to <= last:
                return []
            claimed: list[TriggerFired] = []
            if decision.tick is not None:
                firing = schedule_firing(
                    trigger_id, row["workspace_id"], row["version"], decision.tick, now
                )
                with contextlib.suppress(ConcurrencyError):
                    claimed = await claim_firings_in(conn, self._store, [firing])
            await conn.execute(
                "UPDATE triggers_schedule_state SET last_tick = $2 WHERE trigger_id = $1",
                trigger_id,
                decision.handled_up_to,
            )
            return claimed

    async def evaluate_thresholds(self) -> list[TriggerFired]:
        """Fire each live threshold trigger whose bound has just been crossed."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(_LIVE, "threshold")
        fired: list[TriggerFired] = []
        for row in rows:
            try:
                fired += await self._evaluate(row, _definition.decode(row["definition"]))
            except asyncpg.UndefinedTableError:
                if not self._missing_findings_logged:
                    _log.warning("threshold triggers wait for the ingest findings read model")
                    self._missing_findings_logged = True
                return fired
        for firing in fired:
            self._actions.submit(firing.firing_id)
        return fired

    async def _evaluate(self, row: Any, definition: TriggerDefinition) -> list[TriggerFired]:
        trigger_id = row["trigger_id"]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO triggers_threshold_state (trigger_id) VALUES ($1)"
                " ON CONFLICT DO NOTHING",
                trigger_id,
            )
            state = await conn.fetchrow(
                "SELECT above, crossings FROM triggers_threshold_state"
                " WHERE trigger_id = $1 FOR UPDATE",
                trigger_id,
            )
            assert state is not None
            value = await metric_value(conn, row["workspace_id"], definition)
            above = crosses(definition, value)
            if above == state["above"]:
                return []
            crossings = state["crossings"] + (1 if above else 0)
            claimed: list[TriggerFired] = []
            if above:
                firing = threshold_firing(
                    trigger_id,
                    row["workspace_id"],
                    row["version"],
                    crossings,
                    value,
                    dt.datetime.now(dt.UTC),
                )
                with contextlib.suppress(ConcurrencyError):
                    claimed = await claim_firings_in(conn, self._store, [firing])
            await conn.execute(
                "UPDATE triggers_threshold_state SET above = $2, crossings = $3"
                " WHERE trigger_id = $1",
                trigger_id,
                above,
                crossings,
            )
            return claimed
