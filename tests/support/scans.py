"""Uploading scans over HTTP and waiting for their import, as a client would."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
import httpx

from shared.projections import ProjectionRunner

INVENTORY = "ingest.inventory"
FINAL = ("applied", "failed")


async def upload_scan(
    client: httpx.AsyncClient,
    workspace_id: str,
    content: bytes,
    *,
    filename: str = "scan.jsonl",
    **fields: str,
) -> httpx.Response:
    """POST a scan file as multipart/form-data."""
    return await client.post(
        f"/api/v1/workspaces/{workspace_id}/scans",
        files={"file": (filename, content, "application/octet-stream")},
        data=fields,
    )


async def wait_for_scan(
    client: httpx.AsyncClient, url: str, within: float = 120.0
) -> tuple[dict[str, Any], list[str]]:
    """Poll a scan until it is applied or failed; also return every status seen on the way."""
    deadline = time.monotonic() + within
    seen: list[str] = []
    while True:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        scan: dict[str, Any] = response.json()
        if not seen or seen[-1] != scan["status"]:
            seen.append(scan["status"])
        if scan["status"] in FINAL:
            return scan, seen
        assert time.monotonic() < deadline, f"scan still {scan['status']} after {within} s"
        await asyncio.sleep(0.1)


async def import_scan(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    workspace_id: str,
    content: bytes,
    **fields: str,
) -> dict[str, Any]:
    """Upload a scan, wait until it is applied and the inventory read model shows it."""
    response = await upload_scan(client, workspace_id, content, **fields)
    assert response.status_code == 202, response.text
    scan, _ = await wait_for_scan(client, response.headers["location"])
    assert scan["status"] == "applied", scan
    await ProjectionRunner(pool, []).wait_for(INVENTORY, workspace_id, scan["position"], 60)
    return scan


def jsonl_scan(*lines: dict[str, Any], delay: float = 0.0) -> bytes:
    """A file of the test format (tests/integration/ingest/formats.py) with these items."""
    rows = [{"vigil-test": 1, "delay": delay}, *lines, {"end": len(lines)}]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)
