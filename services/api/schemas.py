"""Request and response bodies of the gateway: validated at the edge, trusted inside."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from shared.contracts.base import EventMetadata, UnknownEventType
from shared.contracts.workspace import WORKSPACE_ID

if TYPE_CHECKING:
    from shared.contracts.base import RecordedEvent
    from shared.wire import WireEvent

__all__ = (
    "CreateWorkspace",
    "EventPage",
    "EventView",
    "Workspace",
    "WorkspaceList",
    "encode",
)

encode = msgspec.json.Encoder().encode
_metadata = msgspec.json.Decoder(EventMetadata)


class CreateWorkspace(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /api/v1/workspaces``."""

    id: WORKSPACE_ID
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    description: Annotated[str, msgspec.Meta(max_length=4000)] = ""


class Workspace(msgspec.Struct, frozen=True, kw_only=True):
    """A workspace as the read model holds it; `position` is that of its creation event."""

    id: str
    name: str
    description: str
    created_at: dt.datetime
    created_by: str | None
    position: int


class WorkspaceList(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET /api/v1/workspaces``."""

    workspaces: list[Workspace]


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    """An event of the log as clients see it, over REST and over the WebSocket alike."""

    position: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    workspace_id: str
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: EventMetadata
    recorded_at: dt.datetime

    @classmethod
    def from_recorded(cls, event: RecordedEvent) -> EventView:
        """The view of an event read from the log (data upcast to the current schema)."""
        return cls(
            position=event.position,
            event_id=event.event_id,
            stream_id=event.stream_id,
            stream_version=event.stream_version,
            workspace_id=event.workspace_id,
            type=event.type,
            schema_version=event.schema_version,
            data=msgspec.to_builtins(event.data),
            metadata=event.metadata,
            recorded_at=event.recorded_at,
        )

    @classmethod
    def from_wire(cls, wire: WireEvent) -> EventView:
        """The view of an event received from JetStream; unknown types pass through as-is."""
        try:
            return cls.from_recorded(wire.to_recorded())
        except UnknownEventType:
            return cls(
                position=wire.position,
                event_id=wire.event_id,
                stream_id=wire.stream_id,
                stream_version=wire.stream_version,
                workspace_id=wire.workspace_id,
                type=wire.type,
                schema_version=wire.schema_version,
                data=msgspec.json.decode(wire.data),
                metadata=_metadata.decode(wire.metadata),
                recorded_at=wire.recorded_at,
            )


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET /api/v1/events``: pass `next_after` as `after` to read on."""

    events: list[EventView]
    next_after: int
