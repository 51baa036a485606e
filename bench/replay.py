"""(e) `vigil replay --all` throughput against reading and decoding the same log raw."""

from __future__ import annotations

import os
import time
from importlib import resources

import asyncpg

from bench.harness import Figure, report
from services.cli.replay import known_projections
from shared.database import connect_pool
from shared.eventstore import EventStore, record_from_row
from shared.migrations import apply_migrations
from shared.projections import Projection, ProjectionRunner
from shared.replay import Replayer
from shared.settings import Settings
from tests.integration.replay.history import scan_writes

EVENTS = int(os.environ.get("VIGIL_BENCH_REPLAY_EVENTS", "1000000"))
"""Log size: the issue's 1,000,000 events by default (about a minute to write, then seconds
to read and replay on a 2-core box); set VIGIL_BENCH_REPLAY_EVENTS for a quicker look. A
smaller log weighs the fixed end of a replay (indexes, ANALYZE, swap) more."""
WORKSPACES, HOSTS, RULES = 10, 200, 10
_SELECT = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
    " WHERE position > $1 AND position <= $2 ORDER BY position"
)


async def _projected_live(
    pool: asyncpg.Pool, projections: list[Projection], replayer: Replayer
) -> bool:
    """Project two workspaces live, as the services do; does a rebuild of them equal that?"""
    sample = [f"bench-{w}" for w in range(min(2, WORKSPACES))]
    runner = ProjectionRunner(pool, projections)
    head = await EventStore(pool).head_position()
    for workspace in sample:
        await runner.catch_up(workspace, head)
    return all(check.matches for check in await replayer.dry_run(workspace_ids=sample))


async def run(settings: Settings) -> list[Figure]:
    assert settings.database_url
    pool = await connect_pool(settings.database_url, max_size=8)
    store = EventStore(pool)
    projections = [projection for _, projection in known_projections().values()]
    async with pool.acquire() as conn:
        for service in {service for service, _ in known_projections().values()}:
            package = f"services.{service}"
            if (resources.files(package) / "schema").is_dir():
                await apply_migrations(conn, service, package)
    scan = 0
    while await store.head_position() < EVENTS:
        for w in range(WORKSPACES):
            await store.append(scan_writes(f"bench-{w}", scan, HOSTS, RULES, seed=w))
        scan += 1
    head = await store.head_position()
    print(f"   log: {head:,} events, {WORKSPACES} workspaces, {scan} scans each", flush=True)
    replayer = Replayer(
        pool, projections, workers=os.cpu_count() or 1, database_url=settings.database_url
    )
    live = await _projected_live(pool, projections, replayer)

    started = time.perf_counter()
    async with pool.acquire() as conn:
        for after in range(0, head, 20_000):
            rows = await conn.fetch(_SELECT, after, min(after + 20_000, head))
            decoded = [record_from_row(row) for row in rows]
            assert decoded
    raw = head / (time.perf_counter() - started)

    started = time.perf_counter()
    reports = await replayer.rebuild()
    ours = head / (time.perf_counter() - started)
    assert {r.projection for r in reports} == {p.name for p in projections}
    await pool.close()
    names = ", ".join(sorted(p.name for p in projections))
    print(f"   replayed: {names}; a rebuild equals the models projected live: {live}")
    return [
        report(Figure("log read + decode, raw asyncpg (ceiling)", raw, "events/s")),
        report(
            Figure(
                f"replay --all ({len(projections)} projections, shadow + swap)",
                ours,
                "events/s",
                ceiling=raw,
                target="ratio >= 0.5",
                meets=ours / raw >= 0.5,
            )
        ),
    ]
