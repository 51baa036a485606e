"""Acceptance: after real imports and analyst changes, the stats API agrees with ingest."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json

import asyncpg
import httpx

from services.ingest.jobs import ImportQueue
from services.ingest.projections import ingest_projections
from shared.contracts import FindingStatus, FindingStatusChanged, ScanCompleted, finding_stream
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from shared.projections import ProjectionRunner
from tests.integration.ingest.conftest import project, upload, wait_finished
from tests.integration.stats.agreement import wait_for_figures, wait_until_agreed

SEVERITIES = ("critical", "high", "medium", "low", "info")


def scan(hosts: dict[str, list[int]]) -> bytes:
    """A scan in the test format: numbered findings whose severity, port and CVE vary."""
    lines: list[dict[str, object]] = [{"vigil-test": 1}]
    for address, numbers in hosts.items():
        lines.append({"host": address})
        lines.append({"service": address, "port": 22, "name": "ssh"})
        for n in numbers:
            lines.append(
                {
                    "finding": address,
                    "rule": f"r{n}",
                    "title": f"Issue {n}",
                    "severity": SEVERITIES[n % 5],
                    "port": 22 if n % 2 else None,
                    "cve": [f"CVE-2023-{1000 + n}"] if n % 3 else [],
                }
            )
    lines.append({"end": len(lines) - 1})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


async def import_scan(
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
    workspace_id: str,
    content: bytes,
) -> ScanCompleted:
    scan_id = await upload(store, objects, workspace_id, content)
    await asyncio.to_thread(queue.enqueue, scan_id, workspace_id)
    done = await wait_finished(store, scan_id)
    assert isinstance(done, ScanCompleted), done
    await project(pool, workspace_id)
    return done


FIRST = {
    "10.7.0.1": list(range(12)),
    "10.7.0.2": list(range(5, 20)),
    "10.7.0.3": [1, 2, 3],
}


async def test_stats_equal_ingest_counts_after_import_status_change_and_reimport(
    client: httpx.AsyncClient,
    workspace: str,
    stats_service: None,
    store: EventStore,
    objects: ScanObjectStore,
    queue: ImportQueue,
    pool: asyncpg.Pool,
) -> None:
    done = await import_scan(store, objects, queue, pool, workspace, scan(FIRST))
    assert done.findings_new == 30
    figures = await wait_until_agreed(pool, client, workspace)
    assert sum(figures["by"].values()) == 30
    assert figures["cves"]
    assert len(figures["assets"]) == 3

    # A later scan no longer reports some findings (closed) and brings one new.
    later = {"10.7.0.1": [*range(6), 40], "10.7.0.2": list(range(5, 20)), "10.7.0.3": [1, 2, 3]}
    again = await import_scan(store, objects, queue, pool, workspace, scan(later))
    assert again.findings_closed > 0
    figures = await wait_until_agreed(pool, client, workspace)
    assert sum(n for (_, status), n in figures["by"].items() if status == "fixed") > 0
    assert figures["mttr"]

    # The very same file again: a duplicate, nothing changes.
    before = figures
    same = await import_scan(store, objects, queue, pool, workspace, scan(later))
    assert same.duplicate_of == again.scan_id
    figures = await wait_until_agreed(pool, client, workspace)
    assert figures == before

    # An analyst accepts the risk of one open critical finding: it leaves the open counts.
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT fingerprint, version, asset_id FROM ingest_findings WHERE workspace_id = $1"
            " AND severity = 'critical' AND status = 'open' ORDER BY fingerprint LIMIT 1",
            workspace,
        )
    await store.append_to_stream(
        finding_stream(row["fingerprint"]),
        workspace,
        [
            FindingStatusChanged(
                workspace_id=workspace,
                fingerprint=row["fingerprint"],
                status=FindingStatus.RISK_ACCEPTED,
                previous_status=FindingStatus.OPEN,
                changed_at=dt.datetime.now(dt.UTC),
                comment="compensating control",
            )
        ],
        expected_version=row["version"],
    )
    expected = copy.deepcopy(figures)
    expected["by"][("critical", "open")] -= 1
    expected["by"][("critical", "risk_accepted")] = 1
    findings, still_open = expected["assets"][row["asset_id"]]
    expected["assets"][row["asset_id"]] = (findings, still_open - 1)
    assert await wait_for_figures(
        client, workspace, expected, ignore=("services", "cves", "breached")
    )

    # The ingest read model applies the same change: both agree again.
    await ProjectionRunner(pool, ingest_projections()).catch_up(
        workspace, await store.head_position()
    )
    agreed = await wait_until_agreed(pool, client, workspace)
    assert agreed["by"] == expected["by"]


async def test_stats_of_a_workspace_without_findings_are_zero(
    client: httpx.AsyncClient, workspace: str, stats_service: None
) -> None:
    response = await client.get(f"/api/v1/workspaces/{workspace}/stats")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["findings"], body["open"], body["risk_score"], body["sla_breached"]) == (
        0,
        0,
        0.0,
        0,
    )
    assert [s["severity"] for s in body["by_severity"]] == list(SEVERITIES)
    missing = await client.get("/api/v1/workspaces/no-such-ws/stats/cves")
    assert missing.status_code == 404
