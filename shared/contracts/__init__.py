"""Event contracts shared by every service: one module per bounded context."""

from shared.contracts.base import (
    Event,
    EventMetadata,
    RecordedEvent,
    UnknownEventType,
    decode_event,
    event_class,
    new_event_id,
    register,
    registered_types,
    upcaster,
)
from shared.contracts.workspace import WorkspaceCreated

__all__ = (
    "Event",
    "EventMetadata",
    "RecordedEvent",
    "UnknownEventType",
    "WorkspaceCreated",
    "decode_event",
    "event_class",
    "new_event_id",
    "register",
    "registered_types",
    "upcaster",
)
