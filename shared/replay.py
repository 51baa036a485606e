"""Rebuild read models from the log while the live ones keep serving, then swap them in.

`Replayer.rebuild` works in four steps, each safe to interrupt:

1. *Bulk*: the log up to the head at the start (the target) is applied to
   shadow tables in a ``replay`` schema, one pass for every projection, its
   workspaces shared out among parts that run side by side in processes of
   their own (`shared._replay_bulk`, `shared._replay_parts`). Each write
   commits together with its part's progress row, so a second run resumes
   where the first stopped. Projections name their tables unqualified; the
   shadow schema is searched first.
2. *Indexes*: plain indexes are built once, and every workspace of the log
   gets a shadow checkpoint at the target.
3. *Catch-up*: `ProjectionRunner` brings the shadow to the current head,
   outside any lock.
4. *Swap*: one transaction locks the projection's live checkpoints and
   tables, applies the last few events to the shadow, replaces the live
   tables by the shadows and copies the shadow checkpoints over. The live
   consumer then continues from there; redelivered messages are no-ops.

Steps 2 and 3 run for every projection side by side; swaps go one by one.

`Replayer.dry_run` builds the same shadows in another schema up to the live
model's own checkpoints and compares them, row by row, with the live tables
(holding a SHARE lock for the comparison only), and drops them: the live
model is never written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from shared import _shadow
from shared._replay_bulk import PartJob, Track
from shared._replay_parts import assign_parts, log_shape
from shared._replay_worker import ReplayWorkerFailed, worker_processes
from shared._shadow import TableDiff, quote
from shared.projections import ProjectionRunner

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Iterable

    from shared._replay_worker import Workers
    from shared.database import Connection
    from shared.projections import Projection

__all__ = (
    "DRY_RUN_SCHEMA",
    "SHADOW_SCHEMA",
    "Progress",
    "ReplayBusy",
    "ReplayError",
    "ReplayReport",
    "Replayer",
    "TableDiff",
)

SHADOW_SCHEMA = "replay"
DRY_RUN_SCHEMA = "replay_dry"
_LOCK_CLASS = 0x76697270  # "virp": one advisory lock per projection name
_SWAP_ATTEMPTS = 5

Progress: TypeAlias = "Callable[[str, int, int], None]"
"""Progress callback: (what is being done, events done, events in total)."""


class ReplayError(RuntimeError):
    """A replay cannot run (missing tables, a bad position); the message says why."""


class ReplayBusy(ReplayError):
    """Another replay (or dry run) of the same projection is running."""


@dataclasses.dataclass(frozen=True)
class ReplayReport:
    """The outcome for one projection: the position reached and, for a dry run, the diff.

    `resumed_from` is, for a rebuild that resumed an interrupted one, the
    lowest position any of its parts took up from.
    """

    projection: str
    position: int
    events: int
    resumed_from: int | None = None
    diffs: tuple[TableDiff, ...] = ()

    @property
    def matches(self) -> bool:
        """True when every table of the rebuild equals the live one (always for a rebuild)."""
        return all(diff.matches for diff in self.diffs)


@dataclasses.dataclass
class _State:
    projection: Projection
    tables: dict[str, str]
    start_after: int
    target: int
    bounds: dict[str, int] | None = None
    applied: int = 0
    resumed_from: int | None = None
    workspaces: list[str] | None = None
    """Every workspace with events up to the target (known once the bulk pass is planned)."""


class Replayer:
    """Rebuilds a set of projections from the log (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Iterable[Projection],
        *,
        batch_size: int = 20_000,
        save_every: int = 250_000,
        hold_limit: int = 200_000,
        workers: int = 1,
        database_url: str | None = None,
        min_part_events: int = 50_000,
    ) -> None:
        """Replays `batch_size` positions a read; folds save every `save_every` events.

        `save_every` bounds what an interrupted run redoes; a fold holding
        more than `hold_limit` rows after a save forgets them (memory). Up to
        `workers` parts run side by side, all but one in worker processes
        that connect to `database_url` (needed when `workers` > 1), each
        with at least `min_part_events` events to apply.
        """
        if workers > 1 and database_url is None:
            raise ValueError("replay workers need the database URL")
        self._pool = pool
        self.projections = tuple(projections)
        self._batch = batch_size
        self._save_every = save_every
        self._hold_limit = hold_limit
        self._workers = workers
        self._database_url = database_url
        self._min_part_events = min_part_events

    async def rebuild(
        self, *, from_position: int | None = None, on_progress: Progress | None = None
    ) -> list[ReplayReport]:
        """Rebuild every projection into shadow tables and swap them in; resumes by default.

        `from_position` starts afresh, applying only the events after it (0:
        the whole log) and discarding an interrupted rebuild.

        Raises:
            ReplayBusy: another replay of one of the projections is running.
            ReplayError: a projection's tables do not exist, the position is
                past the head, or a worker process failed.
        """
        async with self._locked() as conn:
            head = await _head(conn)
            if from_position is not None and not 0 <= from_position <= head:
                raise ReplayError(f"--from {from_position} is outside the log (head {head})")
            async with self._workers_for(head) as workers:
                states = [
                    await self._prepare(conn, p, SHADOW_SCHEMA, from_position, head)
                    for p in self.projections
                ]
                await self._bulk(conn, workers, states, SHADOW_SCHEMA, on_progress)
            async with asyncio.TaskGroup() as group:
                for state in states:
                    group.create_task(self._finish(state))
            reports = []
            for state in states:
                position = await self._swap(state)
                reports.append(
                    ReplayReport(
                        state.projection.name,
                        position,
                        state.applied,
                        resumed_from=state.resumed_from,
                    )
                )
            return reports

    async def dry_run(
        self, *, on_progress: Progress | None = None, workspace_ids: list[str] | None = None
    ) -> list[ReplayReport]:
        """Rebuild into throw-away tables up to the live checkpoints and compare (see module)."""
        async with self._locked() as conn:
            try:
                async with self._workers_for(await _head(conn)) as workers:
                    states = []
                    for projection in self.projections:
                        state = await self._prepare(conn, projection, DRY_RUN_SCHEMA, 0, 0)
                        state.bounds = await _checkpoints(conn, projection.name)
                        state.target = max(state.bounds.values(), default=0)
                        states.append(state)
                    await self._bulk(conn, workers, states, DRY_RUN_SCHEMA, on_progress)
                async with asyncio.TaskGroup() as group:
                    for state in states:
                        group.create_task(self._finish_bulk(state, DRY_RUN_SCHEMA))
                return [await self._compare(state, workspace_ids) for state in states]
            finally:
                await conn.execute(f"DROP SCHEMA IF EXISTS {quote(DRY_RUN_SCHEMA)} CASCADE")

    def _workers_for(self, head: int) -> contextlib.AbstractAsyncContextManager[Workers]:
        """Worker processes for a log of `head` events, started ahead of the planning."""
        spare = self._workers - 1 if head >= 2 * self._min_part_events else 0
        return worker_processes(spare, self._database_url, self.projections)

    def _locked(self) -> _ProjectionLocks:
        return _ProjectionLocks(self._pool, [p.name for p in self.projections])

    async def _prepare(
        self, conn: Connection, projection: Projection, schema: str, start: int | None, head: int
    ) -> _State:
        tables = {}
        for table in projection.tables:
            found = await _shadow.live_schema(conn, table)
            if found is None:
                raise ReplayError(
                    f"table {table!r} of projection {projection.name!r} does not exist:"
                    " start its service once (or apply its migrations) before replaying it"
                )
            tables[table] = found
        checkpoints_in = await _shadow.live_schema(conn, "projection_checkpoints")
        assert checkpoints_in is not None, "the shared schema is applied by connect_pool"
        name, progress = projection.name, f"{quote(schema)}.replay_progress"
        async with conn.transaction():
            await _shadow.ensure_schema(conn, schema, checkpoints_in)
            row = await conn.fetchrow(
                f"SELECT start_after, target, (SELECT min(position)"
                f" FROM {quote(schema)}.replay_part_progress p WHERE p.projection = $1) AS at"
                f" FROM {progress} WHERE projection = $1",
                name,
            )
            resumable = row is not None and row["at"] is not None
            if resumable and start is None and await _all_exist(conn, schema, tables):
                assert row is not None
                return _State(
                    projection,
                    tables,
                    row["start_after"],
                    row["target"],
                    resumed_from=row["at"],
                )
            start = start or 0
            for table, live_in in tables.items():
                await _shadow.create_shadow_table(conn, schema, live_in, table)
            for table in ("projection_checkpoints", "replay_part_progress"):
                await conn.execute(
                    f"DELETE FROM {quote(schema)}.{table} WHERE projection = $1", name
                )
            await conn.execute(
                f"INSERT INTO {progress} (projection, start_after, target, phase)"
                " VALUES ($1, $2, $3, 'bulk')"
                " ON CONFLICT (projection) DO UPDATE SET start_after = $2,"
                " target = $3, phase = 'bulk', started_at = now()",
                name,
                start,
                head,
            )
        return _State(projection, tables, start, head)

    async def _bulk(
        self,
        conn: Connection,
        workers: Workers,
        states: list[_State],
        schema: str,
        on_progress: Progress | None,
    ) -> None:
        """Apply the log up to each state's target to the shadows, part by part, side by side."""
        if not states:
            return
        lowest = min(s.start_after for s in states)
        shape = await log_shape(conn, lowest, max(s.target for s in states))
        for state in states:
            state.workspaces = [w for w, first in shape.first.items() if first <= state.target]
        async with conn.transaction():
            keep = await conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {quote(schema)}.replay_part_progress)"
            )
            parts = min(self._workers, sum(shape.events.values()) // self._min_part_events)
            assignment = await assign_parts(conn, schema, shape, parts, keep=keep)
            jobs = [
                PartJob(
                    part=part,
                    schema=schema,
                    workspaces=workspaces if len(assignment) > 1 else None,
                    tracks=[await self._track(conn, schema, s, part) for s in states],
                    batch_size=self._batch,
                    save_every=self._save_every,
                    hold_limit=self._hold_limit,
                )
                for part, workspaces in enumerate(assignment)
            ]

        def report(done: int, total: int) -> None:
            if on_progress is not None:
                on_progress("rebuilding", done, total)

        try:
            applied = await workers.run(self._pool, jobs, report)
        except ReplayWorkerFailed as error:
            raise ReplayError(f"the replay failed in a worker process: {error}") from None
        for state in states:
            state.applied += applied.get(state.projection.name, 0)

    @staticmethod
    async def _track(conn: Connection, schema: str, state: _State, part: int) -> Track:
        """Where `state`'s projection stands in `part` (a new part starts at the beginning)."""
        position: int = await conn.fetchval(
            f"INSERT INTO {quote(schema)}.replay_part_progress AS p (projection, part, position)"
            " VALUES ($1, $2, $3) ON CONFLICT (projection, part)"
            " DO UPDATE SET position = p.position RETURNING position",
            state.projection.name,
            part,
            state.start_after,
        )
        return Track(
            state.projection,
            position,
            state.target,
            state.bounds,
            empty=position == state.start_after,
        )

    async def _finish(self, state: _State) -> None:
        """Index the shadow and bring it close to the head (projections side by side)."""
        await self._finish_bulk(state, SHADOW_SCHEMA)
        await self._catch_up(state, SHADOW_SCHEMA)

    async def _finish_bulk(self, state: _State, schema: str) -> None:
        """Build plain indexes, analyse, and give every workspace its shadow checkpoint (once).

        Index builds and analyses run side by side, each on a connection of
        its own; a run interrupted among them builds the missing ones again.
        """
        name = state.projection.name
        async with self._pool.acquire() as conn:
            phase = await conn.fetchval(
                f"SELECT phase FROM {quote(schema)}.replay_progress WHERE projection = $1", name
            )
            if phase != "bulk":
                return
            builds = [
                build
                for table, live_in in state.tables.items()
                for build in await _shadow.deferred_indexes(conn, schema, live_in, table)
            ]
        await asyncio.gather(*(self._execute(build) for build in builds))
        shadows = [f"{quote(schema)}.{quote(table)}" for table in state.tables]
        await asyncio.gather(*(self._execute(f"ANALYZE {shadow}") for shadow in shadows))
        async with self._pool.acquire() as conn, conn.transaction():
            if state.bounds is not None:
                await conn.executemany(
                    f"INSERT INTO {quote(schema)}.projection_checkpoints"
                    " (projection, workspace_id, position) VALUES ($1, $2, $3)",
                    [(name, ws, position) for ws, position in state.bounds.items()],
                )
            else:
                assert state.workspaces is not None, "known once the bulk pass is planned"
                await conn.executemany(
                    f"INSERT INTO {quote(schema)}.projection_checkpoints"
                    " (projection, workspace_id, position) VALUES ($1, $2, $3)"
                    " ON CONFLICT DO NOTHING",
                    [(name, workspace, state.target) for workspace in state.workspaces],
                )
            await conn.execute(
                f"UPDATE {quote(schema)}.replay_progress SET phase = 'catch-up'"
                " WHERE projection = $1",
                name,
            )

    async def _execute(self, statement: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(statement)

    async def _catch_up(self, state: _State, schema: str, rounds: int = 3) -> None:
        """Bring the shadow close to the head without holding any lock on the live model."""
        runner = ProjectionRunner(self._pool, [state.projection], schema=schema)
        for _ in range(rounds):
            async with self._pool.acquire() as conn:
                head = await _head(conn)
                workspaces = await _behind(conn, schema, state.projection.name, head)
            if not workspaces:
                return
            for workspace in workspaces:
                await runner.catch_up(workspace, head)

    async def _swap(self, state: _State) -> int:
        """Swap the shadow in atomically; retried when a live writer deadlocks with it."""
        for attempt in range(_SWAP_ATTEMPTS):
            try:
                return await self._swap_once(state)
            except asyncpg.DeadlockDetectedError:
                if attempt == _SWAP_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _swap_once(self, state: _State) -> int:
        name, schema = state.projection.name, SHADOW_SCHEMA
        runner = ProjectionRunner(self._pool, [state.projection], schema=schema)
        async with self._pool.acquire() as conn, conn.transaction():
            cps = f"{quote(await _checkpoints_schema(conn))}.projection_checkpoints"
            # Checkpoint rows first, tables second: the order the live runner takes them in.
            await conn.execute(f"SELECT 1 FROM {cps} WHERE projection = $1 FOR UPDATE", name)
            live = ", ".join(f"{quote(s)}.{quote(t)}" for t, s in state.tables.items())
            if live:
                await conn.execute(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
            head = await _head(conn)
            for workspace in await _behind(conn, schema, name, head):
                await runner.catch_up_in(conn, workspace, head, state.projection)
            await _shadow.swap_tables(conn, schema, state.tables)
            shadow_cps = f"{quote(schema)}.projection_checkpoints"
            await conn.execute(
                f"INSERT INTO {cps} (projection, workspace_id, position)"
                f" SELECT projection, workspace_id, position FROM {shadow_cps}"
                " WHERE projection = $1 ON CONFLICT (projection, workspace_id)"
                " DO UPDATE SET position = EXCLUDED.position",
                name,
            )
            await conn.execute(
                f"DELETE FROM {cps} c WHERE c.projection = $1 AND NOT EXISTS"
                f" (SELECT 1 FROM {shadow_cps} s WHERE s.projection = $1"
                " AND s.workspace_id = c.workspace_id)",
                name,
            )
            await conn.execute(f"DELETE FROM {shadow_cps} WHERE projection = $1", name)
            for table in ("replay_progress", "replay_part_progress"):
                await conn.execute(
                    f"DELETE FROM {quote(schema)}.{table} WHERE projection = $1", name
                )
            return head

    async def _compare(self, state: _State, workspace_ids: list[str] | None) -> ReplayReport:
        """Lock the live tables against writes, bring the shadow to their checkpoints, diff."""
        name = state.projection.name
        runner = ProjectionRunner(self._pool, [state.projection], schema=DRY_RUN_SCHEMA)
        async with self._pool.acquire() as conn, conn.transaction():
            live = ", ".join(f"{quote(s)}.{quote(t)}" for t, s in state.tables.items())
            if live:
                await conn.execute(f"LOCK TABLE {live} IN SHARE MODE")
            checkpoints = await _checkpoints(conn, name)
            for workspace, position in checkpoints.items():
                await runner.catch_up(workspace, position)
            diffs = [
                await _shadow.compare_tables(conn, DRY_RUN_SCHEMA, live_in, table, workspace_ids)
                for table, live_in in state.tables.items()
            ]
        return ReplayReport(
            name, max(checkpoints.values(), default=0), state.applied, diffs=tuple(diffs)
        )


class _ProjectionLocks:
    """A connection holding one session advisory lock per projection, for the replay's span."""

    def __init__(self, pool: asyncpg.Pool, names: list[str]) -> None:
        self._pool = pool
        self._names = names
        self._conn: Any = None

    async def __aenter__(self) -> Connection:
        self._conn = await self._pool.acquire()
        for name in self._names:
            if not await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", _LOCK_CLASS, name
            ):
                await self._release()
                raise ReplayBusy(f"a replay of {name!r} is already running")
        conn: Connection = self._conn
        return conn

    async def __aexit__(self, *_: object) -> None:
        await self._release()

    async def _release(self) -> None:
        if self._conn is not None:
            await self._conn.execute("SELECT pg_advisory_unlock_all()")
            await self._pool.release(self._conn)
            self._conn = None


async def _head(conn: Connection) -> int:
    head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    return head


async def _checkpoints_schema(conn: Connection) -> str:
    found = await _shadow.live_schema(conn, "projection_checkpoints")
    assert found is not None
    return found


async def _checkpoints(conn: Connection, projection: str) -> dict[str, int]:
    cps = f"{quote(await _checkpoints_schema(conn))}.projection_checkpoints"
    rows = await conn.fetch(
        f"SELECT workspace_id, position FROM {cps} WHERE projection = $1", projection
    )
    return {row["workspace_id"]: row["position"] for row in rows}


async def _behind(conn: Connection, schema: str, projection: str, head: int) -> list[str]:
    """Workspaces with events the shadow of `projection` has not applied, up to `head`."""
    rows = await conn.fetch(
        "SELECT DISTINCT e.workspace_id FROM events e"
        f" LEFT JOIN {quote(schema)}.projection_checkpoints c"
        " ON c.projection = $1 AND c.workspace_id = e.workspace_id"
        " WHERE e.position > (SELECT coalesce(min(position), 0)"
        f" FROM {quote(schema)}.projection_checkpoints WHERE projection = $1)"
        " AND e.position <= $2 AND e.position > coalesce(c.position, 0)",
        projection,
        head,
    )
    return [row["workspace_id"] for row in rows]


async def _all_exist(conn: Connection, schema: str, tables: dict[str, str]) -> bool:
    for table in tables:
        if await conn.fetchval("SELECT to_regclass($1)", f"{quote(schema)}.{quote(table)}") is None:
            return False
    return True
