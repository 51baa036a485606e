"""``/api/v1/workspaces/{workspace_id}/triggers``: define, change, enable and list triggers."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from services.api import triggers
from services.api.errors import conflict, not_found, problem
from services.api.readmodels import workspace_for
from services.api.trigger_schemas import CreateTrigger, FiringList, Trigger, TriggerList
from shared.contracts.base import EventMetadata
from shared.eventstore import ConcurrencyError, EventStore

__all__ = ("TriggerController",)


def _missing(workspace_id: str, trigger_id: str) -> Exception:
    return not_found(f"Workspace {workspace_id!r} has no trigger {trigger_id!r}.")


def _invalid(error: triggers.InvalidTrigger) -> Exception:
    return problem(422, str(error), title="Invalid trigger")


def _events_prefix(state: State) -> str:
    runtime = state.get("runtime")
    if runtime is None:
        raise problem(503, "The gateway is starting or stopping; try again shortly.")
    prefix: str = runtime.settings.subject_prefix
    return prefix


class TriggerController(Controller):
    """Triggers: schedules, event conditions and thresholds that run an action, once per cause."""

    path = "/api/v1/workspaces/{workspace_id:str}/triggers"
    tags = ("triggers",)

    @post(status_code=HTTP_201_CREATED, summary="Create a trigger")
    async def create(
        self,
        request: Request[Any, Any, Any],
        state: State,
        workspace_id: FromPath[str],
        data: JSONBody[CreateTrigger],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Trigger:
        """Record `TriggerCreated` (analyst or admin).

        422 with the offending field for an invalid cron expression, time
        zone, condition, event type, webhook URL or action.
        """
        await workspace_for(request, pool, store, workspace_id, write=True)
        try:
            return await triggers.create_trigger(
                store,
                workspace_id=workspace_id,
                body=data,
                events_prefix=_events_prefix(state),
                metadata=metadata,
            )
        except triggers.InvalidTrigger as invalid:
            raise _invalid(invalid) from None

    @get(summary="List triggers")
    async def list(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> TriggerList:
        """The workspace's triggers (from the triggers read model: it may lag a moment)."""
        await workspace_for(request, pool, store, workspace_id)
        return TriggerList(triggers=await triggers.list_triggers(pool, workspace_id))

    @get("/{trigger_id:str}", summary="Show a trigger")
    async def show(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
    ) -> Trigger:
        """One trigger, as its stream in the log says."""
        await workspace_for(request, pool, store, workspace_id)
        try:
            return await triggers.get_trigger(store, workspace_id, trigger_id)
        except triggers.TriggerNotFound:
            raise _missing(workspace_id, trigger_id) from None

    @patch("/{trigger_id:str}", summary="Change a trigger")
    async def change(
        self,
        request: Request[Any, Any, Any],
        state: State,
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Trigger:
        """Change some fields (those of the creation body); record `TriggerUpdated`.

        A webhook `action` given without `secret` keeps the current secret.
        422 for an invalid result, 409 if the trigger changed meanwhile.
        """
        await workspace_for(request, pool, store, workspace_id, write=True)
        try:
            return await triggers.update_trigger(
                store,
                workspace_id=workspace_id,
                trigger_id=trigger_id,
                patch=data,
                events_prefix=_events_prefix(state),
                metadata=metadata,
            )
        except triggers.TriggerNotFound:
            raise _missing(workspace_id, trigger_id) from None
        except triggers.InvalidTrigger as invalid:
            raise _invalid(invalid) from None
        except ConcurrencyError as stale:
            raise conflict(str(stale)) from None

    @delete("/{trigger_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Delete a trigger")
    async def remove(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> None:
        """Record `TriggerDeleted`: it never fires again (its firings stay listed)."""
        await workspace_for(request, pool, store, workspace_id, write=True)
        try:
            await triggers.delete_trigger(
                store, workspace_id=workspace_id, trigger_id=trigger_id, metadata=metadata
            )
        except triggers.TriggerNotFound:
            raise _missing(workspace_id, trigger_id) from None
        except ConcurrencyError as stale:
            raise conflict(str(stale)) from None

    @post("/{trigger_id:str}/enable", status_code=HTTP_200_OK, summary="Enable a trigger")
    async def enable(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Trigger:
        """Record `TriggerEnabled` (nothing if it is enabled); ticks missed meanwhile never fire."""
        return await self._set(request, workspace_id, trigger_id, pool, store, metadata, True)

    @post("/{trigger_id:str}/disable", status_code=HTTP_200_OK, summary="Disable a trigger")
    async def disable(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        metadata: NamedDependency[EventMetadata],
    ) -> Trigger:
        """Record `TriggerDisabled` (nothing if it is disabled): it fires no more."""
        return await self._set(request, workspace_id, trigger_id, pool, store, metadata, False)

    @staticmethod
    async def _set(
        request: Request[Any, Any, Any],
        workspace_id: str,
        trigger_id: str,
        pool: asyncpg.Pool,
        store: EventStore,
        metadata: EventMetadata,
        enabled: bool,
    ) -> Trigger:
        await workspace_for(request, pool, store, workspace_id, write=True)
        try:
            return await triggers.set_enabled(
                store,
                workspace_id=workspace_id,
                trigger_id=trigger_id,
                enabled=enabled,
                metadata=metadata,
            )
        except triggers.TriggerNotFound:
            raise _missing(workspace_id, trigger_id) from None
        except ConcurrencyError as stale:
            raise conflict(str(stale)) from None

    @get("/{trigger_id:str}/firings", summary="List a trigger's firings")
    async def firings(
        self,
        request: Request[Any, Any, Any],
        workspace_id: FromPath[str],
        trigger_id: FromPath[str],
        pool: NamedDependency[asyncpg.Pool],
        store: NamedDependency[EventStore],
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="How many")] = 100,
    ) -> FiringList:
        """The trigger's firings, newest first, each with its action's outcome (or pending)."""
        await workspace_for(request, pool, store, workspace_id)
        try:
            await triggers.get_trigger(store, workspace_id, trigger_id)
        except triggers.TriggerNotFound:
            raise _missing(workspace_id, trigger_id) from None
        found = await triggers.list_firings(pool, workspace_id, trigger_id, limit=limit)
        return FiringList(firings=found)
