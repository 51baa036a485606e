"""The render queue: a dramatiq actor per report, with its broker in PostgreSQL.

Every reports replica runs a worker on the queue ``reports`` (see
`shared.jobqueue`); the job id derives from the report id, so a redelivered
`ReportRequested` queues nothing new. A failed attempt is retried with
back-off, a dead worker's job is handed on, and `ReportBuilder` makes any
repeat a no-op, so one report results. After the last retry the report is
recorded as failed.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, ClassVar

import nats
import structlog

from services.reports.builder import ReportBuilder
from services.reports.render import render
from shared.database import connect_pool
from shared.eventstore import EventStore
from shared.jobqueue import JobQueue
from shared.objectstore import REPORTS_BUCKET, ScanObjectStore

if TYPE_CHECKING:
    from typing import Unpack

    from services.reports.builder import Renderer
    from shared.jobqueue import QueueOptions
    from shared.settings import Settings

__all__ = ("ACTOR_NAME", "QUEUE_NAME", "ReportQueue", "render_report")

QUEUE_NAME = "reports"
ACTOR_NAME = "reports_render_report"
_MESSAGE_NAMESPACE = uuid.UUID("5f0d3c1e-7a4b-4e59-9c2d-2b8e6f1a0c77")
_log = structlog.get_logger("vigil.reports.jobs")


async def render_report(
    settings: Settings,
    report_id: str,
    workspace_id: str,
    *,
    last: bool,
    renderer: Renderer = render,
) -> None:
    """Render one report with connections of its own; on the `last` attempt, fail it on error."""
    assert settings.database_url
    assert settings.nats_url
    pool = await connect_pool(settings.database_url, min_size=1, max_size=3)
    nc = await nats.connect(settings.nats_url, name="vigil-reports-job")
    try:
        objects = ScanObjectStore(nc.jetstream(), bucket=REPORTS_BUCKET)
        builder = ReportBuilder(pool, EventStore(pool), objects, renderer=renderer)
        try:
            await builder.run(report_id)
        except Exception as exc:
            if not last:
                raise
            _log.exception("report failed for good", report_id=report_id)
            reason = f"The report could not be rendered ({type(exc).__name__}); try again."
            await builder.fail(report_id, workspace_id, reason)
    finally:
        await nc.close()
        await pool.close()


class ReportQueue(JobQueue):
    """The reports' dramatiq broker, actor and (optionally) worker, for one process.

    A rendering may take 10 minutes before its attempt is abandoned;
    `renderer` replaces the real renderers (tests slow it down).
    """

    queue_name: ClassVar[str] = QUEUE_NAME
    actor_name: ClassVar[str] = ACTOR_NAME
    message_namespace: ClassVar[uuid.UUID] = _MESSAGE_NAMESPACE
    default_time_limit: ClassVar[float] = 600.0

    def __init__(
        self, settings: Settings, *, renderer: Renderer = render, **options: Unpack[QueueOptions]
    ) -> None:
        self.renderer = renderer
        super().__init__(settings, **options)

    def enqueue(self, report_id: str, workspace_id: str) -> None:
        """Queue the rendering of a report; queueing it again while it runs is a no-op."""
        self.enqueue_job(report_id, report_id, workspace_id)

    def perform(self, *args: str, last: bool) -> None:
        """Render one report (`args` = report id, workspace id) on an event loop of its own."""
        report_id, workspace_id = args
        asyncio.run(
            render_report(self.settings, report_id, workspace_id, last=last, renderer=self.renderer)
        )
