"""Finding events for report tests, built with the contracts (no scanner, no parser)."""

from __future__ import annotations

import datetime as dt
import hashlib

from shared.contracts import (
    Event,
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingStatus,
    FindingStatusChanged,
    ReportFilters,
    ReportFormat,
    ReportRequested,
    ReportTemplate,
    WorkspaceCreated,
)

HOSTILE_TITLE = (
    "#set page(fill: red) *bold* _it_ <script>alert(1)</script> $x$ @ref \\ back\\slash"
    ' `code` [link](http://x) | pipe & amp "quote" #{1+1}'
)
"""A title full of Typst, HTML and Markdown markup, which must appear literally everywhere."""

SEVERITIES = ("critical", "high", "medium", "low", "info")
START = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


def fingerprint(workspace_id: str, i: int) -> str:
    return hashlib.sha256(f"{workspace_id}:{i}".encode()).hexdigest()[:32]


def detected(
    workspace_id: str, i: int, *, title: str | None = None, day: int = 0
) -> FindingDetected:
    severity = SEVERITIES[i % 5]
    return FindingDetected(
        workspace_id=workspace_id,
        fingerprint=fingerprint(workspace_id, i),
        asset_id=f"asset-{i % 37}",
        asset_kind="host",
        asset_key=f"10.0.{i % 37 // 250}.{i % 37}",
        scanner="nmap",
        scan_id="scan-1",
        scan_sha256="0" * 64,
        first_seen=START + dt.timedelta(days=day, minutes=i % 60),
        details=FindingDetails(
            title=title or f"Issue {i % 50} on service",
            severity=severity,
            rule_id=f"rule-{i % 50}",
            description=f"Description of issue {i % 50}.",
            solution=f"Upgrade package {i % 50}.",
            cve=(f"CVE-2024-{1000 + i % 50}",),
            cvss_score=round(9.8 - (i % 5) * 2, 1),
        ),
        port=443 if i % 2 else None,
        protocol="tcp" if i % 2 else None,
    )


def closed(workspace_id: str, i: int, *, day: int) -> FindingClosed:
    return FindingClosed(
        workspace_id=workspace_id,
        fingerprint=fingerprint(workspace_id, i),
        scanner="nmap",
        scan_id="scan-2",
        closed_at=START + dt.timedelta(days=day),
    )


def accepted(workspace_id: str, i: int, *, day: int) -> FindingStatusChanged:
    return FindingStatusChanged(
        workspace_id=workspace_id,
        fingerprint=fingerprint(workspace_id, i),
        status=FindingStatus.RISK_ACCEPTED,
        previous_status=FindingStatus.OPEN,
        changed_at=START + dt.timedelta(days=day),
        comment="accepted by the CISO",
    )


def workspace_history(workspace_id: str, count: int, *, hostile: bool = True) -> list[Event]:
    """A workspace with `count` findings over a few days; some fixed, one risk-accepted."""
    events: list[Event] = [WorkspaceCreated(workspace_id=workspace_id, name=f"Acme {workspace_id}")]
    for i in range(count):
        title = HOSTILE_TITLE if hostile and i == 0 else None
        events.append(detected(workspace_id, i, title=title, day=i % 7))
    events += [closed(workspace_id, i, day=8) for i in range(3, count, 10)]
    if count > 1:
        events.append(accepted(workspace_id, 1, day=9))
    return events


def request(
    workspace_id: str,
    report_id: str = "r1",
    *,
    format: ReportFormat = ReportFormat.HTML,
    template: ReportTemplate = ReportTemplate.EXECUTIVE,
    position: int = 0,
    filters: ReportFilters | None = None,
) -> ReportRequested:
    return ReportRequested(
        report_id=report_id,
        workspace_id=workspace_id,
        format=format,
        template=template,
        position=position,
        filters=filters or ReportFilters(),
    )
