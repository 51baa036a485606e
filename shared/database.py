"""PostgreSQL connection pools configured the way every vigil process needs them."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
import asyncpg.pool

from shared.migrations import apply_migrations

__all__ = ("Connection", "connect_pool", "copy_through_temp", "init_connection")

Connection: TypeAlias = (
    "asyncpg.Connection[asyncpg.Record] | asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
)
"""A connection of our own or one lent by a pool: every query helper accepts both."""

_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: bytes | str) -> bytes:
    return _JSONB_VERSION + (value.encode() if isinstance(value, str) else value)


def _decode_jsonb(value: bytes) -> bytes:
    return value[1:]


def _as_is(value: bytes) -> bytes:
    return value


async def init_connection(conn: Connection) -> None:
    """Exchange jsonb as raw JSON bytes, so msgspec encodes and decodes it without copies.

    tsvector travels in PostgreSQL's own binary form, opaque to Python, so that
    a vector computed on one connection is written on another without being
    printed and parsed again.
    """
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        encoder=_encode_jsonb,
        decoder=_decode_jsonb,
        format="binary",
    )
    await conn.set_type_codec(
        "tsvector", schema="pg_catalog", encoder=_as_is, decoder=_as_is, format="binary"
    )


async def connect_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool on `dsn` and bring the shared schema up to date."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=init_connection
    )
    async with pool.acquire() as conn:
        await apply_migrations(conn, "shared", "shared")
    return pool


async def copy_through_temp(
    conn: Connection,
    table: str,
    ddl: str,
    columns: tuple[str, ...],
    records: list[tuple[Any, ...]],
    statement: str,
) -> None:
    """COPY `records` into a session temp table, run `statement` over it, empty it again.

    `ddl` is the temp table's column list (or ``LIKE other``). COPY is far
    cheaper than as many rows as query arguments; the statement then applies
    them set-based (an upsert, an update joined on keys).
    """
    await conn.execute(
        "SET LOCAL client_min_messages = warning;"
        f" CREATE TEMP TABLE IF NOT EXISTS {table} ({ddl}) ON COMMIT DELETE ROWS"
    )
    await conn.copy_records_to_table(table, records=records, columns=columns)
    await conn.execute(statement)
    await conn.execute(f"TRUNCATE {table}")
