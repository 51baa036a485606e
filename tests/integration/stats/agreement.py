"""The acceptance check: what the stats API answers equals counts from ``ingest_findings``."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
import httpx

SLA = {"critical": 7, "high": 30, "medium": 90, "low": 180}
OPEN = ("open", "reopened")


async def from_ingest(pool: asyncpg.Pool, workspace_id: str, at: dt.datetime) -> dict[str, Any]:
    """The figures, counted straight from the ingest findings read model."""
    async with pool.acquire() as conn:
        by = await conn.fetch(
            "SELECT severity, status, count(*) AS n FROM ingest_findings WHERE workspace_id = $1"
            " GROUP BY 1, 2",
            workspace_id,
        )
        assets = await conn.fetch(
            "SELECT asset_id, count(*) AS findings,"
            " count(*) FILTER (WHERE status = ANY($2::text[])) AS open"
            " FROM ingest_findings WHERE workspace_id = $1 GROUP BY 1",
            workspace_id,
            list(OPEN),
        )
        services = await conn.fetch(
            "SELECT asset_id, port, protocol, count(*) AS findings,"
            " count(*) FILTER (WHERE status = ANY($2::text[])) AS open"
            " FROM ingest_findings WHERE workspace_id = $1 AND port IS NOT NULL GROUP BY 1, 2, 3",
            workspace_id,
            list(OPEN),
        )
        cves = await conn.fetch(
            "SELECT c AS id, count(*) AS findings,"
            " count(*) FILTER (WHERE status = ANY($2::text[])) AS open"
            " FROM ingest_findings, unnest(cve) AS c WHERE workspace_id = $1 GROUP BY 1",
            workspace_id,
            list(OPEN),
        )
        cwes = await conn.fetch(
            "SELECT c AS id, count(*) AS findings,"
            " count(*) FILTER (WHERE status = ANY($2::text[])) AS open"
            " FROM ingest_findings, unnest(cwe) AS c WHERE workspace_id = $1 GROUP BY 1",
            workspace_id,
            list(OPEN),
        )
        mttr = await conn.fetch(
            "SELECT severity, count(*) AS n,"
            " sum(floor(greatest(0, extract(epoch FROM closed_at - first_seen))))::bigint AS s"
            " FROM ingest_findings WHERE workspace_id = $1 AND status = 'fixed' GROUP BY 1",
            workspace_id,
        )
        rows = await conn.fetch(
            "SELECT severity, status, first_seen FROM ingest_findings WHERE workspace_id = $1",
            workspace_id,
        )
    breached = sum(
        1
        for r in rows
        if r["status"] in OPEN
        and r["severity"] in SLA
        and r["first_seen"] + dt.timedelta(days=SLA[r["severity"]]) < at
    )
    return {
        "by": {(r["severity"], r["status"]): r["n"] for r in by},
        "assets": {r["asset_id"]: (r["findings"], r["open"]) for r in assets},
        "services": {
            (r["asset_id"], r["port"], r["protocol"]): (r["findings"], r["open"]) for r in services
        },
        "cves": {r["id"]: (r["findings"], r["open"]) for r in cves},
        "cwes": {r["id"]: (r["findings"], r["open"]) for r in cwes},
        "mttr": {r["severity"]: (r["n"], r["s"] / r["n"]) for r in mttr},
        "breached": breached,
    }


async def from_api(client: httpx.AsyncClient, workspace_id: str, at: dt.datetime) -> dict[str, Any]:
    """The same figures, as the gateway's stats endpoints answer them."""
    base = f"/api/v1/workspaces/{workspace_id}/stats"
    answers = {}
    for name, params in {
        "": {},
        "/severity": {},
        "/assets": {"limit": 100},
        "/services": {"limit": 100},
        "/cves": {"limit": 100},
        "/cwes": {"limit": 100},
        "/mttr": {},
        "/sla": {"at": at.isoformat()},
        "/risk": {"limit": 100},
        "/open-over-time": {},
    }.items():
        response = await client.get(base + name, params=params)
        assert response.status_code == 200, response.text
        answers[name] = response.json()
    summary = answers[""]
    severity = answers["/severity"]["severities"]
    by = {(s["severity"], status): n for s in severity for status, n in s["by_status"].items()}
    days = answers["/open-over-time"]["days"]
    # The endpoints agree with each other (checked once the figures have settled).
    consistent = (
        summary["by_severity"] == severity
        and (days[-1]["open"] if days else 0) == summary["open"]
        and summary["open"] == sum(n for (_, status), n in by.items() if status in OPEN)
        and answers["/risk"]["risk_points"] == summary["risk_points"]
        and summary["findings"] == sum(by.values())
    )
    return {
        "consistent": consistent,
        "by": by,
        "assets": {
            a["asset_id"]: (a["findings"], a["open"])
            for a in answers["/assets"]["assets"]
            if a["findings"]
        },
        "services": {
            (s["asset_id"], s["port"], s["protocol"]): (s["findings"], s["open"])
            for s in answers["/services"]["services"]
            if s["findings"]
        },
        "cves": {c["id"]: (c["findings"], c["open"]) for c in answers["/cves"]["items"]},
        "cwes": {c["id"]: (c["findings"], c["open"]) for c in answers["/cwes"]["items"]},
        "mttr": {
            m["severity"]: (m["remediated"], m["mean_seconds"])
            for m in answers["/mttr"]["severities"]
            if m["remediated"] and m["severity"] != "all"
        },
        "breached": answers["/sla"]["breached"],
    }


async def wait_until_agreed(
    pool: asyncpg.Pool,
    client: httpx.AsyncClient,
    workspace_id: str,
    within: float = 60.0,
) -> dict[str, Any]:
    """Poll (bounded) until the API's figures equal the ingest read model's; returns them."""
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=45)
    deadline = time.monotonic() + within
    while True:
        expected = {"consistent": True, **await from_ingest(pool, workspace_id, at)}
        answered = await from_api(client, workspace_id, at)
        if answered == expected:
            return answered
        assert time.monotonic() < deadline, (answered, expected)
        await asyncio.sleep(0.05)


async def wait_for_figures(
    client: httpx.AsyncClient,
    workspace_id: str,
    expected: dict[str, Any],
    *,
    ignore: tuple[str, ...] = (),
    within: float = 60.0,
) -> dict[str, Any]:
    """Poll (bounded) until the API answers `expected` (but for the `ignore`d figures)."""
    at = dt.datetime.now(dt.UTC) + dt.timedelta(days=45)
    deadline = time.monotonic() + within
    wanted = {k: v for k, v in expected.items() if k not in ignore}
    while True:
        answered = await from_api(client, workspace_id, at)
        got = {k: v for k, v in answered.items() if k not in ignore}
        if got == wanted:
            return answered
        assert time.monotonic() < deadline, (got, wanted)
        await asyncio.sleep(0.05)
