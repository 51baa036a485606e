"""The import queue: a dramatiq actor per scan, with its broker in PostgreSQL.

Every ingest replica runs a `dramatiq.Worker` on the same queue, so replicas
share the imports. A job that fails is retried with back-off; one whose
worker dies (no heartbeat for `heartbeat_ttl` seconds) is handed to another
worker by the broker's maintenance. The import itself makes a second run a
no-op (see `services.ingest.importer`), so at-least-once delivery applies
each scan once. After the last retry the scan is recorded as failed.

Each job runs on an event loop of its own in its worker thread, with its own
connections: parsing is blocking work and must not stall other jobs or the
service's HTTP and NATS loop.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import dramatiq
import nats
import psycopg
import structlog
from dramatiq.middleware import CurrentMessage
from dramatiq_postgres import PostgresBroker
from dramatiq_postgres import init as init_queue_schema
from dramatiq_postgres.utils import tidy4json, transaction
from psycopg.types.json import Json

from services.ingest.importer import Importer
from services.ingest.parsers import registry
from services.ingest.projections import ingest_projections
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.objectstore import ScanObjectStore
from shared.projections import ProjectionRunner

if TYPE_CHECKING:
    from dramatiq import Message

    from services.ingest.ports import Formats
    from shared.settings import Settings

__all__ = ("ACTOR_NAME", "QUEUE_NAME", "ImportQueue", "import_scan")

QUEUE_NAME = "ingest"
ACTOR_NAME = "ingest_import_scan"
_MESSAGE_NAMESPACE = uuid.UUID("0b8f5a4e-8f0c-4d55-a1f6-5d3a3c7e9a11")
_log = structlog.get_logger("vigil.ingest.jobs")

# Enqueue a message unless the same message is being worked on right now in the same
# queue: a redelivered ScanUploaded must not restart a running import, while the
# broker's own moves (retry into the delay queue, delay queue back into the queue)
# still go through.
_ENQUEUE = """
WITH enqueued AS (
    INSERT INTO dramatiq.queue AS q (queue_name, message_id, "state", message, available_at)
    VALUES (%s, %s, 'queued', %s, NOW() + make_interval(secs => %s / 1000.0))
    ON CONFLICT (message_id) DO UPDATE SET
        "state" = 'queued', message = EXCLUDED.message, queue_name = EXCLUDED.queue_name,
        available_at = EXCLUDED.available_at, worker_id = NULL, consumed_at = NULL,
        mtime = NOW()
    WHERE NOT (q."state" = 'consumed' AND q.queue_name = EXCLUDED.queue_name)
    RETURNING queue_name
)
SELECT pg_notify('dramatiq.' || queue_name || '.enqueue', '') FROM enqueued
"""


class _ImportBroker(PostgresBroker):  # type: ignore[misc]
    """The PostgreSQL broker with an enqueue that never restarts a running job."""

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        self.emit_before("enqueue", message, delay)
        if delay:
            message = message.copy(queue_name=dramatiq.common.dq_name(message.queue_name))
            message.options["eta"] = dramatiq.common.current_millis() + delay
        with transaction(self.pool) as curs:
            curs.execute(
                _ENQUEUE,
                (message.queue_name, message.message_id, Json(tidy4json(message)), delay or 0),
            )
        self.emit_after("enqueue", message, delay)
        return message


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
        runner = ProjectionRunner(pool, ingest_projections())
        importer = Importer(pool, store, objects, runner, formats=formats)
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


class ImportQueue:
    """The imports' dramatiq broker, actor and (optionally) worker, for one process.

    The heartbeat, maintenance and poll intervals (seconds) decide how soon
    the job of a dead worker is handed to another one: within about
    `heartbeat_ttl` plus `maintenance_interval`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        formats: Formats = registry,
        worker_threads: int = 2,
        max_retries: int = 5,
        time_limit: float = 1800.0,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        heartbeat_interval: float = 15.0,
        heartbeat_ttl: float = 60.0,
        maintenance_interval: float = 30.0,
        poll_interval: float = 1.0,
    ) -> None:
        assert settings.database_url
        self.settings = settings
        self.formats = formats
        self.max_retries = max_retries
        self._worker_threads = worker_threads
        with psycopg.connect(settings.database_url) as conn, conn.cursor() as curs:
            init_queue_schema(curs)
        self.broker = _ImportBroker(
            url=settings.database_url,
            results=False,
            heartbeat_interval=heartbeat_interval,
            heartbeat_ttl=heartbeat_ttl,
            maintenance_interval=maintenance_interval,
            poll_interval=poll_interval,
        )
        self.broker.add_middleware(CurrentMessage())
        self.actor: dramatiq.Actor[[str, str], None] = dramatiq.actor(
            broker=self.broker,
            actor_name=ACTOR_NAME,
            queue_name=QUEUE_NAME,
            max_retries=max_retries,
            time_limit=int(time_limit * 1000),
            min_backoff=int(min_backoff * 1000),
            max_backoff=int(max_backoff * 1000),
        )(self._perform)
        self._worker: dramatiq.Worker | None = None

    def enqueue(self, scan_id: str, workspace_id: str) -> None:
        """Queue the import of a scan; queueing the same scan again while it runs is a no-op."""
        message = self.actor.message_with_options(args=(scan_id, workspace_id))
        message = message.copy(message_id=str(uuid.uuid5(_MESSAGE_NAMESPACE, scan_id)))
        self.broker.enqueue(message)

    def _perform(self, scan_id: str, workspace_id: str) -> None:
        current = CurrentMessage.get_current_message()
        retries = current.options.get("retries", 0) if current is not None else 0
        last = retries >= self.max_retries
        asyncio.run(
            import_scan(self.settings, scan_id, workspace_id, last=last, formats=self.formats)
        )

    def start_worker(self) -> None:
        """Start consuming imports in this process's worker threads."""
        if self._worker is None:
            self._worker = dramatiq.Worker(
                self.broker, queues={QUEUE_NAME}, worker_threads=self._worker_threads
            )
            # Claim no more imports than there are threads, so idle replicas get the rest.
            self._worker.queue_prefetch = self._worker_threads
            self._worker.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker (unfinished jobs go back to the queue or to another worker)."""
        if self._worker is not None:
            self._worker.stop(timeout=int(timeout * 1000))
            self._worker = None
        self.broker.close()
