"""How a recorded event travels on NATS: subject, headers and body.

The relay builds messages straight from log rows without decoding the event
data; consumers decode the envelope and then the typed event.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from shared.contracts.base import (
    EventMetadata,
    RecordedEvent,
    UnknownEventType,
    decode_event,
    event_class,
)

__all__ = (
    "CORRELATION_HEADER",
    "MSG_ID_HEADER",
    "POSITION_HEADER",
    "TRACEPARENT_HEADER",
    "WireEvent",
    "context_of",
    "decode_wire",
    "event_subject",
    "position_of",
)

MSG_ID_HEADER = "Nats-Msg-Id"
POSITION_HEADER = "Vigil-Position"
TRACEPARENT_HEADER = "traceparent"
CORRELATION_HEADER = "correlation_id"


class WireEvent(msgspec.Struct, frozen=True):
    """The body of an event message: the log row, with data and metadata as raw JSON.

    Fields are in the order of the ``events`` columns.
    """

    position: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    workspace_id: str
    type: str
    schema_version: int
    data: msgspec.Raw
    metadata: msgspec.Raw
    recorded_at: dt.datetime

    def to_recorded(self) -> RecordedEvent:
        """Decode the typed event (upcasting old schema versions)."""
        return RecordedEvent(
            position=self.position,
            event_id=self.event_id,
            stream_id=self.stream_id,
            stream_version=self.stream_version,
            workspace_id=self.workspace_id,
            type=self.type,
            schema_version=self.schema_version,
            data=decode_event(self.type, self.schema_version, bytes(self.data)),
            metadata=_metadata.decode(self.metadata),
            recorded_at=self.recorded_at,
        )


_metadata = msgspec.json.Decoder(EventMetadata)
_wire = msgspec.json.Decoder(WireEvent)


def decode_wire(body: bytes) -> WireEvent:
    """Decode a message body published by the relay."""
    return _wire.decode(body)


def context_of(type_name: str) -> str:
    """The context token of an event type; ``unknown`` for types this version lacks."""
    try:
        return event_class(type_name).context
    except UnknownEventType:
        return "unknown"


def position_of(headers: dict[str, str] | None) -> int:
    """The log position a message's headers carry (0 for a message the relay did not write)."""
    return int((headers or {}).get(POSITION_HEADER, 0))


def event_subject(prefix: str, workspace_id: str, type_name: str) -> str:
    """``<prefix>.<workspace>.<context>.<EventType>``: filterable by wildcard at every level."""
    return f"{prefix}.{workspace_id}.{context_of(type_name)}.{type_name}"
