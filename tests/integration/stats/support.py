"""Building finding events, waiting for the stats read models, and reading them back."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from typing import Any

import asyncpg

from services.stats.projections import StatsProjection
from shared.contracts import (
    Event,
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingStatus,
    FindingStatusChanged,
    finding_stream,
)
from shared.eventstore import EventStore, StreamWrite

T0 = dt.datetime(2024, 1, 10, 9, 30, tzinfo=dt.UTC)
SEVERITIES = ("critical", "high", "medium", "low", "info")


def fingerprint(workspace_id: str, n: int) -> str:
    return hashlib.sha256(f"{workspace_id}/{n}".encode()).hexdigest()[:32]


def detected(workspace_id: str, n: int, *, assets: int = 4) -> FindingDetected:
    """Finding `n`: a severity, asset, port, CVE and CWE that vary with `n`."""
    severity = SEVERITIES[n % 5]
    asset = n % assets
    return FindingDetected(
        workspace_id=workspace_id,
        fingerprint=fingerprint(workspace_id, n),
        asset_id=f"asset-{asset}",
        asset_kind="host",
        asset_key=f"10.9.0.{asset}",
        scanner="direct",
        scan_id="scan-direct",
        scan_sha256="0" * 64,
        first_seen=T0 + dt.timedelta(days=n % 7, hours=n),
        details=FindingDetails(
            title=f"Finding {n}",
            severity=severity,
            cve=(f"CVE-2024-{n % 3}",) if n % 2 else (),
            cwe=(f"CWE-{79 + n % 2}",),
        ),
        port=(443 if n % 3 else None),
        protocol=("tcp" if n % 3 else None),
    )


def closed(workspace_id: str, n: int, days: int = 20) -> FindingClosed:
    return FindingClosed(
        workspace_id=workspace_id,
        fingerprint=fingerprint(workspace_id, n),
        scanner="direct",
        scan_id="scan-later",
        closed_at=T0 + dt.timedelta(days=days, minutes=n),
    )


def status_changed(
    workspace_id: str, fp: str, to: FindingStatus, previous: str = "open"
) -> FindingStatusChanged:
    return FindingStatusChanged(
        workspace_id=workspace_id,
        fingerprint=fp,
        status=to,
        previous_status=FindingStatus(previous),
        changed_at=T0 + dt.timedelta(days=15),
        comment="accepted by the test",
    )


async def append_findings(store: EventStore, workspace_id: str, events: list[Event]) -> int:
    """Append each finding event to its finding's stream, in one transaction; the last position."""
    writes = [
        StreamWrite(
            stream_id=finding_stream(str(getattr(e, "fingerprint"))),  # noqa: B009
            workspace_id=workspace_id,
            events=[e],
        )
        for e in events
    ]
    recorded = await store.append(writes)
    return recorded[-1].position


async def last_position(pool: asyncpg.Pool, workspace_id: str) -> int:
    """The position of the workspace's newest event that the stats apply."""
    async with pool.acquire() as conn:
        position: int = await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM events WHERE workspace_id = $1"
            " AND event_type = ANY($2::text[])",
            workspace_id,
            list(StatsProjection.event_types),
        )
    return position


async def wait_for_stats(pool: asyncpg.Pool, workspace_id: str, within: float = 60.0) -> None:
    """Poll until the stats read models have applied the workspace's newest relevant event."""
    target = await last_position(pool, workspace_id)
    deadline = time.monotonic() + within
    while True:
        async with pool.acquire() as conn:
            applied = await conn.fetchval(
                "SELECT position FROM stats_workspaces WHERE workspace_id = $1", workspace_id
            )
        if applied is not None and applied >= target:
            return
        assert time.monotonic() < deadline, f"stats at {applied}, expected {target}"
        await asyncio.sleep(0.02)


async def snapshot(pool: asyncpg.Pool, workspace_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every stats row of a workspace, in a stable order."""
    async with pool.acquire() as conn:
        return {
            table: [
                dict(row)
                for row in await conn.fetch(
                    f"SELECT * FROM {table} WHERE workspace_id = $1 ORDER BY 1, 2, 3, 4",
                    workspace_id,
                )
            ]
            for table in StatsProjection.tables
        }


async def forget_workspace(pool: asyncpg.Pool, workspace_id: str) -> None:
    """Drop one workspace's stats rows and checkpoint, atomically (a one-workspace rebuild)."""
    async with pool.acquire() as conn, conn.transaction():
        for table in StatsProjection.tables:
            await conn.execute(f"DELETE FROM {table} WHERE workspace_id = $1", workspace_id)
        await conn.execute(
            "DELETE FROM projection_checkpoints WHERE projection = $1 AND workspace_id = $2",
            StatsProjection.name,
            workspace_id,
        )
