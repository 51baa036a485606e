"""Trigger commands and queries: what the trigger routes delegate to.

Commands decide against the trigger's stream (the truth) and append with
its version, so concurrent edits conflict instead of overwriting. A single
trigger is read from its stream too; lists and firings come from the
triggers service's read models (``triggers_definitions``,
``triggers_firings``), which the gateway only queries.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
import uuid_utils.compat

from services.api.errors import problem
from services.api.trigger_schemas import CreateTrigger, Firing, Trigger
from shared.contracts.trigger import (
    TriggerCreated,
    TriggerDefinition,
    TriggerDeleted,
    TriggerDisabled,
    TriggerEnabled,
    TriggerUpdated,
    WebhookAction,
    trigger_stream,
)
from shared.triggers.definitions import (
    InvalidTrigger,
    TriggerState,
    evolve,
    fold,
    validate_definition,
)
from shared.triggers.targets import AddressPolicy

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterator

    from shared.contracts import EventMetadata
    from shared.eventstore import EventStore

__all__ = (
    "InvalidTrigger",
    "TriggerNotFound",
    "create_trigger",
    "delete_trigger",
    "get_trigger",
    "list_firings",
    "list_triggers",
    "set_enabled",
    "trigger_view",
    "update_trigger",
)

_definition = msgspec.json.Decoder(TriggerDefinition)
_DefinitionEvent = (
    TriggerCreated | TriggerUpdated | TriggerEnabled | TriggerDisabled | TriggerDeleted
)
_PATCHABLE = frozenset(CreateTrigger.__struct_fields__) - {"enabled"}


class TriggerNotFound(LookupError):
    """The workspace has no (undeleted) trigger with this id."""


@contextlib.contextmanager
def triggers_tables() -> Iterator[None]:
    """Turn "the triggers read models do not exist yet" into a 503 problem."""
    try:
        yield
    except asyncpg.UndefinedTableError:
        raise problem(
            503,
            "The triggers service has not created its read models yet; start it "
            "(`vigil up` runs every service) and try again.",
        ) from None


def _action_view(definition: TriggerDefinition) -> dict[str, Any]:
    action: dict[str, Any] = msgspec.to_builtins(definition.action)
    action.pop("secret", None)
    return action


def trigger_view(
    trigger_id: str,
    workspace_id: str,
    definition: TriggerDefinition,
    *,
    enabled: bool,
    version: int,
    created_at: dt.datetime,
    updated_at: dt.datetime,
) -> Trigger:
    """A trigger as clients see it (without its webhook secret)."""
    return Trigger(
        id=trigger_id,
        workspace_id=workspace_id,
        name=definition.name,
        description=definition.description,
        kind=definition.kind,
        enabled=enabled,
        event_types=list(definition.event_types),
        condition=definition.condition,
        cron=definition.cron,
        timezone=definition.timezone,
        every_seconds=definition.every_seconds,
        misfire=definition.misfire,
        metric=definition.metric,
        severity=list(definition.severity),
        operator=definition.operator,
        threshold=definition.threshold,
        action=_action_view(definition),
        version=version,
        created_at=created_at,
        updated_at=updated_at,
    )


def _state_view(state: TriggerState) -> Trigger:
    return trigger_view(
        state.trigger_id,
        state.workspace_id,
        state.definition,
        enabled=state.enabled,
        version=state.version,
        created_at=state.created_at,
        updated_at=state.updated_at,
    )


def _validate(definition: TriggerDefinition, events_prefix: str) -> None:
    validate_definition(definition, policy=AddressPolicy.from_env(), events_prefix=events_prefix)
    if isinstance(definition.action, WebhookAction) and len(definition.action.secret) < 16:
        raise InvalidTrigger("action.secret: must be at least 16 characters")


async def _load(store: EventStore, workspace_id: str, trigger_id: str) -> TriggerState:
    state = fold(await store.read_stream(trigger_stream(trigger_id)))
    if state is None or state.deleted or state.workspace_id != workspace_id:
        raise TriggerNotFound(trigger_id)
    return state


async def _append(
    store: EventStore, state: TriggerState | None, event: _DefinitionEvent, metadata: EventMetadata
) -> TriggerState:
    [recorded] = await store.append_to_stream(
        trigger_stream(event.trigger_id),
        event.workspace_id,
        [event],
        expected_version=state.version if state else 0,
        metadata=metadata,
    )
    result = evolve(state, recorded)
    assert result is not None
    return result


async def create_trigger(
    store: EventStore,
    *,
    workspace_id: str,
    body: CreateTrigger,
    events_prefix: str,
    metadata: EventMetadata,
) -> Trigger:
    """Validate and record `TriggerCreated` in a new stream ``trigger-<uuid7>``.

    Raises:
        InvalidTrigger: the definition breaks a rule (bad cron, condition, URL, ...).
    """
    definition = body.definition()
    _validate(definition, events_prefix)
    trigger_id = str(uuid_utils.compat.uuid7())
    created = TriggerCreated(
        workspace_id=workspace_id,
        trigger_id=trigger_id,
        definition=definition,
        enabled=body.enabled,
    )
    return _state_view(await _append(store, None, created, metadata))


async def get_trigger(store: EventStore, workspace_id: str, trigger_id: str) -> Trigger:
    """One trigger, read from its stream.

    Raises:
        TriggerNotFound: no such trigger in the workspace, or it was deleted.
    """
    return _state_view(await _load(store, workspace_id, trigger_id))


def _merge(current: TriggerDefinition, patch: dict[str, Any]) -> CreateTrigger:
    unknown = sorted(set(patch) - _PATCHABLE)
    if unknown:
        raise InvalidTrigger(f"{', '.join(unknown)}: not a field of a trigger that can be changed")
    merged: dict[str, Any] = msgspec.to_builtins(current)
    action = patch.get("action")
    if (
        isinstance(action, dict)
        and action.get("type", "webhook") == "webhook"
        and "secret" not in action
        and isinstance(current.action, WebhookAction)
    ):
        patch = {**patch, "action": {**action, "type": "webhook", "secret": current.action.secret}}
    merged.update(patch)
    try:
        return msgspec.convert(merged, CreateTrigger)
    except msgspec.ValidationError as error:
        raise InvalidTrigger(str(error)) from None


async def update_trigger(
    store: EventStore,
    *,
    workspace_id: str,
    trigger_id: str,
    patch: dict[str, Any],
    events_prefix: str,
    metadata: EventMetadata,
) -> Trigger:
    """Apply a partial change (fields of `CreateTrigger`) and record `TriggerUpdated`.

    A webhook action given without a secret keeps the current secret.

    Raises:
        TriggerNotFound: no such trigger.
        InvalidTrigger: the changed definition breaks a rule.
        ConcurrencyError: the trigger changed meanwhile.
    """
    state = await _load(store, workspace_id, trigger_id)
    definition = _merge(state.definition, patch).definition()
    _validate(definition, events_prefix)
    if definition == state.definition:
        return _state_view(state)
    updated = TriggerUpdated(
        workspace_id=workspace_id, trigger_id=trigger_id, definition=definition
    )
    return _state_view(await _append(store, state, updated, metadata))


async def set_enabled(
    store: EventStore,
    *,
    workspace_id: str,
    trigger_id: str,
    enabled: bool,
    metadata: EventMetadata,
) -> Trigger:
    """Enable or disable a trigger; asking for the state it is in records nothing."""
    state = await _load(store, workspace_id, trigger_id)
    if state.enabled == enabled:
        return _state_view(state)
    kind = TriggerEnabled if enabled else TriggerDisabled
    event = kind(workspace_id=workspace_id, trigger_id=trigger_id)
    return _state_view(await _append(store, state, event, metadata))


async def delete_trigger(
    store: EventStore, *, workspace_id: str, trigger_id: str, metadata: EventMetadata
) -> None:
    """Record `TriggerDeleted`: the trigger never fires again.

    Raises:
        TriggerNotFound: no such trigger (or deleted before).
    """
    state = await _load(store, workspace_id, trigger_id)
    await _append(
        store, state, TriggerDeleted(workspace_id=workspace_id, trigger_id=trigger_id), metadata
    )


async def list_triggers(pool: asyncpg.Pool, workspace_id: str) -> list[Trigger]:
    """The workspace's triggers from the triggers read model, oldest first."""
    with triggers_tables():
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT trigger_id, definition, enabled, version, created_at, updated_at"
                " FROM triggers_definitions WHERE workspace_id = $1 AND NOT deleted"
                " ORDER BY created_at, trigger_id",
                workspace_id,
            )
    return [
        trigger_view(
            row["trigger_id"],
            workspace_id,
            _definition.decode(row["definition"]),
            enabled=row["enabled"],
            version=row["version"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        for row in rows
    ]


async def list_firings(
    pool: asyncpg.Pool, workspace_id: str, trigger_id: str, *, limit: int
) -> list[Firing]:
    """A trigger's firings with their outcomes, newest first."""
    with triggers_tables():
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT firing_id, trigger_id, cause, fired_at, scheduled_for, source_event_id,"
                " source_event_type, observed_value, status, action_type, attempts, detail,"
                " reason, completed_at, event_id FROM triggers_firings"
                " WHERE workspace_id = $1 AND trigger_id = $2"
                " ORDER BY fired_at DESC, firing_id DESC LIMIT $3",
                workspace_id,
                trigger_id,
                limit,
            )
    return [Firing(**dict(row)) for row in rows]
