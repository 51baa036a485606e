"""The reports service's consumers: requested reports become render jobs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.bus import durable_subscriber
from shared.contracts import ReportRequested
from shared.wire import decode_wire

if TYPE_CHECKING:
    from faststream.nats import NatsBroker

    from services.reports.jobs import ReportQueue
    from shared.settings import Settings

__all__ = ("JOBS_DURABLE", "add_request_consumer")

JOBS_DURABLE = "reports-jobs"


def add_request_consumer(broker: NatsBroker, settings: Settings, queue: ReportQueue) -> None:
    """Queue a render job for every `ReportRequested`, under the durable ``reports-jobs``.

    The message is acknowledged only once the job is queued in PostgreSQL; a
    redelivery queues the same job id again, which changes nothing.
    """

    @durable_subscriber(
        broker,
        settings,
        f"{settings.subject_prefix}.*.report.{ReportRequested.type_name()}",
        JOBS_DURABLE,
        title="reports render jobs",
        description="Queues the rendering of each requested report.",
    )
    async def queue_report(body: bytes) -> None:
        requested = decode_wire(body).to_recorded().data
        if isinstance(requested, ReportRequested):
            await asyncio.to_thread(queue.enqueue, requested.report_id, requested.workspace_id)
