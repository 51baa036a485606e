"""Shadow tables for `shared.replay`: their DDL, the atomic swap and the comparison.

A shadow table lives in a schema of its own under the live table's name, so
that a projection, which names its tables unqualified, writes to it when the
shadow schema is searched first. It is created ``LIKE`` the live table with
the live table's constraint and index names, so that after the swap the
table is indistinguishable from the one the migrations created. Plain
(non-unique) indexes are built after the bulk load: one build is far cheaper
than maintaining them row by row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.database import Connection

__all__ = (
    "TableDiff",
    "compare_tables",
    "create_shadow_table",
    "deferred_indexes",
    "ensure_schema",
    "live_schema",
    "quote",
    "swap_tables",
)

_INDEX_HEAD = re.compile(r"^(CREATE (?:UNIQUE )?INDEX )(\S+) ON (ONLY )?\S+ ")
_SAMPLES = 3


def quote(identifier: str) -> str:
    """`identifier` quoted for SQL (table, schema and index names come from code, not users)."""
    return '"' + identifier.replace('"', '""') + '"'


async def live_schema(conn: Connection, table: str) -> str | None:
    """The schema the live `table` is found in through the default search path, or None."""
    found: str | None = await conn.fetchval(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = to_regclass($1)",
        table,
    )
    return found


async def ensure_schema(conn: Connection, schema: str, checkpoints_schema: str) -> None:
    """The shadow schema with its own checkpoints, progress and part assignment tables."""
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.projection_checkpoints"
        f" (LIKE {quote(checkpoints_schema)}.projection_checkpoints INCLUDING ALL)"
    )
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.replay_progress ("
        " projection text PRIMARY KEY, start_after bigint NOT NULL, target bigint NOT NULL,"
        " phase text NOT NULL, started_at timestamptz DEFAULT now())"
    )
    # Shadows from before parts kept one position per projection: they start over.
    await conn.execute(
        f"ALTER TABLE {quote(schema)}.replay_progress DROP COLUMN IF EXISTS position"
    )
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.replay_part_progress ("
        " projection text NOT NULL, part integer NOT NULL, position bigint NOT NULL,"
        " PRIMARY KEY (projection, part))"
    )
    await conn.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.replay_parts"
        " (workspace_id text PRIMARY KEY, part integer NOT NULL)"
    )


async def _indexes(conn: Connection, live: str) -> list[tuple[str, bool, str | None, str | None]]:
    """(indexdef, unique, constraint name, constraint def) of each index of `live`."""
    rows = await conn.fetch(
        "SELECT pg_get_indexdef(i.indexrelid) AS def, i.indisunique AS is_unique,"
        " con.conname, pg_get_constraintdef(con.oid) AS condef"
        " FROM pg_index i LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid"
        " AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x')"
        " WHERE i.indrelid = $1::regclass ORDER BY i.indexrelid",
        live,
    )
    return [(r["def"], r["is_unique"], r["conname"], r["condef"]) for r in rows]


def _shadow_index(indexdef: str, target: str) -> str:
    def head(match: re.Match[str]) -> str:
        return f"{match[1]}IF NOT EXISTS {match[2]} ON {match[3] or ''}{target} "

    return _INDEX_HEAD.sub(head, indexdef, count=1)


async def create_shadow_table(conn: Connection, schema: str, live_in: str, table: str) -> None:
    """An empty copy of `live_in.table` in `schema`, with its constraints and unique indexes."""
    live, shadow = f"{quote(live_in)}.{quote(table)}", f"{quote(schema)}.{quote(table)}"
    await conn.execute(f"DROP TABLE IF EXISTS {shadow}")
    await conn.execute(f"CREATE TABLE {shadow} (LIKE {live} INCLUDING ALL EXCLUDING INDEXES)")
    for indexdef, unique, constraint, condef in await _indexes(conn, live):
        if constraint is not None and condef is not None:
            await conn.execute(f"ALTER TABLE {shadow} ADD CONSTRAINT {quote(constraint)} {condef}")
        elif unique:
            await conn.execute(_shadow_index(indexdef, shadow))


async def deferred_indexes(conn: Connection, schema: str, live_in: str, table: str) -> list[str]:
    """Statements building the live table's plain indexes on the shadow, after its bulk load.

    Each can run on a connection of its own: builds on one table do not block each other.
    """
    live, shadow = f"{quote(live_in)}.{quote(table)}", f"{quote(schema)}.{quote(table)}"
    return [
        _shadow_index(indexdef, shadow)
        for indexdef, unique, constraint, _ in await _indexes(conn, live)
        if constraint is None and not unique
    ]


async def swap_tables(conn: Connection, schema: str, tables: dict[str, str]) -> None:
    """Replace each live table by its shadow, inside the caller's transaction.

    `tables` maps table name to live schema. The caller holds ACCESS
    EXCLUSIVE locks on the live tables, so no reader sees the moment between.
    """
    for table, live_in in tables.items():
        await conn.execute(f"DROP TABLE {quote(live_in)}.{quote(table)}")
        await conn.execute(
            f"ALTER TABLE {quote(schema)}.{quote(table)} SET SCHEMA {quote(live_in)}"
        )


@dataclass(frozen=True)
class TableDiff:
    """How a rebuilt table differs from the live one, row by row (as text)."""

    table: str
    only_live: int
    only_rebuilt: int
    live_samples: tuple[str, ...] = ()
    rebuilt_samples: tuple[str, ...] = ()

    @property
    def matches(self) -> bool:
        """True when both hold exactly the same rows (duplicates counted)."""
        return self.only_live == 0 and self.only_rebuilt == 0


async def compare_tables(
    conn: Connection,
    schema: str,
    live_in: str,
    table: str,
    workspace_ids: list[str] | None = None,
) -> TableDiff:
    """Rows of the live table missing from the shadow, and the reverse (multiset difference)."""
    live, shadow = f"{quote(live_in)}.{quote(table)}", f"{quote(schema)}.{quote(table)}"
    where, args = "", []
    if workspace_ids is not None:
        has_workspace: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = $1::regclass"
            " AND attname = 'workspace_id' AND NOT attisdropped)",
            live,
        )
        if has_workspace:
            where, args = " WHERE r.workspace_id = ANY($1::text[])", [workspace_ids]

    async def missing(left: str, right: str) -> tuple[int, tuple[str, ...]]:
        query = (
            f"SELECT r::text AS row FROM {left} r{where}"
            f" EXCEPT ALL SELECT r::text FROM {right} r{where}"
        )
        count: int = await conn.fetchval(f"SELECT count(*) FROM ({query}) d", *args)
        samples = await conn.fetch(f"{query} LIMIT {_SAMPLES}", *args) if count else []
        return count, tuple(str(s["row"]) for s in samples)

    only_live, live_samples = await missing(live, shadow)
    only_rebuilt, rebuilt_samples = await missing(shadow, live)
    return TableDiff(table, only_live, only_rebuilt, live_samples, rebuilt_samples)
