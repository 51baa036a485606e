"""Rebuild read models from the log while the live ones keep serving, then swap them in.

`Replayer.rebuild` works in four steps, each safe to interrupt:

1. *Bulk*: the log up to the head at the start (the target) is applied to
   shadow tables in a ``replay`` schema, one pass for every projection, in
   batches; each batch commits together with the shadow's own progress row,
   so a second run resumes where the first stopped. Projections name their
   tables unqualified; the shadow schema is searched first. Their statements
   are sent in pipelined runs (`_Pipeline`), since nobody reads a shadow
   table while it is built.
2. *Indexes*: plain indexes are built once, and every workspace of the log
   gets a shadow checkpoint at the target.
3. *Catch-up*: `ProjectionRunner` brings the shadow to the current head,
   outside any lock.
4. *Swap*: one transaction locks the projection's live checkpoints and
   tables, applies the last few events to the shadow, replaces the live
   tables by the shadows and copies the shadow checkpoints over. The live
   consumer then continues from there; redelivered messages are no-ops.

`Replayer.dry_run` builds the same shadows in another schema up to the live
model's own checkpoints and compares them, row by row, with the live tables
(holding a SHARE lock for the comparison only), and drops them: the live
model is never written.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import asyncpg

from shared import _shadow
from shared._shadow import TableDiff, quote
from shared.eventstore import record_from_row
from shared.projections import ProjectionRunner

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

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
_SELECT = (
    "SELECT position, event_id, stream_id, stream_version, workspace_id, event_type,"
    " schema_version, data, metadata, recorded_at FROM events"
)
_SWAP_ATTEMPTS = 5

Progress: TypeAlias = "Callable[[str, int, int], None]"
"""Progress callback: (what is being done, events done, events in total)."""


class ReplayError(RuntimeError):
    """A replay cannot run (missing tables, a bad position); the message says why."""


class ReplayBusy(ReplayError):
    """Another replay (or dry run) of the same projection is running."""


@dataclasses.dataclass(frozen=True)
class ReplayReport:
    """The outcome for one projection: the position reached and, for a dry run, the diff."""

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
    start: int
    position: int
    target: int
    resumed: bool = False
    bounds: dict[str, int] | None = None
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


async def _search_shadow_first(conn: Connection, schema: str) -> None:
    await conn.execute(
        "SELECT set_config('search_path', quote_ident($1) || ', '"
        " || current_setting('search_path'), true)",
        schema,
    )


class Replayer:
    """Rebuilds a set of projections from the log (see the module docstring)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        projections: Iterable[Projection],
        *,
        batch_size: int = 20_000,
    ) -> None:
        self._pool = pool
        self.projections = tuple(projections)
        self._batch = batch_size

    async def rebuild(
        self, *, from_position: int | None = None, on_progress: Progress | None = None
    ) -> list[ReplayReport]:
        """Rebuild every projection into shadow tables and swap them in; resumes by default.

        `from_position` starts afresh, applying only the events after it (0:
        the whole log) and discarding an interrupted rebuild.

        Raises:
            ReplayBusy: another replay of one of the projections is running.
            ReplayError: a projection's tables do not exist or the position is past the head.
        """
        async with self._locked() as conn:
            head = await _head(conn)
            if from_position is not None and not 0 <= from_position <= head:
                raise ReplayError(f"--from {from_position} is outside the log (head {head})")
            states = [
                await self._prepare(conn, p, SHADOW_SCHEMA, from_position, head)
                for p in self.projections
            ]
            await self._bulk(states, SHADOW_SCHEMA, on_progress)
            reports = []
            for state in states:
                await self._finish_bulk(state, SHADOW_SCHEMA)
                await self._catch_up(state, SHADOW_SCHEMA)
                position = await self._swap(state)
                reports.append(
                    ReplayReport(
                        state.projection.name,
                        position,
                        state.applied,
                        resumed_from=state.start if state.resumed else None,
                    )
                )
            return reports

    async def dry_run(
        self, *, on_progress: Progress | None = None, workspace_ids: list[str] | None = None
    ) -> list[ReplayReport]:
        """Rebuild into throw-away tables up to the live checkpoints and compare (see module)."""
        async with self._locked() as conn:
            try:
                states = []
                for projection in self.projections:
                    state = await self._prepare(conn, projection, DRY_RUN_SCHEMA, 0, 0)
                    state.bounds = await _checkpoints(conn, projection.name)
                    state.target = max(state.bounds.values(), default=0)
                    states.append(state)
                await self._bulk(states, DRY_RUN_SCHEMA, on_progress)
                reports = []
                for state in states:
                    await self._finish_bulk(state, DRY_RUN_SCHEMA)
                    reports.append(await self._compare(state, workspace_ids))
                return reports
            finally:
                await conn.execute(f"DROP SCHEMA IF EXISTS {quote(DRY_RUN_SCHEMA)} CASCADE")

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
        async with conn.transaction():
            await _shadow.ensure_schema(conn, schema, checkpoints_in)
            row = await conn.fetchrow(
                f"SELECT start_after, position, target FROM {quote(schema)}.replay_progress"
                " WHERE projection = $1",
                projection.name,
            )
            if row is not None and start is None and await _all_exist(conn, schema, tables):
                return _State(
                    projection, tables, row["position"], row["position"], row["target"], True
                )
            start = start or 0
            for table, live_in in tables.items():
                await _shadow.create_shadow_table(conn, schema, live_in, table)
            await conn.execute(
                f"DELETE FROM {quote(schema)}.projection_checkpoints WHERE projection = $1",
                projection.name,
            )
            await conn.execute(
                f"INSERT INTO {quote(schema)}.replay_progress"
                " (projection, start_after, position, target, phase)"
                " VALUES ($1, $2, $2, $3, 'bulk')"
                " ON CONFLICT (projection) DO UPDATE SET start_after = $2, position = $2,"
                " target = $3, phase = 'bulk', started_at = now()",
                projection.name,
                start,
                head,
            )
        return _State(projection, tables, start, start, head)

    async def _bulk(self, states: list[_State], schema: str, on_progress: Progress | None) -> None:
        """Apply the log to the shadows, batch by batch, one read for every projection.

        The next batch is read while this one is applied, and the projections
        apply side by side, each on its own connection: one's statements run
        in PostgreSQL while another's events are folded here.
        """
        pending = [s for s in states if s.position < s.target]
        if not pending:
            return
        first = min(s.position for s in pending)
        target = max(s.target for s in pending)
        types = sorted({t for s in pending for t in s.projection.event_types})
        reading = asyncio.ensure_future(self._read(first, min(first + self._batch, target), types))
        try:
            for after in range(first, target, self._batch):
                upper = min(after + self._batch, target)
                events = await reading
                if upper < target:
                    following = min(upper + self._batch, target)
                    reading = asyncio.ensure_future(self._read(upper, following, types))
                active = [s for s in pending if s.position < min(upper, s.target)]
                async with asyncio.TaskGroup() as group:
                    for state in active:
                        group.create_task(self._apply_committed(state, schema, events, upper))
                if on_progress is not None:
                    on_progress("rebuilding", upper - first, target - first)
        finally:
            reading.cancel()

    async def _read(self, after: int, upper: int, types: list[str]) -> list[Any]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                f"{_SELECT} WHERE position > $1 AND position <= $2"
                " AND event_type = ANY($3::text[]) ORDER BY position",
                after,
                upper,
                types,
            )
        return [record_from_row(row) for row in rows]

    async def _apply_committed(
        self, state: _State, schema: str, events: list[Any], upper: int
    ) -> None:
        """Apply a batch to one projection's shadow and record its progress, in one transaction."""
        async with self._pool.acquire() as conn, conn.transaction():
            await _search_shadow_first(conn, schema)
            await self._apply(conn, state, events, min(upper, state.target))
            await conn.execute(
                f"UPDATE {quote(schema)}.replay_progress SET position = $2 WHERE projection = $1",
                state.projection.name,
                state.position,
            )

    @staticmethod
    async def _apply(conn: Connection, state: _State, events: list[Any], upper: int) -> None:
        """Apply this batch's events for `state`'s projection through one pipeline.

        The whole batch, every workspace's events in log order, goes to
        `Projection.apply_batch` at once: a set-based projection then takes
        one statement per kind of change, not one per kind and workspace.
        """
        projection, bounds = state.projection, state.bounds
        pipeline = _Pipeline(conn)
        shadow_conn = cast("Connection", pipeline)
        chosen = [
            event
            for event in events
            if event.type in projection.event_types
            and state.position < event.position <= upper
            and (bounds is None or event.position <= bounds.get(event.workspace_id, 0))
        ]
        if chosen:
            await projection.apply_batch(shadow_conn, chosen)
        await pipeline.flush()
        state.applied += len(chosen)
        state.position = upper

    async def _finish_bulk(self, state: _State, schema: str) -> None:
        """Build plain indexes and give every workspace its shadow checkpoint (once)."""
        name = state.projection.name
        async with self._pool.acquire() as conn, conn.transaction():
            phase = await conn.fetchval(
                f"SELECT phase FROM {quote(schema)}.replay_progress WHERE projection = $1", name
            )
            if phase != "bulk":
                return
            for table, live_in in state.tables.items():
                await _shadow.create_deferred_indexes(conn, schema, live_in, table)
            if state.bounds is not None:
                await conn.executemany(
                    f"INSERT INTO {quote(schema)}.projection_checkpoints"
                    " (projection, workspace_id, position) VALUES ($1, $2, $3)",
                    [(name, ws, position) for ws, position in state.bounds.items()],
                )
            else:
                await conn.execute(
                    f"INSERT INTO {quote(schema)}.projection_checkpoints"
                    " (projection, workspace_id, position)"
                    " SELECT $1, workspace_id, $2 FROM events WHERE position <= $2"
                    " GROUP BY workspace_id ON CONFLICT DO NOTHING",
                    name,
                    state.target,
                )
            await conn.execute(
                f"UPDATE {quote(schema)}.replay_progress SET phase = 'catch-up'"
                " WHERE projection = $1",
                name,
            )

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
            await conn.execute(
                f"DELETE FROM {quote(schema)}.replay_progress WHERE projection = $1", name
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
