"""``WS /api/v1/stream``: the log from a position, then live, as JSON lines in text frames."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.plugins.problem_details import ProblemDetailsException

from services.api.access import readable_workspace
from services.api.auth import Credential, deny_websocket
from services.api.errors import bad_request
from services.api.filters import TypeFilter
from services.api.live import channel_for, stream_to_socket
from shared.eventstore import EventStore

__all__ = ("StreamQuery", "stream_events")


class StreamQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Query parameters of the stream; `after` omitted means live events only."""

    workspace: str | None = None
    types: str | None = None
    after: Annotated[int, msgspec.Meta(ge=0)] | None = None
    token: str | None = None


@websocket("/api/v1/stream")
async def stream_events(
    socket: WebSocket[Any, Any, Any],
    channels: NamedDependency[ChannelsPlugin],
    store: NamedDependency[EventStore],
    pool: NamedDependency[asyncpg.Pool],
) -> None:
    """Stream events of a workspace (or all, for an unscoped token), filtered by type."""
    try:
        query = _parse_query(socket)
        workspace_id = await readable_workspace(socket, pool, query.workspace)
    except ProblemDetailsException as refusal:
        await deny_websocket(socket.scope, socket.send, refusal)
        return
    credential = socket.auth
    subprotocol = credential.subprotocol if isinstance(credential, Credential) else None
    async with channels.start_subscription(channel_for(workspace_id)) as subscriber:
        # Subscribed first: whatever commits after the replay's reads arrives live.
        after = query.after if query.after is not None else await store.head_position()
        await socket.accept(subprotocols=subprotocol)
        await stream_to_socket(
            socket,
            subscriber,
            store,
            workspace_id=workspace_id,
            types=TypeFilter.parse(query.types),
            after=after,
        )


def _parse_query(socket: WebSocket[Any, Any, Any]) -> StreamQuery:
    try:
        return msgspec.convert(dict(socket.query_params), StreamQuery, strict=False)
    except msgspec.ValidationError as error:
        raise bad_request(f"query: {error}") from None
