"""Composition root of the gateway: settings in, a Litestar app out.

The app opens the service runtime (servers, pool, broker, relay) in its
lifespan; `setup` registers the workspaces projection consumer and this
replica's live feed before the broker starts consuming.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Literal

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.logging.config import LoggingConfig, StructLoggingConfig
from litestar.middleware.logging import LoggingMiddlewareConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin

from services.api.auth import AuthPlugin
from services.api.dependencies import dependencies, projections
from services.api.errors import exception_handlers
from services.api.live import LiveFeed
from services.api.routes import route_handlers
from shared.bus import add_projection_consumer
from shared.http import service_app
from shared.projections import ProjectionRunner
from shared.runtime import open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from shared.runtime import Runtime
    from shared.settings import Settings

__all__ = ("create_app",)

SERVICE = "api"
_RESPONSE_LOG_FIELDS: tuple[Literal["status_code"]] = ("status_code",)


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="vigil",
        version="0.1.0",
        description="Event-sourced vulnerability management: the gateway's REST and WebSocket API.",
        path="/schema",
        security=[{"bearer": []}],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API token (vgl_...) issued with `vigil token create`.",
                )
            }
        ),
    )


def _structlog() -> StructlogPlugin:
    # Request logs only: the runtime's `configure_logging` owns the renderers and handlers.
    return StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(
                standard_lib_logging_config=LoggingConfig(
                    configure_root_logger=False, loggers={}, log_exceptions="never"
                ),
                log_exceptions="never",
            ),
            middleware_logging_config=LoggingMiddlewareConfig(
                request_log_fields=("path", "method", "query"),
                response_log_fields=_RESPONSE_LOG_FIELDS,
            ),
        )
    )


def create_app(settings: Settings) -> Litestar:
    """The gateway as an ASGI app, with its own runtime opened for its lifetime."""
    channels = ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    live_feed = LiveFeed(channels)

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable=SERVICE)

    @contextlib.asynccontextmanager
    async def runtime_factory() -> AsyncIterator[Runtime]:
        migrations = (SERVICE, "services.api")
        async with open_runtime(settings, SERVICE, migrations=migrations, setup=setup) as runtime:
            subscription = await live_feed.start(runtime.js, runtime.settings)
            try:
                yield runtime
            finally:
                await subscription.unsubscribe()

    return service_app(
        SERVICE,
        runtime_factory,
        route_handlers=route_handlers,
        plugins=[AuthPlugin(), channels, _structlog()],
        openapi_config=_openapi(),
        dependencies=dependencies,
        exception_handlers=exception_handlers,
    )
