"""The ingest service's consumers: uploaded scans become import jobs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.bus import durable_subscriber
from shared.contracts import ScanUploaded
from shared.wire import decode_wire

if TYPE_CHECKING:
    from faststream.nats import NatsBroker

    from services.ingest.jobs import ImportQueue
    from shared.settings import Settings

__all__ = ("JOBS_DURABLE", "add_upload_consumer")

JOBS_DURABLE = "ingest-jobs"


def add_upload_consumer(broker: NatsBroker, settings: Settings, queue: ImportQueue) -> None:
    """Queue an import for every `ScanUploaded`, under the durable consumer ``ingest-jobs``.

    The message is acknowledged only once the job is queued in PostgreSQL;
    a redelivery queues the same job id again, which changes nothing.
    """

    @durable_subscriber(
        broker,
        settings,
        f"{settings.subject_prefix}.*.scan.{ScanUploaded.type_name()}",
        JOBS_DURABLE,
        title="ingest import jobs",
        description="Queues the import of each uploaded scan.",
    )
    async def queue_import(body: bytes) -> None:
        uploaded = decode_wire(body).to_recorded().data
        if isinstance(uploaded, ScanUploaded):
            await asyncio.to_thread(queue.enqueue, uploaded.scan_id, uploaded.workspace_id)
