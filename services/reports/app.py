"""Composition root of the reports service: its read model, the request consumer, the renderer."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from services.reports.handlers import add_request_consumer
from services.reports.jobs import ReportQueue
from services.reports.projections import reports_projections
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
    """The reports service: health, readiness and metrics over HTTP; the work happens behind."""
    queues: list[ReportQueue] = []

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, reports_projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable="reports")
        queue = await asyncio.to_thread(ReportQueue, runtime.settings)
        queues.append(queue)
        add_request_consumer(runtime.broker, runtime.settings, queue)

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Runtime]:
        async with open_runtime(
            settings, "reports", migrations=("reports", "services.reports"), setup=setup
        ) as opened:
            for queue in queues:
                queue.start_worker()
            try:
                yield opened
            finally:
                for queue in queues:
                    await asyncio.to_thread(queue.close)
                queues.clear()

    return service_app("reports", runtime)
