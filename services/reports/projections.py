"""The read model the reports service owns: one row per report, its status and its file."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from shared.contracts import (
    ReportFailed,
    ReportGenerated,
    ReportProgressed,
    ReportRequested,
    ReportStarted,
)
from shared.projections import Projection

if TYPE_CHECKING:
    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("ReportsProjection", "reports_projections")

_encode = msgspec.json.Encoder().encode


class ReportsProjection(Projection):
    """``reports_reports``: queued, rendering (with stage and percent), generated or failed."""

    name: ClassVar[str] = "reports.reports"
    event_types: ClassVar[frozenset[str]] = frozenset(
        t.type_name()
        for t in (ReportRequested, ReportStarted, ReportProgressed, ReportGenerated, ReportFailed)
    )
    tables: ClassVar[tuple[str, ...]] = ("reports_reports",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Move the report's row along its lifecycle; a finished report stays finished."""
        match event.data:
            case ReportRequested() as asked:
                await conn.execute(
                    "INSERT INTO reports_reports (report_id, workspace_id, format, template, title,"
                    " filters, as_of, status, requested_at, requested_by, position)"
                    " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, 'queued', $8, $9, $10)"
                    " ON CONFLICT (report_id) DO NOTHING",
                    asked.report_id,
                    asked.workspace_id,
                    str(asked.format),
                    str(asked.template),
                    asked.title,
                    _encode(asked.filters).decode(),
                    asked.position,
                    event.recorded_at,
                    event.metadata.actor,
                    event.position,
                )
            case ReportStarted(report_id=report_id, attempt=attempt):
                await conn.execute(
                    "UPDATE reports_reports SET status = 'rendering', attempts = $2,"
                    " started_at = $3, stage = 'starting', percent = 0, position = $4"
                    " WHERE report_id = $1 AND status IN ('queued', 'rendering')",
                    report_id,
                    attempt,
                    event.recorded_at,
                    event.position,
                )
            case ReportProgressed(report_id=report_id, stage=stage, percent=percent):
                await conn.execute(
                    "UPDATE reports_reports SET stage = $2, percent = $3, position = $4"
                    " WHERE report_id = $1 AND status = 'rendering'",
                    report_id,
                    stage,
                    percent,
                    event.position,
                )
            case ReportGenerated() as done:
                await conn.execute(
                    "UPDATE reports_reports SET status = 'generated', stage = 'done',"
                    " percent = 100, object_name = $2, filename = $3, content_type = $4,"
                    " size = $5, sha256 = $6, findings = $7, finished_at = $8, position = $9"
                    " WHERE report_id = $1",
                    done.report_id,
                    done.object_name,
                    done.filename,
                    done.content_type,
                    done.size,
                    done.sha256,
                    done.findings,
                    event.recorded_at,
                    event.position,
                )
            case ReportFailed(report_id=report_id, reason=reason):
                await conn.execute(
                    "UPDATE reports_reports SET status = 'failed', reason = $2, finished_at = $3,"
                    " position = $4 WHERE report_id = $1 AND status <> 'generated'",
                    report_id,
                    reason,
                    event.recorded_at,
                    event.position,
                )


def reports_projections() -> tuple[Projection, ...]:
    """Every read model of the reports service."""
    return (ReportsProjection(),)
