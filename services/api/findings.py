"""Finding queries over the ingest read model: filters, sorting and keyset pagination.

Pages are keyset pages on (sort column, fingerprint), so a page is as fast
at the millionth row as at the first and rows never repeat or vanish
between pages while imports run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from services.api.cursor import decode_cursor, encode_cursor
from services.api.errors import bad_request
from services.api.inventory_schemas import (
    SEVERITIES,
    AssetRef,
    Finding,
    FindingPage,
    FindingSort,
    FindingSummary,
    SortOrder,
)
from services.api.readmodels import ingest_tables
from shared.contracts import FindingStatus

if TYPE_CHECKING:
    import asyncpg

__all__ = ("FindingFilter", "finding_of", "get_finding", "list_findings")

_SORT_COLUMNS = {
    FindingSort.SEVERITY: "severity_rank",
    FindingSort.LAST_SEEN: "last_seen",
    FindingSort.FIRST_SEEN: "first_seen",
    FindingSort.TITLE: "title",
}
_STATUSES = tuple(str(s) for s in FindingStatus)


class FindingFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which findings to list; every given criterion must hold (lists: any of the values).

    Time ranges are half-open: ``*_after`` inclusive, ``*_before`` exclusive.
    """

    severity: Sequence[str] = ()
    status: Sequence[str] = ()
    asset: str | None = None
    cve: str | None = None
    q: str | None = None
    first_seen_after: dt.datetime | None = None
    first_seen_before: dt.datetime | None = None
    last_seen_after: dt.datetime | None = None
    last_seen_before: dt.datetime | None = None


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    sort: FindingSort
    order: SortOrder
    key: int | str
    fingerprint: str


def _values(name: str, given: Sequence[str], allowed: Sequence[str]) -> list[str]:
    """Repeated or comma-separated values of a query parameter, each one known."""
    values = [v.strip().lower() for item in given for v in item.split(",") if v.strip()]
    if unknown := [v for v in values if v not in allowed]:
        raise bad_request(
            f"Unknown {name} {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}."
        )
    return values


def _where(workspace_id: str, query: FindingFilter) -> tuple[list[str], list[Any]]:
    clauses = ["workspace_id = $1"]
    args: list[Any] = [workspace_id]

    def add(template: str, value: Any) -> None:
        args.append(value)
        clauses.append(template.replace("$?", f"${len(args)}"))

    if severities := _values("severity", query.severity, SEVERITIES):
        add("severity = ANY($?::text[])", severities)
    if statuses := _values("status", query.status, _STATUSES):
        add("status = ANY($?::text[])", statuses)
    if query.asset:
        add("(asset_id = $? OR lower(asset_key) = lower($?))", query.asset)
    if query.cve:
        add("cve @> ARRAY[upper($?::text)]", query.cve.strip())
    if query.q and query.q.strip():
        add(
            "(search @@ websearch_to_tsquery('simple', $?)"
            " OR search @@ websearch_to_tsquery('english', $?))",
            query.q.strip(),
        )
    for column, op, value in (
        ("first_seen", ">=", query.first_seen_after),
        ("first_seen", "<", query.first_seen_before),
        ("last_seen", ">=", query.last_seen_after),
        ("last_seen", "<", query.last_seen_before),
    ):
        if value is not None:
            add(f"{column} {op} $?", value)
    return clauses, args


def _key(sort: FindingSort, value: int | str) -> Any:
    if sort in (FindingSort.FIRST_SEEN, FindingSort.LAST_SEEN):
        try:
            return msgspec.convert(value, dt.datetime)
        except msgspec.ValidationError:
            raise bad_request("The cursor is not valid here.") from None
    if sort is FindingSort.SEVERITY and not isinstance(value, int):
        raise bad_request("The cursor is not valid here.")
    return value


def _cursor_key(sort: FindingSort, row: asyncpg.Record) -> int | str:
    value = row[_SORT_COLUMNS[sort]]
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _summary_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["fingerprint"],
        "asset": AssetRef(id=row["asset_id"], kind=row["asset_kind"], key=row["asset_key"]),
        **{
            name: row[name]
            for name in FindingSummary.__struct_fields__
            if name not in ("id", "asset")
        },
    }


def finding_of(row: asyncpg.Record) -> Finding:
    """The full view of an ``ingest_findings`` row."""
    fields = _summary_fields(row)
    extra = (n for n in Finding.__struct_fields__ if n not in fields)
    return Finding(**fields, **{name: row[name] for name in extra})


async def list_findings(
    pool: asyncpg.Pool,
    workspace_id: str,
    query: FindingFilter,
    *,
    sort: FindingSort = FindingSort.SEVERITY,
    order: SortOrder = SortOrder.DESC,
    cursor: str | None = None,
    limit: int = 50,
) -> FindingPage:
    """One page of a workspace's findings matching `query`, in the order asked."""
    clauses, args = _where(workspace_id, query)
    column = _SORT_COLUMNS[sort]
    if cursor:
        after = decode_cursor(cursor, _Cursor)
        if (after.sort, after.order) != (sort, order):
            raise bad_request("The cursor belongs to another sort order; start from page one.")
        args += [_key(sort, after.key), after.fingerprint]
        op = "<" if order is SortOrder.DESC else ">"
        clauses.append(f"({column}, fingerprint) {op} (${len(args) - 1}, ${len(args)})")
    direction = "DESC" if order is SortOrder.DESC else "ASC"
    args.append(limit + 1)
    sql = (
        f"SELECT * FROM ingest_findings WHERE {' AND '.join(clauses)}"
        f" ORDER BY {column} {direction}, fingerprint {direction} LIMIT ${len(args)}"
    )
    with ingest_tables():
        async with pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        position = _Cursor(sort, order, _cursor_key(sort, last), last["fingerprint"])
        next_cursor = encode_cursor(position)
    return FindingPage(
        findings=[FindingSummary(**_summary_fields(row)) for row in page], next_cursor=next_cursor
    )


async def get_finding(pool: asyncpg.Pool, workspace_id: str, finding_id: str) -> Finding | None:
    """One finding of a workspace by id (fingerprint), or None."""
    with ingest_tables():
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM ingest_findings WHERE workspace_id = $1 AND fingerprint = $2",
                workspace_id,
                finding_id,
            )
    return finding_of(row) if row else None
