"""Statistics queries: the ``stats_*`` read models (owned by the stats service) as API answers.

Every answer comes from those tables, never from the log; the tables and
their columns are documented in ``services/stats/README.md``. The SLA is the
only figure computed at query time, from each open finding's first-seen time
and the configured days per severity.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import asyncpg
import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "SEVERITIES",
    "AssetRanking",
    "AssetStats",
    "CountedTag",
    "DailyOpen",
    "OpenOverTime",
    "RemediationTime",
    "RemediationTimes",
    "RiskStats",
    "ServiceRanking",
    "ServiceStats",
    "SeverityBreakdown",
    "SeverityStats",
    "SlaSeverity",
    "SlaStats",
    "StatsNotReady",
    "StatsSummary",
    "TagRanking",
    "assets",
    "cves_or_cwes",
    "mttr",
    "open_over_time",
    "position",
    "risk",
    "services",
    "severities",
    "sla",
    "summary",
)

SEVERITIES = ("critical", "high", "medium", "low", "info")
_OPEN = ("open", "reopened")
_PROJECTION = "stats"


class StatsNotReady(RuntimeError):
    """The stats tables do not exist yet: the stats service has never run on this database."""


class SeverityStats(msgspec.Struct, frozen=True, kw_only=True):
    """Findings of one severity: in total, open (open + reopened), and by status."""

    severity: str
    findings: int
    open: int
    by_status: dict[str, int]


class AssetStats(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's findings; `open_by_severity` counts open and reopened ones."""

    asset_id: str
    kind: str | None
    key: str | None
    findings: int
    open: int
    open_by_severity: dict[str, int]
    services: int
    risk_points: int
    risk_score: float


class ServiceStats(msgspec.Struct, frozen=True, kw_only=True):
    """Findings on one service (an asset's port and protocol)."""

    asset_id: str
    asset_key: str | None
    port: int
    protocol: str
    name: str | None
    findings: int
    open: int
    open_by_severity: dict[str, int]


class CountedTag(msgspec.Struct, frozen=True, kw_only=True):
    """A CVE or CWE id with the number of findings (and open findings) that carry it."""

    id: str
    findings: int
    open: int


class DailyOpen(msgspec.Struct, frozen=True, kw_only=True):
    """Open findings at the end of a day (UTC), and how many opened and closed that day."""

    day: dt.date
    open: int
    opened: int
    closed: int
    open_by_severity: dict[str, int]


class RemediationTime(msgspec.Struct, frozen=True, kw_only=True):
    """Mean time from first seen to fixed, over the findings that are fixed now."""

    severity: str
    remediated: int
    mean_seconds: float | None
    mean_days: float | None


class SlaSeverity(msgspec.Struct, frozen=True, kw_only=True):
    """Open findings past (`breached`) or within their SLA, and fixed ones in or past time."""

    severity: str
    days: int
    open: int
    breached: int
    remediated_within: int
    remediated_late: int


class SlaStats(msgspec.Struct, frozen=True, kw_only=True):
    """The SLA as of `at`; severities without an SLA are left out."""

    workspace_id: str
    position: int
    at: dt.datetime
    breached: int
    severities: list[SlaSeverity]


class RiskStats(msgspec.Struct, frozen=True, kw_only=True):
    """The workspace's risk and its riskiest assets (formula: ``services/stats/README.md``)."""

    workspace_id: str
    position: int
    risk_points: int
    risk_score: float
    assets: list[AssetStats]


class StatsSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A workspace at a glance; `position` is the log position the statistics reflect."""

    workspace_id: str
    position: int
    findings: int
    open: int
    by_severity: list[SeverityStats]
    by_status: dict[str, int]
    assets: int
    vulnerable_assets: int
    risk_points: int
    risk_score: float
    sla_breached: int
    mean_time_to_remediate_seconds: float | None
    top_assets: list[AssetStats]
    top_cves: list[CountedTag]


class SeverityBreakdown(msgspec.Struct, frozen=True, kw_only=True):
    """Findings by severity x status."""

    workspace_id: str
    position: int
    severities: list[SeverityStats]


class AssetRanking(msgspec.Struct, frozen=True, kw_only=True):
    """The most vulnerable assets, in the order asked for."""

    workspace_id: str
    position: int
    assets: list[AssetStats]


class ServiceRanking(msgspec.Struct, frozen=True, kw_only=True):
    """The services with the most open findings."""

    workspace_id: str
    position: int
    services: list[ServiceStats]


class TagRanking(msgspec.Struct, frozen=True, kw_only=True):
    """The CVEs or CWEs carried by the most open findings."""

    workspace_id: str
    position: int
    items: list[CountedTag]


class RemediationTimes(msgspec.Struct, frozen=True, kw_only=True):
    """Mean time to remediate per severity, then over all of them (severity "all")."""

    workspace_id: str
    position: int
    severities: list[RemediationTime]


class OpenOverTime(msgspec.Struct, frozen=True, kw_only=True):
    """Open findings per day from `start` to `end` (days without change included)."""

    workspace_id: str
    position: int
    days: list[DailyOpen]


async def _fetch(pool: asyncpg.Pool, query: str, *args: object) -> list[asyncpg.Record]:
    try:
        async with pool.acquire() as conn:
            return await conn.fetch(query, *args)
    except asyncpg.UndefinedTableError:
        raise StatsNotReady("the statistics tables do not exist yet") from None


async def position(pool: asyncpg.Pool, workspace_id: str) -> int:
    """The log position the workspace's statistics reflect (0 before any)."""
    rows = await _fetch(
        pool,
        "SELECT position FROM projection_checkpoints WHERE projection = $1 AND workspace_id = $2",
        _PROJECTION,
        workspace_id,
    )
    return int(rows[0]["position"]) if rows else 0


async def severities(pool: asyncpg.Pool, workspace_id: str) -> list[SeverityStats]:
    """Findings by severity x status, every severity listed (worst first)."""
    rows = await _fetch(
        pool,
        "SELECT severity, status, findings FROM stats_severity_status WHERE workspace_id = $1",
        workspace_id,
    )
    by: dict[str, dict[str, int]] = {severity: {} for severity in SEVERITIES}
    for row in rows:
        by.setdefault(row["severity"], {})[row["status"]] = row["findings"]
    return [
        SeverityStats(
            severity=severity,
            findings=sum(statuses.values()),
            open=sum(statuses.get(s, 0) for s in _OPEN),
            by_status=dict(sorted(statuses.items())),
        )
        for severity, statuses in by.items()
    ]


_ASSET_COLUMNS = (
    "a.asset_id, a.asset_kind, a.asset_key, a.findings, a.open, a.open_critical, a.open_high,"
    " a.open_medium, a.open_low, a.open_info, a.risk_points, a.risk_score,"
    " (SELECT count(*) FROM stats_services s WHERE s.workspace_id = a.workspace_id"
    " AND s.asset_id = a.asset_id AND s.detected) AS services"
)
_ASSET_ORDER = {
    "risk": "a.risk_points DESC, a.open DESC, a.findings DESC, a.asset_id",
    "open": "a.open DESC, a.risk_points DESC, a.findings DESC, a.asset_id",
    "findings": "a.findings DESC, a.open DESC, a.asset_id",
}


def _open_by_severity(row: asyncpg.Record) -> dict[str, int]:
    return {severity: row[f"open_{severity}"] for severity in SEVERITIES}


async def assets(
    pool: asyncpg.Pool, workspace_id: str, *, order: str = "risk", limit: int = 10
) -> list[AssetStats]:
    """The most vulnerable assets (by risk, open findings or all findings)."""
    rows = await _fetch(
        pool,
        f"SELECT {_ASSET_COLUMNS} FROM stats_assets a WHERE a.workspace_id = $1"
        f" ORDER BY {_ASSET_ORDER[order]} LIMIT $2",
        workspace_id,
        limit,
    )
    return [
        AssetStats(
            asset_id=row["asset_id"],
            kind=row["asset_kind"],
            key=row["asset_key"],
            findings=row["findings"],
            open=row["open"],
            open_by_severity=_open_by_severity(row),
            services=row["services"],
            risk_points=row["risk_points"],
            risk_score=row["risk_score"],
        )
        for row in rows
    ]


async def services(pool: asyncpg.Pool, workspace_id: str, *, limit: int = 10) -> list[ServiceStats]:
    """The services with the most open findings."""
    rows = await _fetch(
        pool,
        "SELECT s.*, a.asset_key FROM stats_services s LEFT JOIN stats_assets a"
        " ON a.workspace_id = s.workspace_id AND a.asset_id = s.asset_id"
        " WHERE s.workspace_id = $1 ORDER BY s.open DESC, s.findings DESC, s.asset_id, s.port,"
        " s.protocol LIMIT $2",
        workspace_id,
        limit,
    )
    return [
        ServiceStats(
            asset_id=row["asset_id"],
            asset_key=row["asset_key"],
            port=row["port"],
            protocol=row["protocol"],
            name=row["name"],
            findings=row["findings"],
            open=row["open"],
            open_by_severity=_open_by_severity(row),
        )
        for row in rows
    ]


async def cves_or_cwes(
    pool: asyncpg.Pool, workspace_id: str, kind: str, *, limit: int = 10
) -> list[CountedTag]:
    """The CVEs (`kind` "cve") or CWEs ("cwe") on the most open findings."""
    table, column = {"cve": ("stats_cves", "cve"), "cwe": ("stats_cwes", "cwe")}[kind]
    rows = await _fetch(
        pool,
        f"SELECT {column} AS id, findings, open FROM {table} WHERE workspace_id = $1"
        f" ORDER BY open DESC, findings DESC, {column} LIMIT $2",
        workspace_id,
        limit,
    )
    return [CountedTag(id=row["id"], findings=row["findings"], open=row["open"]) for row in rows]


async def open_over_time(
    pool: asyncpg.Pool,
    workspace_id: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[DailyOpen]:
    """Open findings at the end of each day (UTC), with the day's openings and closings.

    From `start` (default: the first day with a change) to `end` (default:
    the later of today and the last day with a change), every day listed.
    """
    rows = await _fetch(
        pool,
        "SELECT day, severity, opened, closed FROM stats_open_daily WHERE workspace_id = $1"
        " ORDER BY day",
        workspace_id,
    )
    if not rows and start is None:
        return []
    changes: dict[dt.date, dict[str, tuple[int, int]]] = {}
    for row in rows:
        changes.setdefault(row["day"], {})[row["severity"]] = (row["opened"], row["closed"])
    today = dt.datetime.now(dt.UTC).date()
    first = start or min(changes)
    last = end or max([today, *changes])
    running = dict.fromkeys(SEVERITIES, 0)
    for day, by in changes.items():
        if day < first:
            for severity, (opened, closed) in by.items():
                running[severity] = running.get(severity, 0) + opened - closed
    series = []
    day = first
    while day <= last:
        by = changes.get(day, {})
        for severity, (opened, closed) in by.items():
            running[severity] = running.get(severity, 0) + opened - closed
        series.append(
            DailyOpen(
                day=day,
                open=sum(running.values()),
                opened=sum(o for o, _ in by.values()),
                closed=sum(c for _, c in by.values()),
                open_by_severity=dict(running),
            )
        )
        day += dt.timedelta(days=1)
    return series


async def mttr(pool: asyncpg.Pool, workspace_id: str) -> list[RemediationTime]:
    """Mean time to remediate per severity (worst first), then over all severities ("all")."""
    rows = await _fetch(
        pool,
        "SELECT severity, remediated, total_seconds FROM stats_mttr WHERE workspace_id = $1",
        workspace_id,
    )
    found = {row["severity"]: (row["remediated"], row["total_seconds"]) for row in rows}
    totals = (sum(n for n, _ in found.values()), sum(s for _, s in found.values()))
    answer = []
    for severity, (count, seconds) in [
        *((s, found.get(s, (0, 0))) for s in SEVERITIES),
        ("all", totals),
    ]:
        mean = seconds / count if count else None
        answer.append(
            RemediationTime(
                severity=severity,
                remediated=count,
                mean_seconds=mean,
                mean_days=None if mean is None else round(mean / 86400, 2),
            )
        )
    return answer


async def sla(
    pool: asyncpg.Pool, workspace_id: str, sla_days: Mapping[str, int], at: dt.datetime
) -> list[SlaSeverity]:
    """Per severity with an SLA: open findings past their due date (first seen + days) at `at`."""
    names = [s for s in SEVERITIES if s in sla_days] + sorted(set(sla_days) - set(SEVERITIES))
    rows = await _fetch(
        pool,
        "SELECT d.severity, d.days,"
        " count(f.*) FILTER (WHERE f.status = ANY($4::text[])) AS open,"
        " count(f.*) FILTER (WHERE f.status = ANY($4::text[])"
        "   AND f.first_seen + make_interval(days => d.days) < $5) AS breached,"
        " count(f.*) FILTER (WHERE f.status = 'fixed'"
        "   AND f.closed_at <= f.first_seen + make_interval(days => d.days)) AS within,"
        " count(f.*) FILTER (WHERE f.status = 'fixed'"
        "   AND f.closed_at > f.first_seen + make_interval(days => d.days)) AS late"
        " FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS d(severity, days, n)"
        " LEFT JOIN stats_findings f ON f.workspace_id = $1 AND f.severity = d.severity"
        " GROUP BY d.severity, d.days, d.n ORDER BY d.n",
        workspace_id,
        names,
        [sla_days[name] for name in names],
        list(_OPEN),
        at,
    )
    return [
        SlaSeverity(
            severity=row["severity"],
            days=row["days"],
            open=row["open"],
            breached=row["breached"],
            remediated_within=row["within"],
            remediated_late=row["late"],
        )
        for row in rows
    ]


async def risk(pool: asyncpg.Pool, workspace_id: str) -> tuple[int, float]:
    """The workspace's risk points and score (0 before any finding)."""
    rows = await _fetch(
        pool,
        "SELECT risk_points, risk_score FROM stats_workspaces WHERE workspace_id = $1",
        workspace_id,
    )
    return (int(rows[0]["risk_points"]), float(rows[0]["risk_score"])) if rows else (0, 0.0)


async def summary(
    pool: asyncpg.Pool, workspace_id: str, sla_days: Mapping[str, int], at: dt.datetime
) -> StatsSummary:
    """The summary answer: counts, risk, SLA breaches, MTTR and the top assets and CVEs."""
    by_severity = await severities(pool, workspace_id)
    by_status: dict[str, int] = {}
    for item in by_severity:
        for status, count in item.by_status.items():
            by_status[status] = by_status.get(status, 0) + count
    [counts] = await _fetch(
        pool,
        "SELECT count(*) AS assets, count(*) FILTER (WHERE open > 0) AS vulnerable"
        " FROM stats_assets WHERE workspace_id = $1",
        workspace_id,
    )
    points, score = await risk(pool, workspace_id)
    overall = (await mttr(pool, workspace_id))[-1]
    return StatsSummary(
        workspace_id=workspace_id,
        position=await position(pool, workspace_id),
        findings=sum(item.findings for item in by_severity),
        open=sum(item.open for item in by_severity),
        by_severity=by_severity,
        by_status=dict(sorted(by_status.items())),
        assets=counts["assets"],
        vulnerable_assets=counts["vulnerable"],
        risk_points=points,
        risk_score=score,
        sla_breached=sum(s.breached for s in await sla(pool, workspace_id, sla_days, at)),
        mean_time_to_remediate_seconds=overall.mean_seconds,
        top_assets=await assets(pool, workspace_id, limit=5),
        top_cves=await cves_or_cwes(pool, workspace_id, "cve", limit=5),
    )
