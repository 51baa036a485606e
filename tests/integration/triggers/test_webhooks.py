"""Failing webhooks: retried with backoff, then ActionFailed, visible in the firings list."""

from __future__ import annotations

import httpx
import pytest

from services.triggers.app import TriggersService
from shared.eventstore import EventStore
from tests.integration.triggers.conftest import create_trigger, detect, settled_firings, webhook
from tests.integration.triggers.receiver import Receiver


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/fail", "HTTP 500; gave up after 3 attempts"), ("/slow", "timed out after 0.3 s")],
)
async def test_a_failing_webhook_is_retried_then_recorded_as_action_failed(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
    path: str,
    reason: str,
) -> None:
    hook = webhook(
        receiver.url(f"{path}/{workspace}"),
        max_attempts=3,
        timeout_seconds=0.3,
        backoff_seconds=0.05,
    )
    trigger = await create_trigger(
        client, workspace, name="flaky", kind="event", event_types=["FindingDetected"], action=hook
    )
    await detect(store, workspace, "high", 8.0)

    [firing] = await settled_firings(client, workspace, trigger["id"], 1)
    attempts = receiver.on(f"{path}/{workspace}")

    assert firing["status"] == "failed"
    assert firing["attempts"] == 3
    assert reason in firing["reason"]
    assert len(attempts) == 3
    assert len({a.headers["x-vigil-event-id"] for a in attempts}) == 1
    assert len({a.body for a in attempts}) == 1
    events = await store.read_all(workspace_id=workspace, types=["ActionFailed"])
    assert len(events) == 1
