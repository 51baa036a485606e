"""A replay folds in memory and runs in parts: the read models end exactly as the live ones.

The live models are built the way the services build them (a catch-up after
every append); the rebuild goes through the folds of the inventory and stats
projections, with saves at the end only or after every batch (forgetting
what they hold, so that later batches load it back), and in worker processes.
"""

from __future__ import annotations

import os
import secrets
from typing import ClassVar

import asyncpg
import pytest

from services.api.dependencies import projections as api_projections
from services.ingest.projections import ingest_projections
from services.stats.projections import StatsProjection
from shared.contracts import HostChanged, RecordedEvent
from shared.database import Connection
from shared.eventstore import EventStore
from shared.migrations import apply_migrations
from shared.projections import Projection, ProjectionRunner
from shared.replay import Replayer, ReplayError
from tests.integration.replay.varied_history import VariedHistory

pytestmark = pytest.mark.usefixtures("read_model_schemas", "stats_schema")


@pytest.fixture(scope="session")
async def stats_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await apply_migrations(conn, "stats", "services.stats")


def projections() -> list[Projection]:
    return [*api_projections(), *ingest_projections(), StatsProjection()]


async def record_live(pool: asyncpg.Pool, store: EventStore, seed: int, spaces: int) -> list[str]:
    """Varied histories of new workspaces, projected live after every append."""
    tag = secrets.token_hex(3)
    histories = [VariedHistory(f"vh-{tag}-{n}", seed + n) for n in range(spaces)]
    runner = ProjectionRunner(pool, projections())
    for appends in zip(*(h.appends(count=8) for h in histories), strict=True):
        for history, writes in zip(histories, appends, strict=True):
            recorded = await store.append(writes)
            await runner.catch_up(history.workspace, recorded[-1].position)
    return [h.workspace for h in histories]


async def rows(pool: asyncpg.Pool, workspaces: list[str]) -> dict[str, list[str]]:
    """Every row of every read model of `workspaces`, as text, sorted."""
    tables = [t for p in projections() for t in p.tables]
    async with pool.acquire() as conn:
        return {
            table: [
                row[0]
                for row in await conn.fetch(
                    f"SELECT r::text FROM {table} r WHERE workspace_id = ANY($1::text[])"
                    " ORDER BY 1",
                    workspaces,
                )
            ]
            for table in tables
        }


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"batch_size": 40}, id="saved-at-the-end"),
        pytest.param({"batch_size": 25, "save_every": 1, "hold_limit": 0}, id="saved-and-loaded"),
    ],
)
async def test_a_rebuild_of_varied_histories_equals_the_live_models(
    pool: asyncpg.Pool, store: EventStore, options: dict[str, int]
) -> None:
    spaces = await record_live(pool, store, seed=7, spaces=3)
    live = await rows(pool, spaces)
    assert live["ingest_findings"]
    assert live["stats_findings"]
    assert live["ingest_services"]

    await Replayer(pool, projections(), **options).rebuild()

    assert await rows(pool, spaces) == live


async def test_parts_in_worker_processes_rebuild_the_same_models(
    pool: asyncpg.Pool, store: EventStore, database_url: str
) -> None:
    spaces = await record_live(pool, store, seed=11, spaces=4)
    live = await rows(pool, spaces)
    replayer = Replayer(
        pool, projections(), batch_size=30, workers=2, database_url=database_url,
        min_part_events=1,
    )  # fmt: skip

    reports = await replayer.rebuild(from_position=0)

    assert await rows(pool, spaces) == live
    async with pool.acquire() as conn:
        parts = await conn.fetchval("SELECT count(DISTINCT part) FROM replay.replay_parts")
    assert parts == 2
    assert all(r.matches for r in await replayer.dry_run(workspace_ids=spaces))
    assert sum(r.events for r in reports if r.projection == "stats") > 0


async def test_an_interrupted_rebuild_in_parts_resumes_each_part_where_it_wrote(
    pool: asyncpg.Pool, store: EventStore, database_url: str
) -> None:
    spaces = await record_live(pool, store, seed=13, spaces=4)
    live = await rows(pool, spaces)
    options = {"batch_size": 20, "save_every": 20, "workers": 2, "min_part_events": 1}
    calls = 0

    def interrupt(*_: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await Replayer(pool, projections(), database_url=database_url, **options).rebuild(
            from_position=0, on_progress=interrupt
        )
    assert await rows(pool, spaces) == live, "the live model is untouched meanwhile"

    reports = await Replayer(pool, projections(), database_url=database_url, **options).rebuild()

    assert all(r.resumed_from is not None for r in reports)
    assert await rows(pool, spaces) == live


class RefusingProjection(Projection):
    """A read model that fails on a host seen again, in a worker process only.

    The worker imports it from here; it knows it is one by its process id.
    """

    name: ClassVar[str] = "test.refusing"
    event_types: ClassVar[frozenset[str]] = frozenset({HostChanged.type_name()})
    tables: ClassVar[tuple[str, ...]] = ("test_refusing",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if str(os.getpid()) != os.environ["VIGIL_TEST_REPLAY_PARENT"]:
            raise RuntimeError(f"refused position {event.position}")


async def test_a_part_that_fails_in_a_worker_fails_the_replay_with_its_reason(
    pool: asyncpg.Pool, store: EventStore, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIL_TEST_REPLAY_PARENT", str(os.getpid()))
    await record_live(pool, store, seed=17, spaces=2)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS test_refusing (workspace_id text)")
    replayer = Replayer(
        pool, [RefusingProjection()], workers=2, database_url=database_url, min_part_events=1
    )
    try:
        with pytest.raises(ReplayError, match="refused position"):
            await replayer.rebuild(from_position=0)
    finally:  # no interrupted replay left for the next tests to resume
        async with pool.acquire() as conn:
            for table in ("replay_progress", "replay_part_progress"):
                await conn.execute(
                    f"DELETE FROM replay.{table} WHERE projection = $1", RefusingProjection.name
                )
