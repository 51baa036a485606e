"""The fold: findings as the log describes them at a position, and which a filter keeps."""

from __future__ import annotations

import datetime as dt

from services.reports.domain import fold_findings, matches
from shared.contracts import (
    FindingDetails,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    ReportFilters,
    WorkspaceCreated,
)
from tests.unit.reports.factory import START, closed, detected, fingerprint

WS = "ws-unit"


def test_detected_findings_are_open_with_their_details() -> None:
    findings = fold_findings([WorkspaceCreated(workspace_id=WS, name="Acme"), detected(WS, 0)])
    [state] = findings.by_fingerprint.values()
    assert findings.workspace_name == "Acme"
    assert (state.status, state.details.severity, state.observations) == ("open", "critical", 1)
    assert state.open_changes == [(START.date(), 1)]


def test_closing_reopening_and_analyst_status_follow_the_log() -> None:
    later = START + dt.timedelta(days=3)
    reopened = FindingReopened(
        workspace_id=WS,
        fingerprint=fingerprint(WS, 0),
        scanner="nessus",
        scan_id="scan-3",
        scan_sha256="1" * 64,
        seen_at=later,
        details=FindingDetails(title="Renamed", severity="high"),
    )
    accepted = FindingStatusChanged(
        workspace_id=WS,
        fingerprint=fingerprint(WS, 0),
        status=FindingStatus.RISK_ACCEPTED,
        previous_status=FindingStatus.REOPENED,
        changed_at=later + dt.timedelta(days=1),
        comment="ok",
    )
    steps = [detected(WS, 0), closed(WS, 0, day=2)]
    assert fold_findings(steps).by_fingerprint[fingerprint(WS, 0)].status == "fixed"
    state = fold_findings([*steps, reopened, accepted]).by_fingerprint[fingerprint(WS, 0)]
    assert (state.status, state.details.title, state.scanners) == (
        "risk_accepted",
        "Renamed",
        ["nmap", "nessus"],
    )
    assert [delta for _, delta in state.open_changes] == [1, -1, 1, -1]
    assert state.observations == 2


def test_events_of_unknown_findings_and_repeated_detections_change_nothing() -> None:
    seen = FindingObserved(
        workspace_id=WS,
        fingerprint="unknown",
        scanner="nmap",
        scan_id="s",
        scan_sha256="0" * 64,
        seen_at=START,
        details=FindingDetails(title="x", severity="low"),
    )
    findings = fold_findings([detected(WS, 0), detected(WS, 0), seen, closed(WS, 9, day=1)])
    assert list(findings.by_fingerprint) == [fingerprint(WS, 0)]


def test_filters_keep_severity_status_period_and_assets() -> None:
    findings = fold_findings([detected(WS, i, day=i) for i in range(10)])
    states = list(findings.by_fingerprint.values())

    def kept(filters: ReportFilters) -> int:
        return sum(matches(f, filters) for f in states)

    assert kept(ReportFilters()) == 10
    assert kept(ReportFilters(severity=("critical",))) == 2
    assert kept(ReportFilters(status=("fixed",))) == 0
    assert kept(ReportFilters(until=START + dt.timedelta(days=2, hours=12))) == 3
    assert kept(ReportFilters(since=START + dt.timedelta(days=8))) == 2
    assert kept(ReportFilters(assets=("asset-1", "10.0.0.2"))) == 2
