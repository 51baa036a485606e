"""The use case: render one requested report from the log as of its position, exactly once.

A run reads the report's stream. A report that already has an outcome is
left alone (a redelivered or retried job is a no-op); otherwise the run
records `ReportStarted`, folds the workspace's events up to the requested
position, renders, stores the file and records `ReportGenerated`. The
outcome is appended under a per-report lock after checking that no other
run recorded one first, so however many attempts run, one outcome results.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from services.reports.domain import FOLDED_EVENT_TYPES, Findings
from services.reports.render import render
from services.reports.render.model import Baseline, build_model
from shared.contracts import (
    ReportFailed,
    ReportGenerated,
    ReportProgressed,
    ReportRequested,
    ReportStarted,
    report_stream,
)
from shared.contracts.report import REPORT_CONTENT_TYPES, REPORT_EXTENSIONS

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import asyncpg

    from services.reports.render.model import ReportModel
    from shared.contracts import Event, RecordedEvent, ReportFormat
    from shared.database import Connection
    from shared.eventstore import EventStore
    from shared.objectstore import ScanObjectStore

__all__ = ("Renderer", "ReportBuilder", "ReportMissing")

Renderer = Callable[["ReportModel", "ReportFormat"], bytes]
_BATCH = 5000
_CHUNK = 256 * 1024


class ReportMissing(LookupError):
    """No `ReportRequested` exists for the report id a job names."""


class ReportBuilder:
    """Renders reports; `renderer` is the port a test may slow down."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        objects: ScanObjectStore,
        *,
        renderer: Renderer = render,
        progress_interval: float = 1.0,
    ) -> None:
        self._pool = pool
        self._store = store
        self._objects = objects
        self._render = renderer
        self._progress_interval = progress_interval

    async def run(self, report_id: str) -> None:
        """Render the report unless it already has an outcome.

        Raises:
            ReportMissing: the report was never requested.
        """
        history = await self._store.read_stream(report_stream(report_id))
        request = next((e for e in history if isinstance(e.data, ReportRequested)), None)
        if request is None or not isinstance(request.data, ReportRequested):
            raise ReportMissing(f"no report {report_id!r} was requested")
        if _outcome(history):
            return
        asked = request.data
        attempt = 1 + sum(isinstance(e.data, ReportStarted) for e in history)
        await self._record(
            asked,
            ReportStarted(report_id=report_id, workspace_id=asked.workspace_id, attempt=attempt),
        )
        model, content = await self.build(asked, request.recorded_at, record_progress=True)
        await self._progress(asked, "storing", 90)
        extension = REPORT_EXTENSIONS[asked.format]
        object_name = f"{asked.workspace_id}/{report_id}.{extension}"
        stored = await self._objects.put(object_name, _chunks(content))
        await self._finish(
            asked,
            ReportGenerated(
                report_id=report_id,
                workspace_id=asked.workspace_id,
                object_name=object_name,
                filename=f"{asked.workspace_id}-{asked.template}-{report_id}.{extension}",
                content_type=REPORT_CONTENT_TYPES[asked.format],
                size=stored.size,
                sha256=stored.sha256,
                position=asked.position,
                findings=model.total,
            ),
        )

    async def build(
        self, asked: ReportRequested, requested_at: dt.datetime, *, record_progress: bool = False
    ) -> tuple[ReportModel, bytes]:
        """The report's model and file, from the log up to the requested position.

        Only the log up to `asked.position` and the request itself go in, so
        building the same request again gives the same bytes.
        """
        findings, baseline = await self._fold(asked, record_progress=record_progress)
        model = build_model(asked, requested_at, findings, baseline)
        if record_progress:
            await self._progress(asked, "rendering", 60)
        content = await asyncio.to_thread(self._render, model, asked.format)
        return model, content

    async def fail(self, report_id: str, workspace_id: str, reason: str) -> None:
        """Record that the report could not be rendered (unless it has an outcome already)."""
        failed = ReportFailed(report_id=report_id, workspace_id=workspace_id, reason=reason)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, report_id)
            if not _outcome(await self._store.read_stream(report_stream(report_id))):
                await self._store.append_to_stream(
                    report_stream(report_id), workspace_id, [failed], conn=conn
                )

    async def _finish(self, asked: ReportRequested, outcome: Event) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, asked.report_id)
            if not _outcome(await self._store.read_stream(report_stream(asked.report_id))):
                await self._store.append_to_stream(
                    report_stream(asked.report_id), asked.workspace_id, [outcome], conn=conn
                )

    @staticmethod
    async def _lock(conn: Connection, report_id: str) -> None:
        # Serialises the outcome of one report across workers; held until commit.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", report_stream(report_id)
        )

    async def _record(self, asked: ReportRequested, event: Event) -> None:
        await self._store.append_to_stream(
            report_stream(asked.report_id), asked.workspace_id, [event]
        )

    async def _progress(self, asked: ReportRequested, stage: str, percent: int) -> None:
        await self._record(
            asked,
            ReportProgressed(
                report_id=asked.report_id,
                workspace_id=asked.workspace_id,
                stage=stage,
                percent=percent,
            ),
        )

    async def _baseline_request(self, asked: ReportRequested) -> RecordedEvent | None:
        """The latest earlier request of the same workspace and template, as of the position."""
        earlier = await self._store.read_all(
            workspace_id=asked.workspace_id,
            types=[ReportRequested.type_name()],
            up_to=asked.position,
            limit=1_000_000,
        )
        candidates = [
            e
            for e in earlier
            if isinstance(e.data, ReportRequested)
            and e.data.template == asked.template
            and e.data.report_id != asked.report_id
        ]
        return candidates[-1] if candidates else None

    async def _fold(
        self, asked: ReportRequested, *, record_progress: bool
    ) -> tuple[Findings, Baseline | None]:
        """Fold the workspace's events up to the requested position, noting the baseline."""
        previous = await self._baseline_request(asked)
        baseline_at = (
            previous.data.position
            if previous and isinstance(previous.data, ReportRequested)
            else None
        )
        baseline: Baseline | None = None
        total = await self._count(asked)
        findings = Findings()
        done, last_note = 0, time.monotonic()
        async for batch in self._batches(asked):
            for event in batch:
                if baseline_at is not None and baseline is None and event.position > baseline_at:
                    baseline = _baseline(previous, findings, asked)
                findings.apply(event.data)
            done += len(batch)
            if record_progress and time.monotonic() - last_note >= self._progress_interval:
                last_note = time.monotonic()
                await self._progress(asked, "reading", 5 + 50 * done // max(total, 1))
        if baseline_at is not None and baseline is None:
            baseline = _baseline(previous, findings, asked)
        return findings, baseline

    async def _batches(self, asked: ReportRequested) -> AsyncIterator[list[RecordedEvent]]:
        after = 0
        while True:
            batch = await self._store.read_all(
                after=after,
                limit=_BATCH,
                workspace_id=asked.workspace_id,
                types=FOLDED_EVENT_TYPES,
                up_to=asked.position,
            )
            if not batch:
                return
            yield batch
            after = batch[-1].position

    async def _count(self, asked: ReportRequested) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM events WHERE workspace_id = $1 AND position <= $2"
                " AND event_type = ANY($3::text[])",
                asked.workspace_id,
                asked.position,
                list(FOLDED_EVENT_TYPES),
            )
        return count


def _baseline(
    previous: RecordedEvent | None, findings: Findings, asked: ReportRequested
) -> Baseline | None:
    if previous is None or not isinstance(previous.data, ReportRequested):
        return None
    return Baseline(
        report_id=previous.data.report_id,
        position=previous.data.position,
        requested_at=previous.recorded_at.astimezone(dt.UTC).isoformat(),
        open_by_severity=findings.open_by_severity(asked.filters),
    )


def _outcome(history: list[RecordedEvent]) -> bool:
    return any(isinstance(e.data, ReportGenerated | ReportFailed) for e in history)


async def _chunks(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), _CHUNK):
        yield content[start : start + _CHUNK]
