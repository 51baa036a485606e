"""The gateway, a triggers replica and a webhook receiver, on the session's real servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from services.triggers.app import TriggersService, triggers_runtime
from shared.contracts import FindingDetails, FindingDetected, finding_stream
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.api import conftest as gateway
from tests.integration.triggers.receiver import Receiver

SECRET = "s3cret-for-tests-0123456789"

# The gateway's fixtures, served to this package too.
api = gateway.api
admin_token = gateway.admin_token
make_token = gateway.make_token
client = gateway.client
anonymous = gateway.anonymous
workspace = gateway.workspace


@pytest.fixture(scope="package")
async def replica(settings: Settings, api: gateway.Api) -> AsyncIterator[TriggersService]:
    """One replica of the triggers service in this process."""
    async with triggers_runtime(settings, poll=0.1, configure_logs=False) as service:
        yield service


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def webhook(url: str, **options: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET, **options}


async def create_trigger(client: httpx.AsyncClient, workspace: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/workspaces/{workspace}/triggers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def detect(
    store: EventStore, workspace: str, severity: str, cvss: float | None = None
) -> str:
    """Record a `FindingDetected` of `severity`, as an import would; returns its fingerprint."""
    fingerprint = secrets.token_hex(8)
    now = dt.datetime.now(dt.UTC)
    event = FindingDetected(
        workspace_id=workspace,
        fingerprint=fingerprint,
        asset_id="asset-1",
        asset_kind="host",
        asset_key="10.0.0.1",
        scanner="test",
        scan_id="scan-1",
        scan_sha256="0" * 64,
        first_seen=now,
        details=FindingDetails(title=f"{severity} issue", severity=severity, cvss_score=cvss),
    )
    await store.append_to_stream(
        finding_stream(fingerprint), workspace, [event], expected_version=0
    )
    return fingerprint


async def firings(
    client: httpx.AsyncClient, workspace: str, trigger_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/workspaces/{workspace}/triggers/{trigger_id}/firings")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["firings"]
    return found


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def settled_firings(
    client: httpx.AsyncClient, workspace: str, trigger_id: str, count: int
) -> list[dict[str, Any]]:
    """Poll until the trigger has `count` firings, none of them pending."""
    found: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal found
        found = await firings(client, workspace, trigger_id)
        return len(found) >= count and all(f["status"] != "pending" for f in found)

    try:
        await wait_until(done, f"{count} settled firings")
    except AssertionError:
        statuses = [(f["status"], f["reason"]) for f in found]
        raise AssertionError(f"{count} settled firings expected, found {statuses}") from None
    return found
