"""Composition root of the stats service: the read models behind a projection consumer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from services.stats.runner import StatsRunner, run_flusher
from shared.bus import add_projection_consumer
from shared.http import service_app
from shared.runtime import Runtime, open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("SERVICE", "create_app")

SERVICE = "stats"


def create_app(settings: Settings) -> Litestar:
    """The stats service: health, readiness and metrics over HTTP; projections behind.

    Its replicas share the durable consumer ``stats``; each also runs the
    flusher that records `StatsUpdated` the throttle held back.
    """

    async def setup(runtime: Runtime) -> None:
        add_projection_consumer(
            runtime.broker, runtime.settings, StatsRunner(runtime.pool), durable=SERVICE
        )

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Runtime]:
        async with open_runtime(
            settings, SERVICE, migrations=(SERVICE, "services.stats"), setup=setup
        ) as opened:
            stop = asyncio.Event()
            flusher = asyncio.create_task(run_flusher(opened.pool, stop), name="stats-flusher")
            try:
                yield opened
            finally:
                stop.set()
                await flusher

    return service_app(SERVICE, runtime)
