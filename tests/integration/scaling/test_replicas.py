"""Three replicas of ingest and of stats share the work; killing one of each loses nothing."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections import Counter

import asyncpg
import pytest

from shared.contracts import FindingDetected, ScanCompleted, ScanStarted
from shared.eventstore import EventStore
from shared.objectstore import ScanObjectStore
from shared.replay import Replayer
from tests.integration.ingest.conftest import objects, upload, wait_finished
from tests.integration.ingest.formats import scan_file
from tests.integration.replay.history import scan_writes
from tests.integration.scaling.conftest import Start, scaled_projections, wait_until_projected
from tests.support.processes import kill_hard

pytestmark = pytest.mark.usefixtures("service_schemas")
__all__ = ("objects",)  # the object store fixture, shared with the ingest tests


def hosts(workspace: str, scan: int, count: int) -> dict[str, list[str]]:
    """Overlapping hosts between scans, so later imports observe, close and reopen findings."""
    return {
        f"10.{scan % 2}.{i // 200}.{i % 200}": [f"p{(i + scan) % 3}", f"r{i % 4}"]
        for i in range(count)
    }


async def assert_read_models_equal_a_rebuild(pool: asyncpg.Pool, workspaces: list[str]) -> None:
    reports = await Replayer(pool, scaled_projections()).dry_run(workspace_ids=workspaces)
    assert all(report.matches for report in reports), [
        (report.projection, diff) for report in reports for diff in report.diffs if not diff.matches
    ]


async def test_killing_one_replica_of_each_service_mid_import_loses_and_repeats_nothing(
    start_replica: Start,
    store: EventStore,
    objects: ScanObjectStore,
    pool: asyncpg.Pool,
) -> None:
    ingest = await asyncio.gather(*(start_replica("ingest") for _ in range(3)))
    stats = await asyncio.gather(*(start_replica("stats") for _ in range(3)))
    workspaces = [f"sc-{secrets.token_hex(4)}-{i}" for i in range(4)]
    scans = [
        await upload(store, objects, ws, scan_file(hosts(ws, scan, 150), delay=0.003))
        for scan in range(2)
        for ws in workspaces
    ]

    async def some_import_started() -> bool:
        events = await store.read_all(types=[ScanStarted.type_name()], limit=100_000)
        return len({e.data.scan_id for e in events if e.workspace_id in workspaces}) >= 2  # type: ignore[attr-defined]

    for _ in range(600):
        if await some_import_started():
            break
        await asyncio.sleep(0.05)
    await kill_hard(ingest[0])
    await kill_hard(stats[0])

    outcomes = [await wait_finished(store, scan_id, within=180) for scan_id in scans]
    assert all(isinstance(outcome, ScanCompleted) for outcome in outcomes), outcomes
    await wait_until_projected(pool, scaled_projections(), workspaces)

    events = [e for ws in workspaces for e in await store.read_all(workspace_id=ws, limit=10**6)]
    completed = Counter(e.data.scan_id for e in events if isinstance(e.data, ScanCompleted))  # type: ignore[attr-defined]
    assert sorted(completed) == sorted(scans)
    assert set(completed.values()) == {1}
    detected = Counter(e.stream_id for e in events if isinstance(e.data, FindingDetected))
    assert set(detected.values()) == {1}
    await assert_read_models_equal_a_rebuild(pool, workspaces)


async def test_a_replica_stopped_with_sigterm_drains_and_leaves_nothing_unapplied(
    start_replica: Start, store: EventStore, pool: asyncpg.Pool
) -> None:
    replicas = await asyncio.gather(*(start_replica("stats") for _ in range(2)))
    workspaces = [f"term-{secrets.token_hex(4)}-{i}" for i in range(3)]

    async def write(scans: range) -> None:
        for scan in scans:
            for i, ws in enumerate(workspaces):
                await store.append(scan_writes(ws, scan, 20, 5, seed=i))
            await asyncio.sleep(0.02)

    await write(range(3))
    replicas[0].send_signal(signal.SIGTERM)
    await asyncio.gather(write(range(3, 8)), replicas[0].wait())

    assert replicas[0].returncode == 0, "a SIGTERM'd replica shuts down cleanly"
    await wait_until_projected(pool, scaled_projections()[2:], workspaces)
    await assert_read_models_equal_a_rebuild(pool, workspaces)
