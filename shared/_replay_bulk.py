"""The bulk pass of a replay: the log up to a target applied to shadow tables, part by part.

`shared.replay` shares the log's workspaces out among *parts*; a part reads
the events of its workspaces in log order, a batch at a time, and hands each
projection the events of its types. Projections apply a workspace's events in
log order and never look at another workspace's rows, so parts need no
coordination and together leave the tables exactly as one pass would.

A projection with a `Fold` folds its events in memory and writes them every
`save_every` events; the others apply each batch with `Projection.apply_batch`,
their statements sent in pipelined runs (`_Pipeline`), since nobody reads a
shadow table while it is built. Each write commits together with the part's
own progress row, so an interrupted pass resumes, part by part, where each
part last wrote. Part 0 runs in the caller's process, the others in worker
processes (`shared._replay_worker`), so a replay uses every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any, cast

from shared._shadow import quote
from shared.eventstore import record_from_row

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence

    import asyncpg

    from shared.database import Connection
    from shared.projections import Fold, Projection

__all__ = ("PartJob", "Track", "run_part")

_SELECT = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
    " WHERE position > $1 AND position <= $2 AND event_type = ANY($3::text[])"
)


@dataclasses.dataclass
class Track:
    """One projection's share of a part: where it starts (what it wrote before), its target."""

    projection: Projection
    position: int
    target: int
    bounds: dict[str, int] | None = None
    """Per workspace, the last position to apply (a dry run stops at the live checkpoints)."""
    empty: bool = False
    """Nothing of the part's workspaces is in the shadow yet: a fold need load nothing."""


@dataclasses.dataclass
class PartJob:
    """What one part does: which workspaces (None: all), which projections, in which schema."""

    part: int
    schema: str
    workspaces: list[str] | None
    tracks: list[Track]
    batch_size: int
    save_every: int
    hold_limit: int


@dataclasses.dataclass
class _Running:
    """A track while its part runs: what is folded but not yet written."""

    track: Track
    fold: Fold | None
    folded: int
    unsaved: int = 0
    applied: int = 0


class _Pipeline:
    """A stand-in connection that sends runs of the same statement as one ``executemany``.

    asyncpg pipelines ``executemany``, so a projection replaying thousands of
    events into a shadow table does not wait for a round trip per statement.
    Order is kept: a different statement, or any read, flushes the run first.
    Results of buffered ``execute`` calls are not available (projections
    ignore them).
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._query: str | None = None
        self._args: list[tuple[Any, ...]] = []

    async def execute(self, query: str, *args: Any) -> str:
        if not args:
            await self.flush()
            return await self._conn.execute(query)
        if query != self._query:
            await self.flush()
            self._query = query
        self._args.append(args)
        return ""

    async def flush(self) -> None:
        query, batch = self._query, self._args
        self._query, self._args = None, []
        if query is None or not batch:
            return
        if len(batch) == 1:
            await self._conn.execute(query, *batch[0])
        else:
            await self._conn.executemany(query, batch)

    async def fetch(self, query: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        await self.flush()
        return await self._conn.fetch(query, *args, **kwargs)

    async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        await self.flush()
        row: asyncpg.Record | None = await self._conn.fetchrow(query, *args, **kwargs)
        return row

    async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
        await self.flush()
        return await self._conn.fetchval(query, *args, **kwargs)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]], **kw: Any) -> None:
        await self.flush()
        await self._conn.executemany(query, args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def run_part(
    pool: asyncpg.Pool, job: PartJob, on_progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Apply the part's share of the log to its tracks' shadows; events applied, by projection.

    `on_progress` gets (log positions covered, positions to cover) after each
    batch. The next batch is read while this one is applied; folds fold it
    in memory, and the other projections apply it together, in one
    transaction: PostgreSQL works on one while another folds here.
    """
    running = [
        _Running(t, t.projection.start_fold(empty=t.empty), t.position)
        for t in job.tracks
        if t.position < t.target
    ]
    if not running:
        return {}
    first = min(r.folded for r in running)
    target = max(r.track.target for r in running)
    types = sorted({t for r in running for t in r.track.projection.event_types})

    def read(after: int) -> asyncio.Future[list[Any]]:
        upper = min(after + job.batch_size, target)
        return asyncio.ensure_future(_read(pool, after, upper, types, job.workspaces))

    reading = read(first)
    try:
        for after in range(first, target, job.batch_size):
            upper = min(after + job.batch_size, target)
            events = await reading
            if upper < target:
                reading = read(upper)
            active = [r for r in running if r.folded < min(upper, r.track.target)]
            applying = [r for r in active if r.fold is None]
            steps = [
                _fold(pool, job, run, run.fold, events, upper)
                for run in active
                if run.fold is not None
            ]
            if applying:
                wanted = {t for r in applying for t in r.track.projection.event_types}
                theirs = [event for event in events if event.type in wanted]
                steps.append(_apply_committed(pool, job, applying, theirs, upper))
            await _side_by_side(steps)
            if on_progress is not None:
                on_progress(upper - first, target - first)
    finally:
        reading.cancel()
    return {r.track.projection.name: r.applied for r in running}


async def _side_by_side(steps: list[Coroutine[Any, Any, None]]) -> None:
    """Run `steps` concurrently; if one fails, stop the others and raise its error as it is."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _read(
    pool: asyncpg.Pool, after: int, upper: int, types: list[str], workspaces: list[str] | None
) -> list[Any]:
    query, args = _SELECT, [after, upper, types]
    if workspaces is not None:
        query, args = f"{query} AND workspace_id = ANY($4::text[])", [*args, workspaces]
    async with pool.acquire() as conn:
        rows = await conn.fetch(f"{query} ORDER BY position", *args)
    return [record_from_row(row) for row in rows]


async def _apply_committed(
    pool: asyncpg.Pool, job: PartJob, runs: list[_Running], events: list[Any], upper: int
) -> None:
    """Apply a batch to projections without folds, with their progress, in one transaction."""
    async with _shadow_transaction(pool, job.schema) as conn:
        for run in runs:
            run_upper = min(upper, run.track.target)
            chosen = _chosen(run, events, run_upper)
            pipeline = _Pipeline(conn)
            if chosen:
                await run.track.projection.apply_batch(cast("Connection", pipeline), chosen)
            await pipeline.flush()
            run.applied += len(chosen)
            run.folded = run_upper
        await _record_progress(conn, job, runs)


async def _fold(
    pool: asyncpg.Pool, job: PartJob, run: _Running, fold: Fold, events: list[Any], upper: int
) -> None:
    """Fold a batch into memory; write the fold, with its progress, when a save is due.

    A save is due at the end of the pass, and every `save_every` events
    before it. A fold that knows all its rows needs no connection meanwhile.
    """
    upper = min(upper, run.track.target)
    window = _window(run, events, upper)
    run.folded = upper
    if not fold.knows_all:
        async with _shadow_transaction(pool, job.schema) as conn:
            await fold.load(conn, window)
    applied = fold.fold(window)
    run.applied += applied
    run.unsaved += applied
    if upper < run.track.target and run.unsaved < job.save_every:
        return
    async with _shadow_transaction(pool, job.schema) as conn:
        await fold.save(conn)
        await _record_progress(conn, job, [run])
    run.unsaved = 0
    if fold.held > job.hold_limit:
        fold.forget()


@contextlib.asynccontextmanager
async def _shadow_transaction(pool: asyncpg.Pool, schema: str) -> AsyncIterator[Connection]:
    """A pooled connection in a transaction that writes `schema`'s shadow tables.

    Unqualified table names mean the shadow's, and the commit does not wait
    for its WAL to reach the disk: a shadow write that a crash loses is lost
    together with its part's progress row, and simply done again.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT set_config('search_path', quote_ident($1) || ', '"
            " || current_setting('search_path'), true),"
            " set_config('synchronous_commit', 'off', true)",
            schema,
        )
        yield conn


async def _record_progress(conn: Connection, job: PartJob, runs: list[_Running]) -> None:
    """Record, in the caller's transaction, that `runs` have written up to where they folded."""
    await conn.executemany(
        f"UPDATE {quote(job.schema)}.replay_part_progress SET position = $3"
        " WHERE projection = $1 AND part = $2",
        [(run.track.projection.name, job.part, run.folded) for run in runs],
    )


def _window(run: _Running, events: list[Any], upper: int) -> list[Any]:
    """The events of a batch the run has yet to apply: up to `upper` and its track's bounds."""
    bounds = run.track.bounds
    whole = events and run.folded < events[0].position and events[-1].position <= upper
    if whole and bounds is None:
        return events
    return [
        event
        for event in events
        if run.folded < event.position <= upper
        and (bounds is None or event.position <= bounds.get(event.workspace_id, 0))
    ]


def _chosen(run: _Running, events: list[Any], upper: int) -> list[Any]:
    """The events of a batch the run's projection applies (its types, in its window)."""
    types = run.track.projection.event_types
    return [event for event in _window(run, events, upper) if event.type in types]
