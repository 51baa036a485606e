"""Composition of a service whose work runs as dramatiq jobs (ingest, reports).

Such a service keeps its read models from the events stream, turns certain
events into jobs through a durable consumer, and runs the job worker inside
its own process for as long as the runtime is open.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, TypeVar

from shared.bus import add_projection_consumer
from shared.http import service_app
from shared.jobqueue import JobQueue
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from faststream.nats import NatsBroker
    from litestar import Litestar

    from shared.projections import Projection
    from shared.settings import Settings

__all__ = ("job_service_app",)

Q = TypeVar("Q", bound=JobQueue)


def job_service_app(
    service: str,
    settings: Settings,
    *,
    projections: Callable[[], Iterable[Projection]],
    make_queue: Callable[[Settings], Q],
    add_job_consumer: Callable[[NatsBroker, Settings, Q], None],
) -> Litestar:
    """Health, readiness and metrics over HTTP; projections, job consumer and worker behind.

    The service's migrations live in the package ``services.<service>``.
    """
    queues: list[Q] = []

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable=service)
        queue = await asyncio.to_thread(make_queue, runtime.settings)
        queues.append(queue)
        add_job_consumer(runtime.broker, runtime.settings, queue)

    @contextlib.asynccontextmanager
    async def runtime() -> AsyncIterator[Runtime]:
        migrations = (service, f"services.{service}")
        async with open_runtime(settings, service, migrations=migrations, setup=setup) as opened:
            for queue in queues:
                queue.start_worker()
            try:
                yield opened
            finally:
                for queue in queues:
                    await asyncio.to_thread(queue.close)
                queues.clear()

    return service_app(service, runtime)
