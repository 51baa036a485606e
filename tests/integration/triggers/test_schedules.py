"""Schedule triggers: every tick in a window fires once; disabling stops them."""

from __future__ import annotations

import datetime as dt
import json

import httpx

from services.triggers.app import TriggersService
from tests.integration.triggers.conftest import create_trigger, settled_firings, webhook
from tests.integration.triggers.receiver import Receiver


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def test_a_one_second_interval_fires_once_per_tick_of_the_window(
    client: httpx.AsyncClient, workspace: str, receiver: Receiver, replica: TriggersService
) -> None:
    created = await create_trigger(
        client,
        workspace,
        name="heartbeat",
        kind="schedule",
        every_seconds=1,
        action=webhook(receiver.url(f"/ok/{workspace}/heartbeat")),
    )
    url = f"/api/v1/workspaces/{workspace}/triggers/{created['id']}"
    await settled_firings(client, workspace, created["id"], 3)
    disabled = (await client.post(f"{url}/disable")).json()
    # another schedule firing twice shows the scheduler has run well past the disable
    witness = await create_trigger(
        client,
        workspace,
        name="witness",
        kind="schedule",
        every_seconds=1,
        action=webhook(receiver.url(f"/ok/{workspace}/witness")),
    )
    await settled_firings(client, workspace, witness["id"], 2)

    fired = await settled_firings(client, workspace, created["id"], 3)
    start, end = _at(created["created_at"]), _at(disabled["updated_at"])
    window = int((end - start).total_seconds())
    ticks = sorted(_at(f["scheduled_for"]) for f in fired)
    assert 3 <= len(fired) <= window
    assert len(set(ticks)) == len(ticks)
    assert all(start < tick <= end for tick in ticks)
    assert all(
        (tick - start).total_seconds() == int((tick - start).total_seconds()) for tick in ticks
    )
    assert all(f["status"] == "succeeded" and f["cause"] == "schedule" for f in fired)
    received = receiver.on(f"/ok/{workspace}/heartbeat")
    assert sorted(_at(json.loads(r.body)["scheduled_for"]) for r in received) == ticks
