"""The stats service as it runs: live projection, throttled StatsUpdated, replicas, rebuild."""

from __future__ import annotations

import asyncio
import itertools
import time

import asyncpg
from litestar.testing import AsyncTestClient

from services.stats.app import create_app
from services.stats.runner import StatsRunner
from shared.contracts import StatsUpdated, stats_stream
from shared.eventstore import EventStore
from shared.settings import Settings
from tests.integration.stats.support import (
    append_findings,
    closed,
    detected,
    forget_workspace,
    last_position,
    snapshot,
    wait_for_stats,
)


async def announcements(store: EventStore, workspace_id: str) -> list[StatsUpdated]:
    events = await store.read_stream(stats_stream(workspace_id))
    return [e.data for e in events if isinstance(e.data, StatsUpdated)]


async def wait_announced(
    store: EventStore, pool: asyncpg.Pool, workspace_id: str, within: float = 60.0
) -> list[StatsUpdated]:
    """Poll until a StatsUpdated announces the workspace's newest relevant event."""
    target = await last_position(pool, workspace_id)
    deadline = time.monotonic() + within
    while True:
        updates = await announcements(store, workspace_id)
        if updates and updates[-1].position >= target:
            return updates
        assert time.monotonic() < deadline, (updates, target)
        await asyncio.sleep(0.05)


async def test_events_are_projected_live_and_announced(
    stats_service: None, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    await append_findings(store, workspace_id, [detected(workspace_id, n) for n in range(10)])
    await wait_for_stats(pool, workspace_id)
    [update] = await wait_announced(store, pool, workspace_id)
    assert (update.findings, update.open) == (10, 10)
    assert (update.open_critical, update.open_info) == (2, 2)
    assert update.risk_score > 0


async def test_many_findings_give_few_throttled_updates(
    stats_service: None, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    started = time.monotonic()
    for start in range(0, 300, 5):
        batch = [detected(workspace_id, n) for n in range(start, start + 5)]
        await append_findings(store, workspace_id, batch)
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    updates = await wait_announced(store, pool, workspace_id)
    assert 1 <= len(updates) <= elapsed + 3, (len(updates), elapsed)
    assert (updates[-1].findings, updates[-1].open) == (300, 300)
    positions = [u.position for u in updates]
    assert positions == sorted(set(positions))
    recorded = [e.recorded_at for e in await store.read_stream(stats_stream(workspace_id))]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(recorded)]
    assert all(gap >= 0.9 for gap in gaps), gaps


async def test_two_replicas_give_the_numbers_of_one_and_no_duplicate_updates(
    stats_service: None, settings: Settings, store: EventStore, pool: asyncpg.Pool
) -> None:
    workspaces = [f"ws-replica-{time.monotonic_ns()}-{i}" for i in range(3)]
    async with AsyncTestClient(create_app(settings)) as second:
        assert (await second.get("/ready")).status_code == 200

        async def feed(workspace_id: str) -> None:
            for start in range(0, 60, 3):
                events = [detected(workspace_id, n) for n in range(start, start + 3)]
                await append_findings(store, workspace_id, events)
            await append_findings(
                store, workspace_id, [closed(workspace_id, n) for n in range(0, 60, 6)]
            )

        await asyncio.gather(*(feed(w) for w in workspaces))
        for workspace_id in workspaces:
            await wait_for_stats(pool, workspace_id)
            await wait_announced(store, pool, workspace_id)
    for workspace_id in workspaces:
        replicated = await snapshot(pool, workspace_id)
        assert len(replicated["stats_findings"]) == 60
        updates = await announcements(store, workspace_id)
        positions = [u.position for u in updates]
        assert positions == sorted(set(positions)), positions
        assert updates[-1].open == 50

        await forget_workspace(pool, workspace_id)
        await StatsRunner(pool, notify=False).catch_up(
            workspace_id, await last_position(pool, workspace_id)
        )
        assert await snapshot(pool, workspace_id) == replicated


async def test_rebuild_from_the_log_gives_identical_tables(
    stats_service: None, store: EventStore, pool: asyncpg.Pool, workspace_id: str
) -> None:
    await append_findings(store, workspace_id, [detected(workspace_id, n) for n in range(25)])
    await append_findings(store, workspace_id, [closed(workspace_id, n) for n in range(0, 25, 5)])
    await wait_for_stats(pool, workspace_id)
    live = await snapshot(pool, workspace_id)
    runner = StatsRunner(pool, notify=False)
    await runner.rebuild(runner.projection)
    await wait_for_stats(pool, workspace_id)
    assert await snapshot(pool, workspace_id) == live
