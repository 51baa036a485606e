"""Two replicas of the triggers service: every cause fires exactly once between them."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

import httpx

from services.triggers.app import TriggersService
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.triggers.conftest import (
    create_trigger,
    detect,
    settled_firings,
    webhook,
)
from tests.integration.triggers.receiver import Receiver
from tests.support.processes import REPO, service_env, stop

EVENTS = 40


async def _start_replica(settings: Settings) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.triggers.replica_process",
        env=service_env(settings),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout
    while (
        line := await asyncio.wait_for(process.stdout.readline(), 60)
    ).strip() != b"worker ready":
        assert line, "the replica exited before it was ready"
    return process


async def test_with_two_replicas_the_receiver_sees_no_duplicates(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
    settings: Settings,
) -> None:
    second = await _start_replica(settings)
    try:
        on_event = await create_trigger(
            client,
            workspace,
            name="every finding",
            kind="event",
            event_types=["FindingDetected"],
            action=webhook(receiver.url(f"/ok/{workspace}/event")),
        )
        ticking = await create_trigger(
            client,
            workspace,
            name="every second",
            kind="schedule",
            every_seconds=1,
            action=webhook(receiver.url(f"/ok/{workspace}/tick")),
        )
        fingerprints = [await detect(store, workspace, "high", 8.0) for _ in range(EVENTS)]
        await settled_firings(client, workspace, on_event["id"], EVENTS)
        await settled_firings(client, workspace, ticking["id"], 3)
        await client.post(f"/api/v1/workspaces/{workspace}/triggers/{ticking['id']}/disable")
        ticks = await settled_firings(client, workspace, ticking["id"], 3)
        await receiver.wait_for(f"/ok/{workspace}/tick", len(ticks))
    finally:
        await stop(second)

    events = receiver.on(f"/ok/{workspace}/event")
    seen = Counter(json.loads(r.body)["event"]["data"]["fingerprint"] for r in events)
    assert seen == Counter(fingerprints)
    tick_ids = Counter(r.headers["x-vigil-event-id"] for r in receiver.on(f"/ok/{workspace}/tick"))
    assert all(count == 1 for count in tick_ids.values())
    assert len(tick_ids) == len(ticks)
    firing_ids = [json.loads(r.body)["firing_id"] for r in receiver.requests]
    assert len(firing_ids) == len(set(firing_ids))
