"""What every vigil service process holds: servers, pool, broker, store, telemetry.

`open_runtime` is the one way a service starts: it finds the servers (the
``VIGIL_*`` URLs or the embedded ones of this folder), applies migrations,
lets the service register its subscribers, declares the events stream,
starts consuming, and on exit drains the subscriptions before closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from shared.bus import make_broker
from shared.database import connect_pool
from shared.embedded import find_running
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.relay import Relay, ensure_stream
from shared.telemetry import configure_logging, configure_tracing

if TYPE_CHECKING:
    import asyncpg
    from faststream.nats import NatsBroker
    from nats.js import JetStreamContext
    from opentelemetry.sdk.trace import TracerProvider

    from shared.settings import Settings

__all__ = ("NoServersError", "Runtime", "open_runtime", "resolve_servers")

_log = structlog.get_logger("vigil.runtime")


class NoServersError(RuntimeError):
    """Neither ``VIGIL_*`` URLs nor running embedded servers were found."""


def resolve_servers(settings: Settings) -> Settings:
    """Settings with both server URLs filled: from the environment or this folder's `vigil up`."""
    if settings.nats_url and settings.database_url:
        return settings
    running = find_running(settings.state_dir)
    if running is None:
        raise NoServersError(
            f"No running vigil servers found under {settings.state_dir}/ and "
            "VIGIL_NATS_URL / VIGIL_DATABASE_URL are not both set. "
            "Start the platform with `make run` (or `vigil up`) in this folder, "
            "or point vigil at your servers with those variables."
        )
    return settings.with_servers(
        settings.nats_url or running.nats_url, settings.database_url or running.database_url
    )


@dataclasses.dataclass(kw_only=True)
class Runtime:
    """The live resources of one service process."""

    service: str
    settings: Settings
    pool: asyncpg.Pool
    broker: NatsBroker
    tracer_provider: TracerProvider
    store: EventStore

    @property
    def js(self) -> JetStreamContext:
        """The broker's JetStream context (valid once connected)."""
        js: JetStreamContext = self.broker.config.connection_state.stream
        return js


Setup = Callable[[Runtime], Awaitable[None]]


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    service: str,
    *,
    migrations: tuple[str, str] | None = None,
    setup: Setup | None = None,
    configure_logs: bool = True,
    relay: bool = True,
) -> AsyncIterator[Runtime]:
    """Start a service's resources; `setup` registers its subscribers before consuming starts.

    `migrations` names the service's schema component and package, e.g.
    ``("ingest", "services.ingest")``. With `relay`, the process also stands
    as a relay candidate: whichever process holds the relay lock publishes
    the log, so the log keeps flowing while any service runs.
    """
    settings = resolve_servers(settings)
    assert settings.database_url
    assert settings.nats_url
    if configure_logs:
        configure_logging(settings)
    tracer_provider = configure_tracing(settings, service)
    pool = await connect_pool(settings.database_url)
    try:
        if migrations:
            async with pool.acquire() as conn:
                await apply_migrations(conn, *migrations)
        broker = make_broker(settings, service, tracer_provider)
        runtime = Runtime(
            service=service,
            settings=settings,
            pool=pool,
            broker=broker,
            tracer_provider=tracer_provider,
            store=EventStore(pool),
        )
        if setup:
            await setup(runtime)
        await broker.connect()
        await ensure_stream(runtime.js, settings)
        stop = asyncio.Event()
        relay_task = (
            asyncio.create_task(Relay(settings, runtime.js).run(stop), name="relay")
            if relay
            else None
        )
        await broker.start()
        _log.info("service started", service=service)
        try:
            yield runtime
        finally:
            stop.set()
            if relay_task:
                await relay_task
            await broker.stop()
    finally:
        await pool.close()
        tracer_provider.shutdown()
