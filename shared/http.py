"""The HTTP face every service shares: health, readiness, metrics, tracing, problem details."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from litestar import Litestar, get
from litestar.enums import ScopeType
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

if TYPE_CHECKING:
    from litestar.datastructures import State
    from litestar.types import ControllerRouterHandler

    from shared.runtime import Runtime

__all__ = ("RuntimeFactory", "service_app")

RuntimeFactory = Callable[[], contextlib.AbstractAsyncContextManager["Runtime"]]


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


@get("/ready", include_in_schema=False)
async def ready(state: State) -> Response[dict[str, Any]]:
    """Readiness: PostgreSQL answers and the NATS connection is up."""
    runtime: Runtime | None = state.get("runtime")
    checks = {"database": False, "nats": False}
    if runtime is not None:
        with contextlib.suppress(Exception):
            async with runtime.pool.acquire(timeout=2) as conn:
                checks["database"] = await conn.fetchval("SELECT true")
        connection = runtime.broker.config.connection_state.connection
        checks["nats"] = bool(connection and connection.is_connected)
    ok = all(checks.values())
    return Response(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
    )


def service_app(
    service: str,
    runtime_factory: RuntimeFactory,
    *,
    route_handlers: Sequence[ControllerRouterHandler] = (),
    plugins: Sequence[Any] = (),
    **options: Any,
) -> Litestar:
    """A Litestar app serving `route_handlers` plus /health, /ready and /metrics.

    The app's lifespan opens the service's runtime (servers, pool, broker)
    and keeps it in ``app.state.runtime`` for handlers and readiness checks.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with runtime_factory() as runtime:
            app.state.runtime = runtime
            try:
                yield
            finally:
                app.state.runtime = None

    # HTTP requests only: on a WebSocket both middlewares would wrap every frame sent.
    prometheus = PrometheusConfig(
        app_name=f"vigil-{service}",
        prefix="vigil_http",
        group_path=True,
        scopes={ScopeType.HTTP},
    )
    return Litestar(
        route_handlers=[health, ready, PrometheusController, *route_handlers],
        lifespan=[lifespan],
        middleware=[prometheus.middleware],
        plugins=[
            OpenTelemetryPlugin(
                OpenTelemetryConfig(
                    exclude=["/health", "/ready", "/metrics"], scopes={ScopeType.HTTP}
                )
            ),
            ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True)),
            *plugins,
        ],
        **options,
    )
