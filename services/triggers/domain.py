"""The triggers domain: which events, ticks and crossings fire a trigger. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import operator
from typing import TYPE_CHECKING, Any

import msgspec

from shared.contracts import TriggerDefinition, TriggerFired
from shared.contracts.trigger import firing_id_for
from shared.triggers.conditions import Condition, compile_condition
from shared.triggers.cron import CronExpression, interval_tick_at_or_before, time_zone
from shared.triggers.definitions import type_matches

if TYPE_CHECKING:
    import uuid
    from collections.abc import Mapping

__all__ = (
    "MISFIRE_GRACE",
    "EventTrigger",
    "ScheduleDecision",
    "crosses",
    "decide_tick",
    "firing_payload",
    "schedule_firing",
    "threshold_firing",
)

MISFIRE_GRACE = dt.timedelta(seconds=30)
"""A tick claimed later than this after its time counts as missed (see `decide_tick`)."""

_TRIGGER_TYPES = frozenset(
    {"TriggerFired", "ActionSucceeded", "ActionFailed", "TriggerCreated", "TriggerUpdated"}
    | {"TriggerEnabled", "TriggerDisabled", "TriggerDeleted"}
)
_COMPARE = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


class EventTrigger:
    """A live event trigger, its condition compiled once, ready to match events."""

    def __init__(
        self,
        trigger_id: str,
        workspace_id: str,
        definition: TriggerDefinition,
        version: int,
        active_since_position: int,
    ) -> None:
        self.trigger_id = trigger_id
        self.workspace_id = workspace_id
        self.definition = definition
        self.version = version
        self.active_since_position = active_since_position
        self.patterns = definition.event_types
        self.condition: Condition | None = (
            compile_condition(definition.condition) if definition.condition else None
        )

    def wants(self, type_name: str, position: int) -> bool:
        """Whether an event of this type, at this log position, is worth evaluating."""
        return position > self.active_since_position and type_matches(self.patterns, type_name)

    def matches(self, type_name: str, position: int, fields: Mapping[str, Any]) -> bool:
        """Whether the event fires this trigger; `fields` are its `condition_fields`.

        Only events recorded after the trigger was (re)activated count, and a
        trigger never fires on the events of its own definition or firings.
        """
        if not self.wants(type_name, position):
            return False
        if type_name in _TRIGGER_TYPES and fields.get("trigger_id") == self.trigger_id:
            return False
        return self.condition is None or self.condition.matches(fields)

    def firing(
        self, event_id: uuid.UUID, type_name: str, position: int, at: dt.datetime
    ) -> TriggerFired:
        """The `TriggerFired` for a matching event; its id depends only on trigger and event."""
        return TriggerFired(
            workspace_id=self.workspace_id,
            trigger_id=self.trigger_id,
            firing_id=firing_id_for(self.trigger_id, f"event:{event_id}"),
            cause="event",
            fired_at=at,
            trigger_version=self.version,
            source_event_id=event_id,
            source_event_type=type_name,
            source_position=position,
        )


class ScheduleDecision(msgspec.Struct, frozen=True):
    """What to do about a schedule now: fire `tick` (or nothing), and move on to `handled_up_to`."""

    tick: dt.datetime | None
    handled_up_to: dt.datetime


def _latest_tick(
    definition: TriggerDefinition, last: dt.datetime, now: dt.datetime, anchor: dt.datetime
) -> dt.datetime | None:
    if definition.every_seconds is not None:
        tick = interval_tick_at_or_before(now, anchor, definition.every_seconds)
        return tick if tick is not None and tick > last else None
    assert definition.cron is not None
    zone = time_zone(definition.timezone)
    return CronExpression(definition.cron).latest_at_or_before(now, last, zone)


def decide_tick(
    definition: TriggerDefinition,
    *,
    last: dt.datetime,
    now: dt.datetime,
    anchor: dt.datetime,
    grace: dt.timedelta = MISFIRE_GRACE,
) -> ScheduleDecision:
    """Which tick in (`last`, `now`] fires, applying the misfire policy.

    At most one tick fires per decision: the latest one due. Earlier due
    ticks were missed (no replica ran, or the trigger's process was busy)
    and are never fired late one by one. The latest due tick fires when it
    is on time (within `grace`); when it is late, ``fire_once`` fires it
    once for everything missed and ``skip`` drops it. Interval ticks are
    ``anchor + k * every_seconds``.
    """
    tick = _latest_tick(definition, last, now, anchor)
    if tick is None:
        return ScheduleDecision(None, last)
    if now - tick <= grace or definition.misfire == "fire_once":
        return ScheduleDecision(tick, tick)
    return ScheduleDecision(None, tick)


def schedule_firing(
    trigger_id: str, workspace_id: str, version: int, tick: dt.datetime, at: dt.datetime
) -> TriggerFired:
    """The `TriggerFired` of a schedule tick; its id depends only on trigger and tick."""
    return TriggerFired(
        workspace_id=workspace_id,
        trigger_id=trigger_id,
        firing_id=firing_id_for(trigger_id, f"tick:{tick.astimezone(dt.UTC).isoformat()}"),
        cause="schedule",
        fired_at=at,
        trigger_version=version,
        scheduled_for=tick,
    )


def crosses(definition: TriggerDefinition, value: float) -> bool:
    """Whether `value` is past the threshold trigger's bound."""
    assert definition.threshold is not None
    return bool(_COMPARE[definition.operator](value, definition.threshold))


def threshold_firing(
    trigger_id: str, workspace_id: str, version: int, crossing: int, value: float, at: dt.datetime
) -> TriggerFired:
    """The `TriggerFired` of the `crossing`-th crossing of a threshold."""
    return TriggerFired(
        workspace_id=workspace_id,
        trigger_id=trigger_id,
        firing_id=firing_id_for(trigger_id, f"crossing:{crossing}"),
        cause="threshold",
        fired_at=at,
        trigger_version=version,
        observed_value=value,
    )


def firing_payload(
    fired: TriggerFired,
    *,
    event_id: uuid.UUID,
    trigger_name: str,
    source: dict[str, Any] | None,
) -> dict[str, Any]:
    """The JSON document a webhook receives (and a NATS publish carries) for a firing.

    `event_id` is the id of the `TriggerFired` event (also ``X-Vigil-Event-Id``);
    `source` is the event that fired an event trigger, as the events API shows it.
    """
    return {
        "event_id": str(event_id),
        "firing_id": str(fired.firing_id),
        "trigger": {"id": fired.trigger_id, "name": trigger_name},
        "workspace_id": fired.workspace_id,
        "cause": fired.cause,
        "fired_at": fired.fired_at.isoformat(),
        "scheduled_for": fired.scheduled_for.isoformat() if fired.scheduled_for else None,
        "observed_value": fired.observed_value,
        "event": source,
    }
