"""Host and service queries over the ingest read model, with keyset pagination."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from services.api.cursor import decode_cursor, encode_cursor
from services.api.inventory_schemas import AssetRef, Host, HostPage, Service, ServicePage
from services.api.readmodels import ingest_tables

if TYPE_CHECKING:
    import asyncpg

__all__ = ("list_hosts", "list_services")


class _HostCursor(msgspec.Struct, frozen=True, array_like=True):
    last_seen: dt.datetime
    asset_id: str


class _ServiceCursor(msgspec.Struct, frozen=True, array_like=True):
    asset_id: str
    port: int
    protocol: str


def _host(row: asyncpg.Record) -> Host:
    return Host(
        id=row["asset_id"],
        kind=row["kind"],
        key=row["key"],
        address=row["address"],
        hostnames=row["hostnames"],
        os=row["os"],
        mac=row["mac"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        first_scan_id=row["first_scan_id"],
        last_scan_id=row["last_scan_id"],
    )


async def _fetch(pool: asyncpg.Pool, sql: str, args: list[Any]) -> list[asyncpg.Record]:
    with ingest_tables():
        async with pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))


async def list_hosts(
    pool: asyncpg.Pool,
    workspace_id: str,
    *,
    kind: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> HostPage:
    """A workspace's assets, most recently changed first.

    `q` matches part of the key, the address or a hostname (case-insensitive).
    """
    clauses = ["workspace_id = $1"]
    args: list[Any] = [workspace_id]
    if kind:
        args.append(kind)
        clauses.append(f"kind = ${len(args)}")
    if q and q.strip():
        pattern = q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{pattern}%")
        n = len(args)
        clauses.append(
            f"(key ILIKE ${n} OR address ILIKE ${n}"
            f" OR EXISTS (SELECT 1 FROM unnest(hostnames) AS h WHERE h ILIKE ${n}))"
        )
    if cursor:
        after = decode_cursor(cursor, _HostCursor)
        args += [after.last_seen, after.asset_id]
        clauses.append(f"(last_seen, asset_id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await _fetch(
        pool,
        f"SELECT * FROM ingest_hosts WHERE {' AND '.join(clauses)}"
        f" ORDER BY last_seen DESC, asset_id DESC LIMIT ${len(args)}",
        args,
    )
    hosts = [_host(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(_HostCursor(hosts[-1].last_seen, hosts[-1].id))
    return HostPage(hosts=hosts, next_cursor=next_cursor)


async def list_services(
    pool: asyncpg.Pool,
    workspace_id: str,
    *,
    asset: str | None = None,
    port: int | None = None,
    protocol: str | None = None,
    name: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ServicePage:
    """A workspace's services by asset, port and protocol; `asset` is an asset id or key."""
    clauses = ["s.workspace_id = $1"]
    args: list[Any] = [workspace_id]
    if asset:
        args.append(asset)
        clauses.append(f"(s.asset_id = ${len(args)} OR lower(h.key) = lower(${len(args)}))")
    for column, value in (("port", port), ("protocol", protocol), ("name", name)):
        if value is not None:
            args.append(value)
            clauses.append(f"s.{column} = ${len(args)}")
    if cursor:
        after = decode_cursor(cursor, _ServiceCursor)
        args += [after.asset_id, after.port, after.protocol]
        n = len(args)
        clauses.append(f"(s.asset_id, s.port, s.protocol) > (${n - 2}, ${n - 1}, ${n})")
    args.append(limit + 1)
    rows = await _fetch(
        pool,
        "SELECT s.*, h.kind, h.key FROM ingest_services s"
        " JOIN ingest_hosts h ON h.workspace_id = s.workspace_id AND h.asset_id = s.asset_id"
        f" WHERE {' AND '.join(clauses)}"
        f" ORDER BY s.asset_id, s.port, s.protocol LIMIT ${len(args)}",
        args,
    )
    services = [
        Service(
            asset=AssetRef(id=row["asset_id"], kind=row["kind"], key=row["key"]),
            port=row["port"],
            protocol=row["protocol"],
            state=row["state"],
            name=row["name"],
            product=row["product"],
            version=row["version"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        )
        for row in rows[:limit]
    ]
    next_cursor = None
    if len(rows) > limit:
        last = services[-1]
        next_cursor = encode_cursor(_ServiceCursor(last.asset.id, last.port, last.protocol))
    return ServicePage(services=services, next_cursor=next_cursor)
