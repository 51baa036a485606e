"""Scan queries: the ``ingest_scans`` read model, with the log as a fallback for fresh uploads.

An upload answers 202 before the ingest service has projected it; a client
that follows the ``Location`` at once would find no row yet. `get_scan`
therefore folds the scan's own stream when the row is missing: the log is
the truth, the read model only a faster copy of it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg
import msgspec

from services.api.cursor import decode_cursor, encode_cursor
from services.api.readmodels import ingest_tables
from services.api.scan_schemas import (
    ScanCounts,
    ScanList,
    ScanProgress,
    ScanStatus,
    ScanView,
)
from shared.contracts import (
    ScanCompleted,
    ScanFailed,
    ScanProgressed,
    ScanStarted,
    ScanUploaded,
    scan_stream,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.contracts import RecordedEvent
    from shared.eventstore import EventStore

__all__ = ("get_scan", "list_scans", "scan_from_events")

_COUNTS = tuple(ScanCounts.__struct_fields__)


class _ScanCursor(msgspec.Struct, frozen=True, array_like=True):
    uploaded_at: dt.datetime
    scan_id: str


def _view(row: asyncpg.Record) -> ScanView:
    return ScanView(
        id=row["scan_id"],
        workspace_id=row["workspace_id"],
        filename=row["filename"],
        size=row["size"],
        sha256=row["sha256"],
        status=ScanStatus(row["status"]),
        progress=ScanProgress(
            bytes_read=row["bytes_read"], total_bytes=row["size"], items=row["items"]
        ),
        counts=ScanCounts(**{name: row[name] for name in _COUNTS}),
        attempts=row["attempts"],
        format_hint=row["format_hint"],
        scanner_hint=row["scanner_hint"],
        scope=row["scope"],
        format=row["format"],
        scanner=row["scanner"],
        duplicate_of=row["duplicate_of"],
        reason=row["reason"],
        uploaded_at=row["uploaded_at"],
        uploaded_by=row["uploaded_by"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        position=row["position"],
    )


def _evolve(view: ScanView, event: RecordedEvent) -> ScanView:
    replace = msgspec.structs.replace
    match event.data:
        case ScanStarted(attempt=attempt) if view.status in (ScanStatus.QUEUED, ScanStatus.PARSING):
            progress = ScanProgress(bytes_read=0, total_bytes=view.size, items=0)
            return replace(
                view,
                status=ScanStatus.PARSING,
                attempts=attempt,
                started_at=event.recorded_at,
                progress=progress,
            )
        case ScanProgressed(bytes_read=done, items=items) if view.status is ScanStatus.PARSING:
            progress = ScanProgress(bytes_read=done, total_bytes=view.size, items=items)
            return replace(view, progress=progress)
        case ScanCompleted() as completed:
            counts = ScanCounts(**{name: getattr(completed, name) for name in _COUNTS})
            progress = msgspec.structs.replace(view.progress, bytes_read=view.size)
            return replace(
                view,
                status=ScanStatus.APPLIED,
                format=completed.format,
                scanner=completed.scanner,
                counts=counts,
                progress=progress,
                duplicate_of=completed.duplicate_of,
                finished_at=event.recorded_at,
            )
        case ScanFailed(reason=reason):
            return replace(
                view, status=ScanStatus.FAILED, reason=reason, finished_at=event.recorded_at
            )
    return view


def scan_from_events(events: Sequence[RecordedEvent]) -> ScanView | None:
    """A scan's view folded from its stream (the same rules as the ingest read model)."""
    if not events or not isinstance(up := events[0].data, ScanUploaded):
        return None
    view = ScanView(
        id=up.scan_id,
        workspace_id=up.workspace_id,
        filename=up.filename,
        size=up.size,
        sha256=up.sha256,
        status=ScanStatus.QUEUED,
        progress=ScanProgress(bytes_read=0, total_bytes=up.size, items=0),
        counts=ScanCounts(),
        format_hint=up.format_hint,
        scanner_hint=up.scanner_hint,
        scope=up.scope,
        uploaded_at=events[0].recorded_at,
        uploaded_by=events[0].metadata.actor,
        position=events[0].position,
    )
    for event in events[1:]:
        view = _evolve(view, event)
        view = msgspec.structs.replace(view, position=event.position)
    return view


async def get_scan(
    pool: asyncpg.Pool, store: EventStore, workspace_id: str, scan_id: str
) -> ScanView | None:
    """One scan of a workspace, from the read model or, before it shows it, from the log."""
    row = None
    try:
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM ingest_scans WHERE workspace_id = $1 AND scan_id = $2",
                workspace_id,
                scan_id,
            )
    except asyncpg.UndefinedTableError:  # ingest never ran: only the log knows the scan
        row = None
    if row is not None:
        return _view(row)
    view = scan_from_events(await store.read_stream(scan_stream(scan_id)))
    return view if view is not None and view.workspace_id == workspace_id else None


async def list_scans(
    pool: asyncpg.Pool,
    workspace_id: str,
    *,
    status: Sequence[ScanStatus] = (),
    cursor: str | None = None,
    limit: int = 50,
) -> ScanList:
    """A workspace's scans, newest upload first, `limit` at a time."""
    clauses = ["workspace_id = $1"]
    args: list[object] = [workspace_id]
    if status:
        args.append([str(s) for s in status])
        clauses.append(f"status = ANY(${len(args)}::text[])")
    if cursor:
        after = decode_cursor(cursor, _ScanCursor)
        args += [after.uploaded_at, after.scan_id]
        clauses.append(f"(uploaded_at, scan_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    query = (
        f"SELECT * FROM ingest_scans WHERE {' AND '.join(clauses)}"
        f" ORDER BY uploaded_at DESC, scan_id DESC LIMIT ${len(args)}"
    )
    with ingest_tables():
        async with pool.acquire() as conn:
            rows = await conn.fetch(query, *args)
    views = [_view(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(_ScanCursor(views[-1].uploaded_at, views[-1].id))
    return ScanList(scans=views, next_cursor=next_cursor)
