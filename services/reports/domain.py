"""The findings of a workspace as the log stood at a position: a pure fold over finding events.

A report never reads the live read models: it folds the workspace's finding
events up to the position its request recorded, so rendering the same
request again, at any later time, sees exactly the same findings.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING

import msgspec

from shared.contracts import (
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatusChanged,
    WorkspaceCreated,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from shared.contracts import Event, ReportFilters

__all__ = (
    "FOLDED_EVENT_TYPES",
    "OPEN",
    "SEVERITIES",
    "SEVERITY_RANK",
    "FindingState",
    "Findings",
    "fold_findings",
    "matches",
)

SEVERITIES = ("critical", "high", "medium", "low", "info")
"""Severities from the worst down."""

SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
OPEN = frozenset({"open", "reopened"})
"""Statuses that count as open (still to fix)."""

FOLDED_EVENT_TYPES = tuple(
    t.type_name()
    for t in (
        WorkspaceCreated,
        FindingDetected,
        FindingObserved,
        FindingClosed,
        FindingReopened,
        FindingStatusChanged,
    )
)
"""The event types a report is built from."""


class FindingState(msgspec.Struct, kw_only=True):
    """One finding as the events so far describe it (latest details, current status).

    `open_changes` lists (day, +1 / -1) each time the finding became open or
    stopped being open, dated by the event's own time (seen, closed, changed).
    """

    fingerprint: str
    asset_id: str
    asset_kind: str
    asset_key: str
    port: int | None
    protocol: str | None
    details: FindingDetails
    status: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    closed_at: dt.datetime | None = None
    status_comment: str = ""
    scanners: list[str] = msgspec.field(default_factory=list)
    observations: int = 1
    open_changes: list[tuple[dt.date, int]] = msgspec.field(default_factory=list)

    @property
    def is_open(self) -> bool:
        """Open or reopened."""
        return self.status in OPEN


class Findings:
    """The accumulator of the fold: findings by fingerprint plus the workspace's name."""

    def __init__(self) -> None:
        self.by_fingerprint: dict[str, FindingState] = {}
        self.workspace_name: str | None = None

    def apply(self, event: Event) -> None:
        """Evolve the findings by one event (others are ignored)."""
        match event:
            case WorkspaceCreated(name=name):
                self.workspace_name = name
            case FindingDetected() as found:
                if found.fingerprint in self.by_fingerprint:
                    return
                detected = FindingState(
                    fingerprint=found.fingerprint,
                    asset_id=found.asset_id,
                    asset_kind=found.asset_kind,
                    asset_key=found.asset_key,
                    port=found.port,
                    protocol=found.protocol,
                    details=found.details,
                    status="open",
                    first_seen=found.first_seen,
                    last_seen=found.first_seen,
                    scanners=[found.scanner],
                )
                detected.open_changes.append((found.first_seen.date(), 1))
                self.by_fingerprint[found.fingerprint] = detected
            case FindingObserved() | FindingReopened() as seen:
                if (state := self.by_fingerprint.get(seen.fingerprint)) is None:
                    return
                state.details = seen.details
                state.last_seen = max(state.last_seen, seen.seen_at)
                state.observations += 1
                if seen.scanner not in state.scanners:
                    state.scanners.append(seen.scanner)
                if isinstance(seen, FindingReopened):
                    self._set_status(state, "reopened", seen.seen_at)
                    state.closed_at = None
            case FindingClosed(fingerprint=fingerprint, closed_at=closed_at):
                if (state := self.by_fingerprint.get(fingerprint)) is not None:
                    self._set_status(state, "fixed", closed_at)
                    state.closed_at = closed_at
            case FindingStatusChanged() as changed:
                if (state := self.by_fingerprint.get(changed.fingerprint)) is not None:
                    self._set_status(state, str(changed.status), changed.changed_at)
                    state.status_comment = changed.comment
                    state.closed_at = changed.changed_at if changed.status == "fixed" else None

    @staticmethod
    def _set_status(state: FindingState, status: str, at: dt.datetime) -> None:
        was_open = state.is_open
        state.status = status
        if was_open != state.is_open:
            state.open_changes.append((at.date(), 1 if state.is_open else -1))

    def open_by_severity(self, filters: ReportFilters) -> dict[str, int]:
        """Open findings per severity among those `filters` let through."""
        counts = Counter(
            f.details.severity
            for f in self.by_fingerprint.values()
            if f.is_open and matches(f, filters)
        )
        return {severity: counts.get(severity, 0) for severity in SEVERITIES}


def fold_findings(events: Iterable[Event]) -> Findings:
    """The findings the events describe, applied in the order given (log order)."""
    findings = Findings()
    for event in events:
        findings.apply(event)
    return findings


def matches(finding: FindingState, filters: ReportFilters) -> bool:
    """Whether a report with `filters` covers `finding` (see `ReportFilters`)."""
    if filters.severity and finding.details.severity not in filters.severity:
        return False
    if filters.status and finding.status not in filters.status:
        return False
    if filters.until is not None and finding.first_seen > filters.until:
        return False
    if filters.since is not None and finding.last_seen < filters.since:
        return False
    return not (
        filters.assets
        and finding.asset_id not in filters.assets
        and finding.asset_key not in filters.assets
    )
