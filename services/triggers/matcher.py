"""Matching relayed events against the workspace's live event triggers.

Before a batch is evaluated, the service's read models are brought up to
the batch's highest position for each workspace it touches (from the log,
exactly once), so a trigger recorded before an event is always known when
that event is matched, whichever replica gets it and in whatever order.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from prometheus_client import Counter

from services.triggers.claims import claim_firings
from services.triggers.domain import EventTrigger
from shared.contracts import TriggerDefinition
from shared.triggers.conditions import condition_fields
from shared.wire import decode_wire

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from services.triggers.actions import ActionRunner
    from shared.contracts import TriggerFired
    from shared.eventstore import EventStore
    from shared.projections import ProjectionRunner
    from shared.wire import WireEvent

__all__ = ("EventMatcher",)

_log = structlog.get_logger("vigil.triggers")
_definition = msgspec.json.Decoder(TriggerDefinition)
_evaluated = Counter("vigil_trigger_events_evaluated", "Events matched against event triggers")
_fired = Counter("vigil_trigger_firings", "Firings claimed by this replica", ["cause"])


class EventMatcher:
    """Turns batches of relayed events into claimed firings, and hands those to the actions."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        runner: ProjectionRunner,
        actions: ActionRunner | None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._runner = runner
        self._actions = actions
        self._cache: dict[str, tuple[int, list[EventTrigger]]] = {}

    async def handle(self, bodies: Sequence[bytes]) -> list[TriggerFired]:
        """Claim the firings a batch of relayed events causes; returns those claimed here."""
        by_workspace: dict[str, list[WireEvent]] = defaultdict(list)
        for body in bodies:
            wire = decode_wire(body)
            by_workspace[wire.workspace_id].append(wire)
        candidates: list[TriggerFired] = []
        for workspace_id, events in by_workspace.items():
            await self._runner.catch_up(workspace_id, max(e.position for e in events))
            triggers = await self.event_triggers(workspace_id)
            if triggers:
                candidates += self.evaluate(triggers, events)
        claimed = await claim_firings(self._pool, self._store, candidates)
        _fired.labels("event").inc(len(claimed))
        if self._actions is not None:
            for firing in claimed:
                self._actions.submit(firing.firing_id)
        return claimed

    @staticmethod
    def evaluate(
        triggers: Sequence[EventTrigger], events: Sequence[WireEvent]
    ) -> list[TriggerFired]:
        """The firings `events` cause among `triggers` (pure: nothing is recorded)."""
        now = dt.datetime.now(dt.UTC)
        fired = []
        for wire in events:
            _evaluated.inc()
            fields: dict[str, Any] | None = None
            for trigger in triggers:
                if not trigger.wants(wire.type, wire.position):
                    continue
                if fields is None:
                    decoded = msgspec.json.decode(wire.data)
                    fields = condition_fields(
                        wire.type, decoded if isinstance(decoded, dict) else {}
                    )
                if trigger.matches(wire.type, wire.position, fields):
                    fired.append(trigger.firing(wire.event_id, wire.type, wire.position, now))
        return fired

    async def event_triggers(self, workspace_id: str) -> list[EventTrigger]:
        """The workspace's live event triggers, recompiled only when a definition changed."""
        async with self._pool.acquire() as conn:
            marker: int = await conn.fetchval(
                "SELECT coalesce(max(position), 0) FROM triggers_definitions"
                " WHERE workspace_id = $1",
                workspace_id,
            )
            cached = self._cache.get(workspace_id)
            if cached is not None and cached[0] == marker:
                return cached[1]
            rows = await conn.fetch(
                "SELECT trigger_id, definition, version, active_since_position"
                " FROM triggers_definitions WHERE workspace_id = $1 AND kind = 'event'"
                " AND enabled AND NOT deleted",
                workspace_id,
            )
        triggers = [
            EventTrigger(
                row["trigger_id"],
                workspace_id,
                _definition.decode(row["definition"]),
                row["version"],
                row["active_since_position"],
            )
            for row in rows
        ]
        self._cache[workspace_id] = (marker, triggers)
        return triggers
