"""``/api/v1/events``: the log, page by page."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from services.api.access import readable_workspace
from services.api.filters import TypeFilter
from services.api.schemas import EventPage, EventView
from shared.eventstore import EventStore

__all__ = ("EventController",)


class EventController(Controller):
    """Read access to the event log, the single source of truth."""

    path = "/api/v1/events"
    tags = ("events",)

    @get(summary="Read the event log")
    async def read(
        self,
        request: Request[Any, Any, Any],
        store: NamedDependency[EventStore],
        pool: NamedDependency[asyncpg.Pool],
        workspace: Annotated[
            str | None, QueryParameter(description="Only this workspace's events")
        ] = None,
        after: Annotated[int, QueryParameter(ge=0, description="Events after this position")] = 0,
        types: Annotated[
            str | None, QueryParameter(description="Comma-separated types; 'Finding*' patterns")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000, description="Page size")] = 100,
    ) -> EventPage:
        """Up to `limit` events after `after`, in log order; `next_after` continues the read."""
        workspace_id = await readable_workspace(request, pool, workspace)
        names = TypeFilter.parse(types).type_names()
        if names == []:
            return EventPage(events=[], next_after=after)
        events = await store.read_all(
            after=after, limit=limit, workspace_id=workspace_id, types=names
        )
        return EventPage(
            events=[EventView.from_recorded(event) for event in events],
            next_after=events[-1].position if events else after,
        )
