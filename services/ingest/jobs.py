"""The import queue: a dramatiq actor per scan, with its broker in PostgreSQL.

Every ingest replica runs a `dramatiq.Worker` on the same queue, so replicas
share the imports (the mechanism is `shared.jobqueue.JobQueue`). A job that
fails is retried with back-off; one whose worker dies (no heartbeat for
`heartbeat_ttl` seconds) is handed to another worker by the broker's
maintenance. The import itself makes a second run a no-op (see
`services.ingest.importer`), so at-least-once delivery applies each scan
once. After the last retry the scan is recorded as failed.

Each job runs on an event loop of its own in its worker thread, with its own
connections: parsing is blocking work and must not stall other jobs or the
service's HTTP and NATS loop.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, ClassVar

import nats
import structlog

from services.ingest.importer import ingest_importer
from services.ingest.parsers import registry
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.jobqueue import JobQueue
from shared.migrations import apply_migrations
from shared.objectstore import ScanObjectStore

if TYPE_CHECKING:
    from typing import Unpack

    from services.ingest.ports import Formats
    from shared.jobqueue import QueueOptions
    from shared.settings import Settings

__all__ = ("ACTOR_NAME", "QUEUE_NAME", "ImportQueue", "import_scan")

QUEUE_NAME = "ingest"
ACTOR_NAME = "ingest_import_scan"
_MESSAGE_NAMESPACE = uuid.UUID("0b8f5a4e-8f0c-4d55-a1f6-5d3a3c7e9a11")
_log = structlog.get_logger("vigil.ingest.jobs")


async def import_scan(
    settings: Settings,
    scan_id: str,
    workspace_id: str,
    *,
    last: bool,
    formats: Formats = registry,
) -> None:
    """Run one import with connections of its own; on the `last` attempt, fail the scan on error."""
    assert settings.database_url
    assert settings.nats_url
    pool = await connect_pool(settings.database_url, min_size=1, max_size=3)
    nc = await nats.connect(settings.nats_url, name="vigil-ingest-job")
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, "ingest", "services.ingest")
        store = EventStore(pool)
        objects = ScanObjectStore(nc.jetstream(), max_bytes=settings.max_upload_bytes)
        importer = ingest_importer(pool, store, objects, formats=formats)
        try:
            await importer.run(scan_id, workspace_id)
        except Exception as exc:
            if not last:
                raise
            _log.exception("import failed for good", scan_id=scan_id)
            reason = f"The import failed after several attempts ({type(exc).__name__}); try again."
            await importer.fail(scan_id, workspace_id, reason)
    finally:
        await nc.close()
        await pool.close()


class ImportQueue(JobQueue):
    """The imports' dramatiq broker, actor and (optionally) worker, for one process.

    `options` tune retries, the time limit and fail-over (see
    `shared.jobqueue.QueueOptions`); an import may run for 30 minutes.
    """

    queue_name: ClassVar[str] = QUEUE_NAME
    actor_name: ClassVar[str] = ACTOR_NAME
    message_namespace: ClassVar[uuid.UUID] = _MESSAGE_NAMESPACE
    default_time_limit: ClassVar[float] = 1800.0

    def __init__(
        self, settings: Settings, *, formats: Formats = registry, **options: Unpack[QueueOptions]
    ) -> None:
        self.formats = formats
        super().__init__(settings, **options)

    def enqueue(self, scan_id: str, workspace_id: str) -> None:
        """Queue the import of a scan; queueing the same scan again while it runs is a no-op."""
        self.enqueue_job(scan_id, scan_id, workspace_id)

    def perform(self, *args: str, last: bool) -> None:
        """Import one scan (`args` = scan id, workspace id) on an event loop of its own."""
        scan_id, workspace_id = args
        asyncio.run(
            import_scan(self.settings, scan_id, workspace_id, last=last, formats=self.formats)
        )
