"""Read models the triggers service owns: live definitions and the firings' outcomes.

The runner applies each event once per checkpoint; the event consumer brings
a workspace's models up to a batch's position before it evaluates the
batch, so a trigger defined before an event is always known when that event
is matched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from shared.contracts import (
    ActionFailed,
    ActionSucceeded,
    TriggerCreated,
    TriggerDeleted,
    TriggerDisabled,
    TriggerEnabled,
    TriggerFired,
    TriggerUpdated,
)
from shared.projections import Projection
from shared.triggers.definitions import DEFINITION_EVENTS

if TYPE_CHECKING:
    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("DefinitionsProjection", "FiringsProjection", "trigger_projections")

_encode = msgspec.json.Encoder().encode


class DefinitionsProjection(Projection):
    """One row per trigger with its current definition and whether it may fire."""

    name: ClassVar[str] = "triggers.definitions"
    event_types: ClassVar[frozenset[str]] = DEFINITION_EVENTS
    tables: ClassVar[tuple[str, ...]] = ("triggers_definitions",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Insert, replace, enable, disable or delete the trigger's row."""
        match event.data:
            case TriggerCreated() | TriggerUpdated() as defined:
                enabled = defined.enabled if isinstance(defined, TriggerCreated) else None
                await conn.execute(
                    "INSERT INTO triggers_definitions (trigger_id, workspace_id, kind, definition,"
                    " enabled, version, active_since, active_since_position, created_at,"
                    " updated_at, position)"
                    " VALUES ($1, $2, $3, $4, coalesce($5, true), $6, $7, $8, $7, $7, $8)"
                    " ON CONFLICT (trigger_id) DO UPDATE SET kind = $3, definition = $4,"
                    " enabled = coalesce($5, triggers_definitions.enabled), version = $6,"
                    " active_since = $7, active_since_position = $8, updated_at = $7,"
                    " position = $8",
                    defined.trigger_id,
                    defined.workspace_id,
                    defined.definition.kind,
                    _encode(defined.definition),
                    enabled,
                    event.stream_version,
                    event.recorded_at,
                    event.position,
                )
            case TriggerEnabled(trigger_id=trigger_id):
                await conn.execute(
                    "UPDATE triggers_definitions SET enabled = true, version = $2,"
                    " active_since = $3, active_since_position = $4, updated_at = $3,"
                    " position = $4"
                    " WHERE trigger_id = $1",
                    trigger_id,
                    event.stream_version,
                    event.recorded_at,
                    event.position,
                )
            case TriggerDisabled(trigger_id=trigger_id) | TriggerDeleted(trigger_id=trigger_id):
                deleted = isinstance(event.data, TriggerDeleted)
                await conn.execute(
                    "UPDATE triggers_definitions SET enabled = false, deleted = deleted OR $2,"
                    " version = $3, updated_at = $4, position = $5 WHERE trigger_id = $1",
                    trigger_id,
                    deleted,
                    event.stream_version,
                    event.recorded_at,
                    event.position,
                )


class FiringsProjection(Projection):
    """One row per firing: pending until its action's outcome is recorded."""

    name: ClassVar[str] = "triggers.firings"
    event_types: ClassVar[frozenset[str]] = frozenset(
        t.type_name() for t in (TriggerFired, ActionSucceeded, ActionFailed)
    )
    tables: ClassVar[tuple[str, ...]] = ("triggers_firings",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Record a firing, or settle it."""
        match event.data:
            case TriggerFired() as fired:
                await conn.execute(
                    "INSERT INTO triggers_firings (firing_id, trigger_id, workspace_id, cause,"
                    " fired_at, scheduled_for, source_event_id, source_event_type, observed_value,"
                    " status, event_id, position)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11)"
                    " ON CONFLICT (firing_id) DO NOTHING",
                    fired.firing_id,
                    fired.trigger_id,
                    fired.workspace_id,
                    fired.cause,
                    fired.fired_at,
                    fired.scheduled_for,
                    fired.source_event_id,
                    fired.source_event_type,
                    fired.observed_value,
                    event.event_id,
                    event.position,
                )
            case ActionSucceeded() as done:
                await conn.execute(
                    "UPDATE triggers_firings SET status = 'succeeded', action_type = $2,"
                    " attempts = $3, detail = $4, completed_at = $5, position = $6"
                    " WHERE firing_id = $1",
                    done.firing_id,
                    done.action_type,
                    done.attempts,
                    done.detail,
                    done.completed_at,
                    event.position,
                )
            case ActionFailed() as failed:
                await conn.execute(
                    "UPDATE triggers_firings SET status = 'failed', action_type = $2,"
                    " attempts = $3, reason = $4, completed_at = $5, position = $6"
                    " WHERE firing_id = $1",
                    failed.firing_id,
                    failed.action_type,
                    failed.attempts,
                    failed.reason,
                    failed.failed_at,
                    event.position,
                )


def trigger_projections() -> tuple[Projection, ...]:
    """Every read model of the triggers service."""
    return (DefinitionsProjection(), FiringsProjection())
