"""Report commands and queries: what the report routes delegate to.

The read model ``reports_reports`` belongs to the reports service (see
``services/reports/README.md``); the gateway only queries it, and folds the
report's own stream when the read model does not show the report yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import msgspec
import uuid_utils.compat

from services.api.errors import problem
from services.api.report_schemas import ReportStatus, ReportView
from shared.contracts.report import (
    ReportFailed,
    ReportFilters,
    ReportGenerated,
    ReportProgressed,
    ReportRequested,
    ReportStarted,
    report_stream,
)

if TYPE_CHECKING:
    from services.api.report_schemas import RequestReport
    from shared.contracts.base import EventMetadata, RecordedEvent
    from shared.eventstore import EventStore

__all__ = (
    "generated_file",
    "get_report",
    "list_reports",
    "report_from_events",
    "report_url",
    "request_report",
)

_filters = msgspec.json.Decoder(ReportFilters)


def report_url(workspace_id: str, report_id: str) -> str:
    """Where a report's status is read (its file is at ``.../file``)."""
    return f"/api/v1/workspaces/{workspace_id}/reports/{report_id}"


async def request_report(
    store: EventStore, workspace_id: str, body: RequestReport, metadata: EventMetadata
) -> ReportRequested:
    """Record `ReportRequested` as of the current log head; the reports service renders it."""
    report_id = str(uuid_utils.compat.uuid7())
    requested = ReportRequested(
        report_id=report_id,
        workspace_id=workspace_id,
        format=body.format,
        template=body.template,
        filters=body.filters,
        title=body.title,
        position=await store.head_position(),
    )
    await store.append_to_stream(
        report_stream(report_id), workspace_id, [requested], expected_version=0, metadata=metadata
    )
    return requested


def _view(row: asyncpg.Record) -> ReportView:
    status = ReportStatus(row["status"])
    url = report_url(row["workspace_id"], row["report_id"])
    return ReportView(
        id=row["report_id"],
        workspace_id=row["workspace_id"],
        format=row["format"],
        template=row["template"],
        title=row["title"],
        filters=_filters.decode(row["filters"]),
        position=row["as_of"],
        status=status,
        attempts=row["attempts"],
        stage=row["stage"],
        percent=row["percent"],
        requested_at=row["requested_at"],
        requested_by=row["requested_by"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        findings=row["findings"],
        filename=row["filename"],
        content_type=row["content_type"],
        size=row["size"],
        sha256=row["sha256"],
        reason=row["reason"],
        url=url,
        file_url=f"{url}/file" if status is ReportStatus.GENERATED else None,
    )


def report_from_events(events: list[RecordedEvent]) -> ReportView | None:
    """A report's view folded from its own stream (None when it was never requested)."""
    view: ReportView | None = None
    for event in events:
        match event.data:
            case ReportRequested() as asked:
                view = ReportView(
                    id=asked.report_id,
                    workspace_id=asked.workspace_id,
                    format=str(asked.format),
                    template=str(asked.template),
                    title=asked.title,
                    filters=asked.filters,
                    position=asked.position,
                    status=ReportStatus.QUEUED,
                    attempts=0,
                    stage=None,
                    percent=0,
                    requested_at=event.recorded_at,
                    requested_by=event.metadata.actor,
                    url=report_url(asked.workspace_id, asked.report_id),
                )
            case ReportStarted(attempt=attempt) if view and view.finished_at is None:
                view = msgspec.structs.replace(
                    view,
                    status=ReportStatus.RENDERING,
                    attempts=attempt,
                    stage="starting",
                    percent=0,
                    started_at=event.recorded_at,
                )
            case ReportProgressed(stage=stage, percent=percent) if (
                view and view.finished_at is None
            ):
                view = msgspec.structs.replace(view, stage=stage, percent=percent)
            case ReportGenerated() as done if view:
                view = msgspec.structs.replace(
                    view,
                    status=ReportStatus.GENERATED,
                    stage="done",
                    percent=100,
                    finished_at=event.recorded_at,
                    findings=done.findings,
                    filename=done.filename,
                    content_type=done.content_type,
                    size=done.size,
                    sha256=done.sha256,
                    file_url=f"{view.url}/file",
                )
            case ReportFailed(reason=reason) if view and view.finished_at is None:
                view = msgspec.structs.replace(
                    view, status=ReportStatus.FAILED, reason=reason, finished_at=event.recorded_at
                )
    return view


async def get_report(
    pool: asyncpg.Pool, store: EventStore, workspace_id: str, report_id: str
) -> ReportView | None:
    """One report of a workspace, from the read model or, before it shows it, from the log."""
    row = None
    try:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM reports_reports WHERE workspace_id = $1 AND report_id = $2",
                workspace_id,
                report_id,
            )
    except asyncpg.UndefinedTableError:  # the reports service never ran: only the log knows
        row = None
    if row is not None and row["status"] in ("generated", "failed"):
        return _view(row)
    # Not in the read model yet, or still moving: the report's stream is short and exact.
    view = report_from_events(await store.read_stream(report_stream(report_id)))
    return view if view is not None and view.workspace_id == workspace_id else None


async def list_reports(
    pool: asyncpg.Pool, workspace_id: str, *, limit: int = 50
) -> list[ReportView]:
    """A workspace's reports, newest request first."""
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM reports_reports WHERE workspace_id = $1"
                " ORDER BY requested_at DESC, report_id DESC LIMIT $2",
                workspace_id,
                limit,
            )
    except asyncpg.UndefinedTableError:
        raise problem(
            503,
            "The reports service has not created its read model yet; start it "
            "(`vigil up` runs every service) and try again.",
        ) from None
    return [_view(row) for row in rows]


async def generated_file(store: EventStore, report_id: str) -> ReportGenerated | None:
    """Where the report's file is stored, as its `ReportGenerated` recorded (None before)."""
    for event in await store.read_stream(report_stream(report_id)):
        if isinstance(event.data, ReportGenerated):
            return event.data
    return None
