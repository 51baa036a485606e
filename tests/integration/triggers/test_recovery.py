"""A firing claimed by a replica that died before its action ran is run again, once."""

from __future__ import annotations

import datetime as dt

import httpx

from services.triggers.app import TriggersService
from services.triggers.domain import schedule_firing
from shared.contracts import firing_stream
from shared.eventstore import EventStore
from tests.integration.triggers.conftest import create_trigger, settled_firings, webhook
from tests.integration.triggers.receiver import Receiver


async def test_a_pending_firing_left_by_a_crash_is_run_once(
    client: httpx.AsyncClient,
    workspace: str,
    store: EventStore,
    receiver: Receiver,
    replica: TriggersService,
) -> None:
    trigger = await create_trigger(
        client,
        workspace,
        name="yearly",
        kind="schedule",
        cron="0 0 1 1 *",
        action=webhook(receiver.url(f"/ok/{workspace}")),
    )
    # what a replica records before it crashes: the claim, and no outcome
    tick = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    orphan = schedule_firing(trigger["id"], workspace, 1, tick, tick)
    await store.append_to_stream(
        firing_stream(orphan.firing_id), workspace, [orphan], expected_version=0
    )

    [firing] = await settled_firings(client, workspace, trigger["id"], 1)
    await replica.actions.sweep(older_than=dt.timedelta(0))
    await replica.actions.drain()

    assert firing["status"] == "succeeded"
    assert len(receiver.on(f"/ok/{workspace}")) == 1
    assert [e.type for e in await store.read_stream(firing_stream(orphan.firing_id))] == [
        "TriggerFired",
        "ActionSucceeded",
    ]
