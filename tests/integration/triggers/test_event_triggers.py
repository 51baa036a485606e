"""Event triggers: one firing per matching event, none for the others, each signed."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

from services.triggers.app import TriggersService
from shared.eventstore import EventStore
from tests.integration.triggers.conftest import (
    SECRET,
    create_trigger,
    detect,
    settled_firings,
    webhook,
)
from tests.integration.triggers.receiver import Receiver


async def test_an_event_trigger_fires_once_per_matching_event_and_never_for_others(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
) -> None:
    trigger = await create_trigger(
        client,
        workspace,
        name="criticals to SOC",
        kind="event",
        event_types=["FindingDetected", "FindingReopened"],
        condition='severity in ["high", "critical"] and cvss >= 7',
        action=webhook(receiver.url(f"/ok/{workspace}")),
    )
    expected = []
    for severity, cvss in [("low", 9.0), ("critical", 9.8), ("high", 5.0), ("info", None)]:
        fingerprint = await detect(store, workspace, severity, cvss)
        if severity in ("high", "critical") and cvss and cvss >= 7:
            expected.append(fingerprint)
    expected.append(await detect(store, workspace, "high", 7.5))

    done = await settled_firings(client, workspace, trigger["id"], len(expected))
    received = await receiver.wait_for(f"/ok/{workspace}", len(expected))

    assert sorted(f["status"] for f in done) == ["succeeded"] * len(expected)
    assert all(f["cause"] == "event" and f["attempts"] == 1 for f in done)
    bodies = [json.loads(r.body) for r in received]
    assert sorted(b["event"]["data"]["fingerprint"] for b in bodies) == sorted(expected)
    assert len({r.headers["x-vigil-event-id"] for r in received}) == len(expected)


async def test_the_webhook_signature_is_an_hmac_of_the_raw_body_under_the_trigger_secret(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
) -> None:
    trigger = await create_trigger(
        client,
        workspace,
        name="all findings",
        kind="event",
        event_types=["Finding*"],
        action=webhook(receiver.url(f"/ok/{workspace}")),
    )
    await detect(store, workspace, "medium", 5.0)

    [request] = await receiver.wait_for(f"/ok/{workspace}", 1)
    [firing] = await settled_firings(client, workspace, trigger["id"], 1)

    digest = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-vigil-signature"], f"sha256={digest}")
    body = json.loads(request.body)
    assert request.headers["x-vigil-event-id"] == body["event_id"] == firing["event_id"]
    assert body["firing_id"] == firing["firing_id"]
    assert body["trigger"] == {"id": trigger["id"], "name": "all findings"}
    assert body["event"]["type"] == "FindingDetected"
    assert request.headers["content-type"] == "application/json"


async def test_a_disabled_trigger_never_fires(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
) -> None:
    quiet = await create_trigger(
        client,
        workspace,
        name="quiet",
        kind="event",
        event_types=["FindingDetected"],
        action=webhook(receiver.url(f"/quiet/{workspace}")),
        enabled=False,
    )
    loud = await create_trigger(
        client,
        workspace,
        name="loud",
        kind="event",
        event_types=["FindingDetected"],
        action=webhook(receiver.url(f"/ok/{workspace}")),
    )
    for _ in range(3):
        await detect(store, workspace, "critical", 10.0)

    # the enabled twin has seen every event once the last one fired it
    await settled_firings(client, workspace, loud["id"], 3)

    assert await _firings_of(client, workspace, quiet["id"]) == []
    assert receiver.on(f"/quiet/{workspace}") == []


async def _firings_of(client: httpx.AsyncClient, workspace: str, trigger_id: str) -> list[object]:
    response = await client.get(f"/api/v1/workspaces/{workspace}/triggers/{trigger_id}/firings")
    found: list[object] = response.json()["firings"]
    return found


async def test_a_finding_status_action_changes_the_finding_once(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    replica: TriggersService,
) -> None:
    trigger = await create_trigger(
        client,
        workspace,
        name="auto-accept info",
        kind="event",
        event_types=["FindingDetected"],
        condition="severity == 'info'",
        action={"type": "finding_status", "status": "risk_accepted", "comment": "info is fine"},
    )
    info = await detect(store, workspace, "info")
    await detect(store, workspace, "high", 8.0)

    [firing] = await settled_firings(client, workspace, trigger["id"], 1)

    assert firing["status"] == "succeeded", firing
    history = await store.read_stream(f"finding-{info}")
    assert [e.type for e in history] == ["FindingDetected", "FindingStatusChanged"]
    assert history[1].data.status == "risk_accepted"  # type: ignore[attr-defined]


async def test_a_report_action_records_report_requested_once(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    replica: TriggersService,
) -> None:
    trigger = await create_trigger(
        client,
        workspace,
        name="report on criticals",
        kind="event",
        event_types=["FindingDetected"],
        condition="severity == 'critical'",
        action={"type": "report", "format": "html", "template": "technical"},
    )
    await detect(store, workspace, "critical", 9.9)

    [firing] = await settled_firings(client, workspace, trigger["id"], 1)

    assert firing["status"] == "succeeded", firing
    requested = await store.read_all(workspace_id=workspace, types=["ReportRequested"])
    assert len(requested) == 1
    assert requested[0].data.format == "html"  # type: ignore[attr-defined]
