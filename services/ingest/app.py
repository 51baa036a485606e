"""Composition root of the ingest service: read models, the upload consumer, the import worker."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from services.ingest.handlers import add_upload_consumer
from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from shared.bus import add_projection_consumer
from shared.http import service_app
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

    from shared.settings import Settings

__all__ = ("create_app",)


def create_app(settings: Settings) -> Litestar:
    """The ingest service: health, readiness and metrics over HTTP; the work happens behind."""
    queues: list[ImportQueue] = []

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, ingest_projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable="ingest")
        queue = await asyncio.to_thread(ImportQueue, runtime.settings)
        queues.append(queue)
        add_upload_consumer(runtime.broker, runtime.settings, queue)

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Runtime]:
        async with open_runtime(
            settings, "ingest", migrations=("ingest", "services.ingest"), setup=setup
        ) as opened:
            for queue in queues:
                queue.start_worker()
            try:
                yield opened
            finally:
                for queue in queues:
                    await asyncio.to_thread(queue.close)
                queues.clear()

    return service_app("ingest", runtime)
