"""`Replayer`: shadow rebuilds that swap in atomically, resume, and compare without touching."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest

from shared.eventstore import EventStore
from shared.projections import ProjectionRunner
from shared.replay import DRY_RUN_SCHEMA, ReplayBusy, Replayer
from tests.integration.replay.conftest import (
    all_projections,
    index_names,
    project_live,
    snapshot,
)
from tests.integration.replay.history import record_history, scan_writes

pytestmark = pytest.mark.usefixtures("read_model_schemas")


def workspaces(count: int) -> list[str]:
    tag = secrets.token_hex(4)
    return [f"rp-{tag}-{i}" for i in range(count)]


async def test_rebuild_swaps_in_a_model_equal_to_the_live_one(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    spaces = workspaces(2)
    await record_history(store, spaces, scans=3, hosts=5, rules=4)
    await project_live(pool, spaces)
    live = await snapshot(pool, spaces)
    indexes = await index_names(pool, "ingest_findings")

    reports = await Replayer(pool, all_projections(), batch_size=50).rebuild()

    assert {r.projection for r in reports} == {p.name for p in all_projections()}
    assert await snapshot(pool, spaces) == live
    assert await index_names(pool, "ingest_findings") == indexes
    head = await store.head_position()
    runner = ProjectionRunner(pool, all_projections())
    for workspace in spaces:
        assert await runner.checkpoint("ingest.inventory", workspace) == head


async def test_dry_run_matches_then_reports_a_tampered_row_without_touching_it(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    spaces = workspaces(1)
    await record_history(store, spaces, scans=2, hosts=3, rules=3)
    await project_live(pool, spaces)
    replayer = Replayer(pool, all_projections())

    clean = await replayer.dry_run(workspace_ids=spaces)
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE ingest_findings SET title = 'tampered' WHERE workspace_id = $1"
            " AND fingerprint = (SELECT min(fingerprint) FROM ingest_findings"
            " WHERE workspace_id = $1)",
            spaces[0],
        )
    tampered = await replayer.dry_run(workspace_ids=spaces)

    assert all(report.matches for report in clean)
    inventory = next(r for r in tampered if r.projection == "ingest.inventory")
    findings = next(d for d in inventory.diffs if d.table == "ingest_findings")
    assert (findings.only_live, findings.only_rebuilt) == (1, 1)
    assert "tampered" in findings.live_samples[0]
    assert all(d.matches for d in inventory.diffs if d.table != "ingest_findings")
    async with pool.acquire() as conn:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM ingest_findings"
                " WHERE title = 'tampered' AND workspace_id = $1",
                spaces[0],
            )
            == 1
        )
        assert await conn.fetchval("SELECT to_regnamespace($1)", DRY_RUN_SCHEMA) is None


async def test_an_interrupted_rebuild_resumes_where_it_stopped(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    spaces = workspaces(2)
    await record_history(store, spaces, scans=3, hosts=4, rules=3)
    await project_live(pool, spaces)
    live = await snapshot(pool, spaces)
    seen: list[int] = []

    def interrupt(_: str, done: int, total: int) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise KeyboardInterrupt

    # Folds save every 40 events here, so the second run resumes on rows they saved.
    with pytest.raises(KeyboardInterrupt):
        await Replayer(pool, all_projections(), batch_size=40, save_every=40).rebuild(
            on_progress=interrupt
        )
    assert await snapshot(pool, spaces) == live, "the live model is untouched meanwhile"

    reports = await Replayer(pool, all_projections(), batch_size=40, save_every=40).rebuild()

    assert all(r.resumed_from is not None for r in reports)
    assert await snapshot(pool, spaces) == live
    assert all(r.matches for r in await Replayer(pool, all_projections()).dry_run())


async def test_events_appended_and_projected_during_a_rebuild_are_in_the_swapped_model(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    spaces = workspaces(2)
    await record_history(store, spaces, scans=2, hosts=4, rules=3)
    await project_live(pool, spaces)
    runner = ProjectionRunner(pool, all_projections())
    stop = asyncio.Event()

    async def live_service() -> None:
        scan = 10
        while not stop.is_set():
            for workspace in spaces:
                recorded = await store.append(scan_writes(workspace, scan, 4, 3, seed=1))
                await runner.catch_up(workspace, recorded[-1].position)
            scan += 1
            await asyncio.sleep(0.01)

    service = asyncio.create_task(live_service())
    try:
        await Replayer(pool, all_projections(), batch_size=30).rebuild()
    finally:
        stop.set()
        await service
    await project_live(pool, spaces)

    reports = await Replayer(pool, all_projections()).dry_run(workspace_ids=spaces)
    assert all(r.matches for r in reports), [d for r in reports for d in r.diffs if not d.matches]


async def test_a_second_replay_of_the_same_projection_is_refused_while_one_runs(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    await record_history(store, workspaces(1), scans=1, hosts=2, rules=2)
    started = asyncio.Event()
    release = asyncio.Event()

    def hold(*_: object) -> None:
        started.set()

    first = Replayer(pool, all_projections(), batch_size=10)
    task = asyncio.create_task(first.rebuild(on_progress=hold))
    await asyncio.wait_for(started.wait(), 30)
    try:
        with pytest.raises(ReplayBusy, match="already running"):
            await Replayer(pool, all_projections()).rebuild()
    finally:
        release.set()
        await task
