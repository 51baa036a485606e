"""What route handlers receive by injection: the runtime's parts and the caller's metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
import uuid_utils.compat
from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from services.api.auth import principal_of
from services.api.errors import problem
from services.api.projections import WorkspacesProjection
from shared.contracts.base import EventMetadata
from shared.eventstore import EventStore
from shared.projections import ProjectionRunner
from shared.telemetry import current_traceparent

if TYPE_CHECKING:
    from shared.runtime import Runtime

__all__ = ("CORRELATION_HEADERS", "dependencies", "projections")

CORRELATION_HEADERS = ("x-correlation-id", "x-request-id")


def projections() -> list[WorkspacesProjection]:
    """The read models the gateway keeps."""
    return [WorkspacesProjection()]


def _runtime(state: State) -> Runtime:
    runtime: Runtime | None = state.get("runtime")
    if runtime is None:
        raise problem(503, "The gateway is starting or stopping; try again shortly.")
    return runtime


# Providers take the app state rather than the `Runtime` itself: Litestar would
# otherwise introspect the Runtime dataclass, whose annotations are type-only.
def _store(state: State) -> EventStore:
    return _runtime(state).store


def _pool(state: State) -> asyncpg.Pool:
    return _runtime(state).pool


def _runner(state: State) -> ProjectionRunner:
    return ProjectionRunner(_runtime(state).pool, projections())


def _metadata(request: Request[Any, Any, Any]) -> EventMetadata:
    """Who asks (the token), as part of which request, in which trace."""
    correlation = next(
        (value for name in CORRELATION_HEADERS if (value := request.headers.get(name))), None
    )
    return EventMetadata(
        correlation_id=correlation or str(uuid_utils.compat.uuid7()),
        actor=principal_of(request).actor,
        traceparent=current_traceparent(),
    )


dependencies = {
    "store": Provide(_store, sync_to_thread=False),
    "pool": Provide(_pool, sync_to_thread=False),
    "runner": Provide(_runner, sync_to_thread=False),
    "metadata": Provide(_metadata, sync_to_thread=False),
}
"""App-level dependencies, by parameter name."""
