"""``/api/v1/workspaces/{workspace_id}/stats``: statistics from the stats read models."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from services.api import stats
from services.api.access import readable_workspace
from services.api.errors import bad_request, problem

__all__ = ("AssetOrder", "StatsController")

_MAX_DAYS = 3660
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="How many to list")]


class AssetOrder(enum.StrEnum):
    """How `/stats/assets` ranks assets."""

    RISK = "risk"
    OPEN = "open"
    FINDINGS = "findings"


def _sla_days(state: State) -> dict[str, int]:
    runtime = state.get("runtime")
    if runtime is None:
        raise problem(503, "The gateway is starting or stopping; try again shortly.")
    days: dict[str, int] = runtime.settings.sla_days
    return days


async def _readable(request: Request[Any, Any, Any], pool: asyncpg.Pool, workspace: str) -> str:
    """The workspace, once the token may read it (403/404 otherwise)."""
    workspace_id = await readable_workspace(request, pool, workspace)
    assert workspace_id is not None
    return workspace_id


class StatsController(Controller):
    """A workspace's statistics: counts, rankings, series, remediation time, SLA and risk.

    Each answer names the log `position` its figures reflect. 503 while the
    stats service has never run against this database.
    """

    path = "/api/v1/workspaces/{workspace_id:str}/stats"
    tags = ("stats",)
    dependencies = {"sla_days": Provide(_sla_days, sync_to_thread=False)}
    exception_handlers = {
        stats.StatsNotReady: lambda request, _: problem(
            503, "Statistics are not available yet: the stats service has not started."
        ).to_response(request)
    }

    @get(summary="Statistics summary")
    async def summary(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        sla_days: NamedDependency[dict[str, int]],
        workspace_id: FromPath[str],
    ) -> stats.StatsSummary:
        """Counts by severity and status, assets, risk, SLA breaches, MTTR, top assets and CVEs."""
        workspace = await _readable(request, pool, workspace_id)
        return await stats.summary(pool, workspace, sla_days, dt.datetime.now(dt.UTC))

    @get("/severity", summary="Findings by severity and status")
    async def severity(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
    ) -> stats.SeverityBreakdown:
        """Every severity (worst first) with its findings by status."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.SeverityBreakdown(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            severities=await stats.severities(pool, workspace),
        )

    @get("/assets", summary="Most vulnerable assets")
    async def assets(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        order: Annotated[AssetOrder, QueryParameter(description="Ranking")] = AssetOrder.RISK,
        limit: Limit = 10,
    ) -> stats.AssetRanking:
        """Assets ranked by risk (default), open findings or all findings."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.AssetRanking(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            assets=await stats.assets(pool, workspace, order=order.value, limit=limit),
        )

    @get("/services", summary="Services with the most open findings")
    async def services(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        limit: Limit = 10,
    ) -> stats.ServiceRanking:
        """Per service (asset, port, protocol) counts, most open findings first."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.ServiceRanking(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            services=await stats.services(pool, workspace, limit=limit),
        )

    @get("/cves", summary="Top CVEs")
    async def cves(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        limit: Limit = 10,
    ) -> stats.TagRanking:
        """CVE ids carried by the most open findings."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.TagRanking(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            items=await stats.cves_or_cwes(pool, workspace, "cve", limit=limit),
        )

    @get("/cwes", summary="Top CWEs")
    async def cwes(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        limit: Limit = 10,
    ) -> stats.TagRanking:
        """CWE ids carried by the most open findings."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.TagRanking(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            items=await stats.cves_or_cwes(pool, workspace, "cwe", limit=limit),
        )

    @get("/open-over-time", summary="Open findings per day")
    async def open_over_time(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        start: Annotated[
            dt.date | None, QueryParameter(name="from", description="First day (UTC)")
        ] = None,
        end: Annotated[dt.date | None, QueryParameter(name="to", description="Last day")] = None,
    ) -> stats.OpenOverTime:
        """Open findings at the end of each day, by severity, with the day's changes."""
        workspace = await _readable(request, pool, workspace_id)
        if start and end and (end < start or (end - start).days > _MAX_DAYS):
            raise bad_request(f"'to' must follow 'from' by at most {_MAX_DAYS} days.")
        days = await stats.open_over_time(pool, workspace, start=start, end=end)
        if len(days) > _MAX_DAYS + 1:
            days = days[-(_MAX_DAYS + 1) :]
        return stats.OpenOverTime(
            workspace_id=workspace, position=await stats.position(pool, workspace), days=days
        )

    @get("/mttr", summary="Mean time to remediate")
    async def mttr(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
    ) -> stats.RemediationTimes:
        """Mean time from first seen to fixed, over fixed findings, per severity and overall."""
        workspace = await _readable(request, pool, workspace_id)
        return stats.RemediationTimes(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            severities=await stats.mttr(pool, workspace),
        )

    @get("/sla", summary="Findings past their SLA")
    async def sla(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        sla_days: NamedDependency[dict[str, int]],
        workspace_id: FromPath[str],
        at: Annotated[
            dt.datetime | None, QueryParameter(description="As of this time (default: now)")
        ] = None,
    ) -> stats.SlaStats:
        """Open findings past first seen + the severity's SLA days (``VIGIL_SLA_DAYS``)."""
        workspace = await _readable(request, pool, workspace_id)
        when = at or dt.datetime.now(dt.UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        severities = await stats.sla(pool, workspace, sla_days, when)
        return stats.SlaStats(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            at=when,
            breached=sum(s.breached for s in severities),
            severities=severities,
        )

    @get("/risk", summary="Risk score")
    async def risk(
        self,
        request: Request[Any, Any, Any],
        pool: NamedDependency[asyncpg.Pool],
        workspace_id: FromPath[str],
        limit: Limit = 10,
    ) -> stats.RiskStats:
        """The workspace's risk score and its riskiest assets."""
        workspace = await _readable(request, pool, workspace_id)
        points, score = await stats.risk(pool, workspace)
        return stats.RiskStats(
            workspace_id=workspace,
            position=await stats.position(pool, workspace),
            risk_points=points,
            risk_score=score,
            assets=await stats.assets(pool, workspace, order="risk", limit=limit),
        )
