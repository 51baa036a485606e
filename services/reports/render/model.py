"""What a report says, independent of its format: built once, rendered by every format.

Everything here derives from the fold of the log up to the request's
position (and from the request itself), never from the clock, so a report
rendered twice from one request is identical.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import msgspec

from services.reports.domain import OPEN, SEVERITIES, SEVERITY_RANK, matches

if TYPE_CHECKING:
    from collections.abc import Iterable

    from services.reports.domain import Findings, FindingState
    from shared.contracts import ReportFilters, ReportRequested

__all__ = (
    "RISK_WEIGHTS",
    "AssetPlan",
    "Baseline",
    "FindingRow",
    "RemediationAction",
    "ReportModel",
    "SeriesPoint",
    "SeverityCount",
    "TopRisk",
    "Trend",
    "build_model",
)

RISK_WEIGHTS = {"critical": 10.0, "high": 5.0, "medium": 2.0, "low": 0.5, "info": 0.0}
"""Risk score = sum over open findings of the weight of their severity."""

SERIES_DAYS = 90
TOP_RISKS = 10


class FindingRow(msgspec.Struct, frozen=True, kw_only=True):
    """One finding as every format shows it (times as ISO 8601 text)."""

    fingerprint: str
    title: str
    severity: str
    status: str
    asset_id: str
    asset_kind: str
    asset_key: str
    port: int | None
    protocol: str | None
    rule_id: str | None
    location: str | None
    cve: tuple[str, ...]
    cwe: tuple[str, ...]
    cvss_score: float | None
    description: str
    solution: str
    evidence: str
    references: tuple[str, ...]
    scanners: tuple[str, ...]
    observations: int
    first_seen: str
    last_seen: str
    closed_at: str | None
    status_comment: str


class SeverityCount(msgspec.Struct, frozen=True, kw_only=True):
    """Findings of one severity: all of them and the open ones."""

    severity: str
    total: int
    open: int


class TopRisk(msgspec.Struct, frozen=True, kw_only=True):
    """An open issue (same title and severity) and how widely it is spread."""

    title: str
    severity: str
    assets: int
    findings: int
    cve: tuple[str, ...]


class Baseline(msgspec.Struct, frozen=True, kw_only=True):
    """The previous report of the same workspace and template: what was open then."""

    report_id: str
    position: int
    requested_at: str
    open_by_severity: dict[str, int]


class Trend(msgspec.Struct, frozen=True, kw_only=True):
    """Open findings now against the previous report (None fields: no previous report)."""

    previous_report_id: str | None
    previous_requested_at: str | None
    open_before: int | None
    open_now: int
    change: int | None
    change_by_severity: dict[str, int]


class SeriesPoint(msgspec.Struct, frozen=True, kw_only=True):
    """Open findings at the end of one day."""

    day: str
    open: int


class RemediationAction(msgspec.Struct, frozen=True, kw_only=True):
    """One thing to fix on an asset: an issue, where it is, and what the scanners advise."""

    title: str
    severity: str
    ports: tuple[str, ...]
    solution: str
    cve: tuple[str, ...]
    findings: int


class AssetPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The open work on one asset, worst first."""

    asset_id: str
    asset_key: str
    asset_kind: str
    open_by_severity: dict[str, int]
    risk_score: float
    actions: tuple[RemediationAction, ...]


class ReportModel(msgspec.Struct, frozen=True, kw_only=True):
    """The content of one report, whatever its format."""

    report_id: str
    title: str
    template: str
    workspace_id: str
    workspace_name: str
    position: int
    requested_at: str
    filters: str
    posture: str
    risk_score: float
    total: int
    open: int
    by_severity: tuple[SeverityCount, ...]
    by_status: dict[str, int]
    trend: Trend
    top_risks: tuple[TopRisk, ...]
    series: tuple[SeriesPoint, ...]
    assets: tuple[AssetPlan, ...]
    findings: tuple[FindingRow, ...]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment is not None else None


def _row(f: FindingState) -> FindingRow:
    d = f.details
    return FindingRow(
        fingerprint=f.fingerprint,
        title=d.title,
        severity=d.severity,
        status=f.status,
        asset_id=f.asset_id,
        asset_kind=f.asset_kind,
        asset_key=f.asset_key,
        port=f.port,
        protocol=f.protocol,
        rule_id=d.rule_id,
        location=d.location,
        cve=d.cve,
        cwe=d.cwe,
        cvss_score=d.cvss_score,
        description=d.description or "",
        solution=d.solution or "",
        evidence=d.evidence or "",
        references=d.references,
        scanners=tuple(f.scanners),
        observations=f.observations,
        first_seen=_iso(f.first_seen) or "",
        last_seen=_iso(f.last_seen) or "",
        closed_at=_iso(f.closed_at),
        status_comment=f.status_comment,
    )


def _sort_key(f: FindingState) -> tuple[int, str, int, str, str]:
    return (
        -SEVERITY_RANK[f.details.severity],
        f.asset_key,
        f.port or 0,
        f.details.title,
        f.fingerprint,
    )


def posture(open_by_severity: dict[str, int]) -> str:
    """A one-word risk posture: the worst open severity (critical, high, elevated, low, clear)."""
    for severity, word in (("critical", "Critical"), ("high", "High"), ("medium", "Elevated")):
        if open_by_severity.get(severity):
            return word
    return "Low" if open_by_severity.get("low") or open_by_severity.get("info") else "Clear"


def _risk(open_by_severity: dict[str, int]) -> float:
    return round(sum(RISK_WEIGHTS[s] * n for s, n in open_by_severity.items()), 1)


def _top_risks(findings: list[FindingState]) -> tuple[TopRisk, ...]:
    groups: dict[tuple[str, str], list[FindingState]] = defaultdict(list)
    for f in findings:
        if f.is_open:
            groups[(f.details.severity, f.details.title)].append(f)
    ranked = sorted(
        groups.items(),
        key=lambda item: (
            -SEVERITY_RANK[item[0][0]],
            -len({f.asset_id for f in item[1]}),
            -len(item[1]),
            item[0][1],
        ),
    )
    return tuple(
        TopRisk(
            title=title,
            severity=severity,
            assets=len({f.asset_id for f in group}),
            findings=len(group),
            cve=tuple(sorted({c for f in group for c in f.details.cve})),
        )
        for (severity, title), group in ranked[:TOP_RISKS]
    )


def _series(findings: list[FindingState], end: dt.date) -> tuple[SeriesPoint, ...]:
    deltas: Counter[dt.date] = Counter()
    for f in findings:
        for day, delta in f.open_changes:
            deltas[day] += delta
    if not deltas:
        return ()
    end = max(end, max(deltas))
    start = max(min(deltas), end - dt.timedelta(days=SERIES_DAYS - 1))
    running = sum(n for day, n in deltas.items() if day < start)
    points = []
    day = start
    while day <= end:
        running += deltas.get(day, 0)
        points.append(SeriesPoint(day=day.isoformat(), open=running))
        day += dt.timedelta(days=1)
    return tuple(points)


def _assets(findings: list[FindingState]) -> tuple[AssetPlan, ...]:
    by_asset: dict[str, list[FindingState]] = defaultdict(list)
    for f in findings:
        if f.is_open:
            by_asset[f.asset_id].append(f)
    plans = []
    for asset_id, group in by_asset.items():
        counts = Counter(f.details.severity for f in group)
        open_by_severity = {s: counts.get(s, 0) for s in SEVERITIES}
        issues: dict[tuple[str, str], list[FindingState]] = defaultdict(list)
        for f in group:
            issues[(f.details.severity, f.details.title)].append(f)
        actions = tuple(
            RemediationAction(
                title=title,
                severity=severity,
                ports=tuple(sorted({f"{f.port}/{f.protocol or 'tcp'}" for f in fs if f.port})),
                solution=next((f.details.solution for f in fs if f.details.solution), ""),
                cve=tuple(sorted({c for f in fs for c in f.details.cve})),
                findings=len(fs),
            )
            for (severity, title), fs in sorted(
                issues.items(), key=lambda i: (-SEVERITY_RANK[i[0][0]], i[0][1])
            )
        )
        plans.append(
            AssetPlan(
                asset_id=asset_id,
                asset_key=group[0].asset_key,
                asset_kind=group[0].asset_kind,
                open_by_severity=open_by_severity,
                risk_score=_risk(open_by_severity),
                actions=actions,
            )
        )
    plans.sort(key=lambda p: (-p.risk_score, p.asset_key, p.asset_id))
    return tuple(plans)


def describe_filters(filters: ReportFilters) -> str:
    """The filters in words, e.g. ``severity: critical, high; since 2024-01-01``."""
    parts = []
    if filters.severity:
        parts.append("severity: " + ", ".join(filters.severity))
    if filters.status:
        parts.append("status: " + ", ".join(filters.status))
    if filters.since:
        parts.append(f"since {_iso(filters.since)}")
    if filters.until:
        parts.append(f"until {_iso(filters.until)}")
    if filters.assets:
        parts.append("assets: " + ", ".join(filters.assets))
    return "; ".join(parts) or "all findings"


def _trend(open_now: dict[str, int], baseline: Baseline | None) -> Trend:
    total_now = sum(open_now.values())
    if baseline is None:
        return Trend(
            previous_report_id=None,
            previous_requested_at=None,
            open_before=None,
            open_now=total_now,
            change=None,
            change_by_severity={},
        )
    before = sum(baseline.open_by_severity.values())
    return Trend(
        previous_report_id=baseline.report_id,
        previous_requested_at=baseline.requested_at,
        open_before=before,
        open_now=total_now,
        change=total_now - before,
        change_by_severity={
            s: open_now[s] - baseline.open_by_severity.get(s, 0) for s in SEVERITIES
        },
    )


def build_model(
    request: ReportRequested,
    requested_at: dt.datetime,
    findings: Findings,
    baseline: Baseline | None,
) -> ReportModel:
    """The report a request asks for, from the findings as of its position."""
    selected = sorted(
        (f for f in findings.by_fingerprint.values() if matches(f, request.filters)),
        key=_sort_key,
    )
    by_severity = Counter(f.details.severity for f in selected)
    open_counts = Counter(f.details.severity for f in selected if f.status in OPEN)
    open_by_severity = {s: open_counts.get(s, 0) for s in SEVERITIES}
    workspace_name = findings.workspace_name or request.workspace_id
    template = str(request.template)
    return ReportModel(
        report_id=request.report_id,
        title=request.title or f"{workspace_name}: {template} report",
        template=template,
        workspace_id=request.workspace_id,
        workspace_name=workspace_name,
        position=request.position,
        requested_at=_iso(requested_at) or "",
        filters=describe_filters(request.filters),
        posture=posture(open_by_severity),
        risk_score=_risk(open_by_severity),
        total=len(selected),
        open=sum(open_by_severity.values()),
        by_severity=tuple(
            SeverityCount(severity=s, total=by_severity.get(s, 0), open=open_by_severity[s])
            for s in SEVERITIES
        ),
        by_status=dict(sorted(Counter(f.status for f in selected).items())),
        trend=_trend(open_by_severity, baseline),
        top_risks=_top_risks(selected),
        series=_series(selected, requested_at.astimezone(dt.UTC).date()),
        assets=_assets(selected) if template == "remediation" else (),
        findings=tuple(_row(f) for f in selected),
    )


def rows(model: ReportModel) -> Iterable[FindingRow]:
    """The findings of a report in the order its template lists them (by asset for a plan)."""
    if model.template == "remediation":
        return sorted(model.findings, key=lambda r: (r.asset_key, -SEVERITY_RANK[r.severity]))
    return model.findings
