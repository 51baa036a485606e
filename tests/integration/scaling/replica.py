"""One service replica as a process of its own: `python -m tests.integration.scaling.replica KIND`.

KIND is ``ingest`` (the ingest service as `services.ingest.app` composes it,
with the test scan format and fast fail-over) or ``stats`` (the real stats
app). It serves HTTP under uvicorn on a free port, prints ``worker ready``
once started, and shuts down gracefully on SIGTERM, as `vigil serve` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator

import uvicorn
from litestar import Litestar

from services.ingest.handlers import add_upload_consumer
from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from services.stats.app import create_app as stats_app
from shared.bus import add_projection_consumer
from shared.http import service_app
from shared.projections import ProjectionRunner
from shared.runtime import Runtime, open_runtime
from shared.settings import Settings
from tests.integration.ingest.conftest import FAST_FAILOVER
from tests.integration.ingest.formats import FormatsWithFixture


def ingest_app(settings: Settings) -> Litestar:
    """`services.ingest.app.create_app`, with the test format behind the same port."""
    queues: list[ImportQueue] = []

    async def setup(runtime: Runtime) -> None:
        runner = ProjectionRunner(runtime.pool, ingest_projections())
        add_projection_consumer(runtime.broker, runtime.settings, runner, durable="ingest")
        queue = await asyncio.to_thread(
            ImportQueue, runtime.settings, formats=FormatsWithFixture(), **FAST_FAILOVER
        )
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

    return service_app("ingest", runtime)


class _Server(uvicorn.Server):
    """uvicorn without re-raising SIGTERM after its graceful shutdown (as `vigil serve`)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


async def serve(app: Litestar) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = _Server(
        uvicorn.Config(app, lifespan="on", log_config=None, access_log=False, log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not task.done():  # noqa: ASYNC110 (uvicorn exposes a flag)
        await asyncio.sleep(0.05)
    if server.started:
        print("worker ready", flush=True)
    await task


if __name__ == "__main__":
    settings = Settings.from_env()
    kind = sys.argv[1]
    asyncio.run(serve(ingest_app(settings) if kind == "ingest" else stats_app(settings)))
