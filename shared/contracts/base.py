"""The event base class, the envelope every stored event travels in, and the type registry.

Events are immutable facts. Each concrete event names its bounded context
(which becomes a token of its NATS subject) and its schema version; stored
events written under an older version are upcast when read, never rewritten.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import msgspec
import uuid_utils.compat

__all__ = (
    "Event",
    "EventMetadata",
    "RecordedEvent",
    "UnknownEventType",
    "decode_event",
    "event_class",
    "new_event_id",
    "register",
    "registered_types",
    "upcaster",
)

E = TypeVar("E", bound="Event")
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Base of every vigil event: a frozen, tagged struct.

    Subclasses set ``tag=`` to a stable type name, a ``context`` (workspace,
    scan, asset, finding, report, trigger, ...) and, when their shape changes
    incompatibly, a higher ``schema_version`` together with an upcaster.
    """

    context: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def type_name(cls) -> str:
        """The stable name this event is stored and published under."""
        return str(cls.__struct_config__.tag)


class EventMetadata(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """Who caused an event, as part of which request, and in which trace."""

    correlation_id: str | None = None
    causation_id: str | None = None
    actor: str | None = None
    traceparent: str | None = None


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An event as the log holds it: the fact plus where and when it was recorded."""

    position: int
    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    workspace_id: str
    type: str
    schema_version: int
    data: Event
    metadata: EventMetadata
    recorded_at: dt.datetime

    @property
    def context(self) -> str:
        """The bounded context of the event (a token of its NATS subject)."""
        return self.data.context


class UnknownEventType(LookupError):
    """The log holds an event type that this version of vigil does not know."""


_TYPES: dict[str, type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}


def register(cls: type[E]) -> type[E]:
    """Class decorator: make an event type known to the log reader and the relay."""
    name = cls.type_name()
    if name in _TYPES and _TYPES[name] is not cls:
        raise ValueError(f"event type {name!r} registered twice")
    _TYPES[name] = cls
    _DECODERS[name] = msgspec.json.Decoder(cls)
    return cls


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorator: register a function turning version `from_version` data into the next version."""

    def decorate(function: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = function
        return function

    return decorate


def event_class(type_name: str) -> type[Event]:
    """The registered class for `type_name`."""
    try:
        return _TYPES[type_name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {type_name!r}") from None


def registered_types() -> dict[str, type[Event]]:
    """Every registered event type by name (a copy)."""
    return dict(_TYPES)


def decode_event(type_name: str, schema_version: int, data: bytes) -> Event:
    """Decode stored event data, upcasting it first when it was written by an older schema."""
    cls = event_class(type_name)
    if schema_version == cls.schema_version:
        event: Event = _DECODERS[type_name].decode(data)
        return event
    raw: dict[str, Any] = msgspec.json.decode(data)
    for version in range(schema_version, cls.schema_version):
        try:
            raw = _UPCASTERS[(type_name, version)](raw)
        except KeyError:
            raise UnknownEventType(
                f"no upcaster for {type_name} from schema version {version}"
            ) from None
    return msgspec.convert(raw, cls)


def new_event_id() -> uuid.UUID:
    """A fresh UUIDv7: time-ordered, so ids sort roughly by creation."""
    return uuid_utils.compat.uuid7()
