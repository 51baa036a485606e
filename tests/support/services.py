"""Real services in the test's event loop: an app under uvicorn, and the ingest service.

`running_ingest` composes the ingest service exactly as
``services.ingest.app.create_app`` does (projection consumer, upload
consumer, dramatiq worker) but with the test scan format added at its
`Formats` port, so imports succeed whichever parsers the registry holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from services.ingest.handlers import add_upload_consumer
from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from shared.bus import add_projection_consumer
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from tests.integration.ingest.formats import FormatsWithFixture

_QUICK_RETRIES = {"poll_interval": 0.2, "min_backoff": 0.2, "max_backoff": 1.0}


@contextlib.asynccontextmanager
async def serve_app(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app on a free loopback port until exit; yields its base URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=url) as client:
            while True:
                assert not task.done(), "uvicorn stopped before it started serving"
                with contextlib.suppress(httpx.TransportError):
                    if server.started and (await client.get("/health")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the app did not become healthy in 60 s"
                await asyncio.sleep(0.05)
        yield url
    finally:
        server.should_exit = True
        await task
        listener.close()


@contextlib.asynccontextmanager
async def running_ingest(settings: Settings) -> AsyncIterator[None]:
    """The ingest service, consuming uploads and importing them, until exit."""
    queues: list[ImportQueue] = []

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, ingest_projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable="ingest")
        queue = await asyncio.to_thread(
            ImportQueue, runtime.settings, formats=FormatsWithFixture(), **_QUICK_RETRIES
        )
        queues.append(queue)
        add_upload_consumer(runtime.broker, runtime.settings, queue)

    async with open_runtime(
        settings,
        "ingest",
        migrations=("ingest", "services.ingest"),
        setup=setup,
        configure_logs=False,
    ):
        for queue in queues:
            queue.start_worker()
        try:
            yield
        finally:
            for queue in queues:
                await asyncio.to_thread(queue.close)
