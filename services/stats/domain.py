"""The rules of vigil's statistics, pure: a finding's state, its risk, remediation time, SLA.

Nothing here does I/O or reads the clock: the projection folds events into
`FindingState` with `evolve`, and every figure it stores is a function of
those states (and of the events' own timestamps), so a rebuild from the log
gives the same numbers. Only the SLA needs "now", and it is passed in.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import msgspec

from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from shared.contracts import Event

__all__ = (
    "ASSET_RISK_SCALE",
    "OPEN",
    "RISK_POINTS",
    "SEVERITIES",
    "WORKSPACE_RISK_SCALE",
    "FindingState",
    "event_time",
    "evolve",
    "mean_time_to_remediate",
    "remediation_seconds",
    "risk_points",
    "risk_score",
    "sla_breached",
    "sla_due",
)

SEVERITIES = ("critical", "high", "medium", "low", "info")
"""Severities from the worst down: the order every series is reported in."""

OPEN = frozenset({FindingStatus.OPEN.value, FindingStatus.REOPENED.value})
"""Statuses that count as open: they need work (risk accepted and false positives do not)."""

RISK_POINTS = {"critical": 40, "high": 15, "medium": 5, "low": 1, "info": 0}
"""Risk points one open finding adds, by severity."""

ASSET_RISK_SCALE = 100
"""Points at which an asset's score reaches 63 (1 - 1/e): about 2.5 open criticals."""

WORKSPACE_RISK_SCALE = 400
"""Points at which a workspace's score reaches 63: about 10 open criticals."""


class FindingState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the statistics need to know about one finding, as of some log position.

    A msgspec struct: a replay builds, evolves and compares millions of them.
    """

    fingerprint: str
    asset_id: str
    asset_kind: str
    asset_key: str
    port: int | None
    protocol: str | None
    severity: str
    status: str
    cve: tuple[str, ...]
    cwe: tuple[str, ...]
    first_seen: dt.datetime
    closed_at: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        """Open or reopened."""
        return self.status in OPEN

    @property
    def open_severity(self) -> str | None:
        """The severity under which the finding counts as open, or None when it is not open."""
        return self.severity if self.is_open else None

    @property
    def remediated_seconds(self) -> int | None:
        """Seconds from first seen to fixed, for a fixed finding; None otherwise."""
        if self.status != FindingStatus.FIXED or self.closed_at is None:
            return None
        return remediation_seconds(self.first_seen, self.closed_at)


def evolve(state: FindingState | None, event: Event) -> FindingState | None:
    """The finding's state after `event` (the same rules as ingest's findings read model).

    A detection of a known finding, and any other event of an unknown one,
    changes nothing.
    """
    if isinstance(event, FindingDetected):
        return state or FindingState(
            fingerprint=event.fingerprint,
            asset_id=event.asset_id,
            asset_kind=event.asset_kind,
            asset_key=event.asset_key,
            port=event.port,
            protocol=(event.protocol or "tcp").lower() if event.port else None,
            severity=event.details.severity,
            status=FindingStatus.OPEN.value,
            cve=tuple(event.details.cve),
            cwe=tuple(event.details.cwe),
            first_seen=event.first_seen,
        )
    if state is None:
        return None
    match event:
        case FindingObserved(details=details):
            if (details.severity, details.cve, details.cwe) == (
                state.severity,
                state.cve,
                state.cwe,
            ):
                return state  # the usual re-observation: nothing counted changes
            return msgspec.structs.replace(
                state, severity=details.severity, cve=tuple(details.cve), cwe=tuple(details.cwe)
            )
        case FindingReopened(details=details):
            return msgspec.structs.replace(
                state,
                severity=details.severity,
                cve=tuple(details.cve),
                cwe=tuple(details.cwe),
                status=FindingStatus.REOPENED.value,
                closed_at=None,
            )
        case FindingClosed(closed_at=closed_at):
            return msgspec.structs.replace(
                state, status=FindingStatus.FIXED.value, closed_at=closed_at
            )
        case FindingStatusChanged(status=status, changed_at=changed_at):
            fixed = status == FindingStatus.FIXED
            return msgspec.structs.replace(
                state, status=status.value, closed_at=changed_at if fixed else None
            )
    return state


def event_time(event: Event) -> dt.datetime | None:
    """When a finding event happened by its own account (scan or analyst time), if it says."""
    match event:
        case FindingDetected(first_seen=at):
            return at
        case FindingObserved(seen_at=at) | FindingReopened(seen_at=at):
            return at
        case FindingClosed(closed_at=at):
            return at
        case FindingStatusChanged(changed_at=at):
            return at
    return None


def risk_points(state: FindingState | None) -> int:
    """Points a finding adds to its asset's and workspace's risk: `RISK_POINTS` if open, else 0."""
    if state is None or not state.is_open:
        return 0
    return RISK_POINTS.get(state.severity, 0)


def risk_score(points: int, scale: int) -> float:
    """A 0-100 score that grows with `points` and saturates: ``100 * (1 - exp(-points/scale))``.

    Rounded to one decimal; a few criticals already score high, but more of
    them still score higher, never past 100.
    """
    if points <= 0:
        return 0.0
    return round(100.0 * (1.0 - math.exp(-points / scale)), 1)


def remediation_seconds(first_seen: dt.datetime, closed_at: dt.datetime) -> int:
    """Whole seconds from first seen to closed (0 when a scan's clock put them the other way)."""
    return max(0, int((closed_at - first_seen).total_seconds()))


def mean_time_to_remediate(remediated: int, total_seconds: int) -> float | None:
    """Mean seconds to remediate, or None when nothing was remediated."""
    return total_seconds / remediated if remediated else None


def sla_due(state: FindingState, sla_days: Mapping[str, int]) -> dt.datetime | None:
    """When the finding must be fixed by: first seen plus its severity's SLA (None: no SLA)."""
    days = sla_days.get(state.severity)
    return None if days is None else state.first_seen + dt.timedelta(days=days)


def sla_breached(state: FindingState, sla_days: Mapping[str, int], now: dt.datetime) -> bool:
    """True for an open finding past its due date (fixed, accepted and false positives never)."""
    due = sla_due(state, sla_days)
    return state.is_open and due is not None and due < now
