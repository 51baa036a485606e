"""Findings as they stood at a past moment, folded from the log (no read model involved).

`fold_findings` is pure: the same evolution the inventory read model applies,
from a workspace's finding events in log order. `findings_as_of` reads those
events up to a position and folds them in memory, so any past state can be
answered, at the cost of reading the workspace's finding history.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from shared.contracts import (
    FINDING_EVENT_TYPES,
    FindingClosed,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    import asyncpg

    from shared.contracts import Event, FindingDetails
    from shared.eventstore import EventStore

__all__ = (
    "FindingAsOf",
    "FindingsAsOf",
    "PastTheHead",
    "findings_as_of",
    "fold_findings",
    "position_at",
)

_PAGE = 5000


class PastTheHead(ValueError):
    """The asked position is beyond the newest event of the log."""


class FindingAsOf(msgspec.Struct, kw_only=True):
    """One finding as it stood: lifecycle, latest details, and where its history had got to."""

    fingerprint: str
    title: str
    severity: str
    status: FindingStatus
    asset_id: str
    asset_key: str
    port: int | None
    protocol: str | None
    rule_id: str | None
    cve: tuple[str, ...]
    scanners: list[str]
    observations: int
    first_seen: dt.datetime
    last_seen: dt.datetime
    closed_at: dt.datetime | None
    version: int
    position: int


class FindingsAsOf(msgspec.Struct, frozen=True, kw_only=True):
    """Body of ``GET /api/v1/workspaces/{ws}/findings/as-of``."""

    workspace_id: str
    position: int
    """The log position the answer is as of (every event up to it, none after)."""
    findings: list[FindingAsOf]
    total: int


def _seen(finding: FindingAsOf, details: FindingDetails, scanner: str, at: dt.datetime) -> None:
    finding.title, finding.severity = details.title, details.severity
    finding.rule_id, finding.cve = details.rule_id, details.cve
    finding.last_seen = at
    finding.observations += 1
    if scanner not in finding.scanners:
        finding.scanners.append(scanner)


def _evolve(findings: dict[str, FindingAsOf], event: Event, version: int, position: int) -> None:
    match event:
        case FindingDetected() as found if found.fingerprint not in findings:
            findings[found.fingerprint] = FindingAsOf(
                fingerprint=found.fingerprint,
                title=found.details.title,
                severity=found.details.severity,
                status=FindingStatus.OPEN,
                asset_id=found.asset_id,
                asset_key=found.asset_key,
                port=found.port,
                protocol=found.protocol,
                rule_id=found.details.rule_id,
                cve=found.details.cve,
                scanners=[found.scanner],
                observations=1,
                first_seen=found.first_seen,
                last_seen=found.first_seen,
                closed_at=None,
                version=version,
                position=position,
            )
            return
        case FindingObserved() | FindingReopened() as seen if seen.fingerprint in findings:
            finding = findings[seen.fingerprint]
            _seen(finding, seen.details, seen.scanner, seen.seen_at)
            if isinstance(seen, FindingReopened):
                finding.status, finding.closed_at = FindingStatus.REOPENED, None
        case FindingClosed() as closed if closed.fingerprint in findings:
            finding = findings[closed.fingerprint]
            finding.status, finding.closed_at = FindingStatus.FIXED, closed.closed_at
        case FindingStatusChanged() as changed if changed.fingerprint in findings:
            finding = findings[changed.fingerprint]
            finding.status = changed.status
            fixed = changed.status == FindingStatus.FIXED
            finding.closed_at = changed.changed_at if fixed else None
        case _:
            return
    finding.version, finding.position = version, position


def fold_findings(events: Iterable[tuple[Event, int, int]]) -> dict[str, FindingAsOf]:
    """Fold (event, stream version, position) triples, in log order, into findings by fingerprint.

    Pure and deterministic: the same events always give the same findings.
    Events of other contexts are ignored.
    """
    findings: dict[str, FindingAsOf] = {}
    for event, version, position in events:
        _evolve(findings, event, version, position)
    return findings


async def position_at(pool: asyncpg.Pool, moment: dt.datetime) -> int:
    """The position of the last event recorded at or before `moment` (0 before the first)."""
    async with pool.acquire() as conn:
        position: int = await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM events WHERE recorded_at <= $1", moment
        )
    return position


async def findings_as_of(
    store: EventStore, workspace_id: str, position: int | None
) -> tuple[int, dict[str, FindingAsOf]]:
    """The workspace's findings after every event up to `position` (None: the head).

    Raises:
        PastTheHead: `position` is beyond the newest event.
    """
    head = await store.head_position()
    if position is None:
        position = head
    elif position > head:
        raise PastTheHead(f"position {position} is past the newest event ({head})")
    findings: dict[str, FindingAsOf] = {}
    after = 0
    while page := await store.read_all(
        after=after,
        limit=_PAGE,
        workspace_id=workspace_id,
        types=sorted(FINDING_EVENT_TYPES),
        up_to=position,
    ):
        for event in page:
            _evolve(findings, event.data, event.stream_version, event.position)
        after = page[-1].position
    return position, findings
