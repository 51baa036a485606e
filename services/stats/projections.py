"""The stats read models: one projection applying finding and asset events batch by batch.

A batch is folded in memory (`services.stats._tally`): the touched findings'
states are loaded once, evolved event by event, and the aggregates change by
the net difference, with a handful of set-based statements. Applying events
one at a time (as `ProjectionRunner.rebuild` does) goes through the same code
and gives the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from services.stats._tally import ASSET_COUNTS, Tally, fold
from services.stats.domain import (
    ASSET_RISK_SCALE,
    WORKSPACE_RISK_SCALE,
    FindingState,
    risk_score,
)
from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatusChanged,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
)
from shared.projections import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from services.stats._tally import Key
    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("StatsProjection",)

_encode_json = msgspec.json.Encoder().encode

_FINDING_EVENTS = frozenset(
    t.type_name()
    for t in (
        FindingDetected,
        FindingObserved,
        FindingReopened,
        FindingClosed,
        FindingStatusChanged,
    )
)
_FINDING_COLUMNS = (
    "fingerprint, asset_id, asset_kind, asset_key, port, protocol, severity, status, cve, cwe,"
    " first_seen, closed_at"
)
_COUNTERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # table: (key columns, their SQL types, counter columns)
    "severity_status": (("severity", "status"), ("text", "text"), ("findings",)),
    "cves": (("cve",), ("text",), ("findings", "open")),
    "cwes": (("cwe",), ("text",), ("findings", "open")),
    "mttr": (("severity",), ("text",), ("remediated", "total_seconds")),
    "open_daily": (("day", "severity"), ("date", "text"), ("opened", "closed")),
    "services": (("asset_id", "port", "protocol"), ("text", "int", "text"), ASSET_COUNTS),
}
_DELETE_WHEN_ZERO = {
    "severity_status": "findings",
    "cves": "findings",
    "cwes": "findings",
    "mttr": "remediated",
}


def _state(row: asyncpg.Record) -> FindingState:
    return FindingState(
        fingerprint=row["fingerprint"],
        asset_id=row["asset_id"],
        asset_kind=row["asset_kind"],
        asset_key=row["asset_key"],
        port=row["port"],
        protocol=row["protocol"],
        severity=row["severity"],
        status=row["status"],
        cve=tuple(row["cve"]),
        cwe=tuple(row["cwe"]),
        first_seen=row["first_seen"],
        closed_at=row["closed_at"],
    )


def _json_array(values: tuple[str, ...]) -> str:
    return _encode_json(values).decode()


def _columns(rows: dict[Key, list[int]], width: int) -> list[list[object]]:
    """Rows of (key..., counters...) turned into one list per column, for ``unnest``."""
    columns = [
        list(column) for column in zip(*(k + tuple(v) for k, v in rows.items()), strict=True)
    ]
    assert len(columns) == width
    return columns


class StatsProjection(Projection):
    """Every ``stats_*`` read model of a workspace (see the service's README)."""

    name: ClassVar[str] = "stats"
    event_types: ClassVar[frozenset[str]] = _FINDING_EVENTS | frozenset(
        t.type_name() for t in (HostDetected, ServiceDetected, ServiceChanged)
    )
    tables: ClassVar[tuple[str, ...]] = (
        "stats_findings",
        "stats_workspaces",
        "stats_severity_status",
        "stats_assets",
        "stats_services",
        "stats_cves",
        "stats_cwes",
        "stats_open_daily",
        "stats_mttr",
    )

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Apply one event (a batch of one)."""
        await self._apply_workspace(conn, event.workspace_id, [event])

    async def apply_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply events in log order inside the caller's transaction, a workspace at a time.

        Ends exactly as applying them one by one would (tested): the batch is
        folded in memory and the tables change by the net difference.
        """
        by_workspace: dict[str, list[RecordedEvent]] = {}
        for event in events:
            by_workspace.setdefault(event.workspace_id, []).append(event)
        for workspace_id, batch in by_workspace.items():
            await self._apply_workspace(conn, workspace_id, batch)

    async def _apply_workspace(
        self, conn: Connection, workspace_id: str, events: Sequence[RecordedEvent]
    ) -> None:
        if not events:
            return
        findings = [e for e in events if e.type in _FINDING_EVENTS]
        fingerprints = {str(getattr(e.data, "fingerprint", "")) for e in findings}
        states = await self._load(conn, workspace_id, fingerprints)
        tally = Tally()
        changed = fold(states, ((e.position, e.data) for e in findings), tally)
        await self._assets(conn, workspace_id, events, states)
        await self._save(conn, workspace_id, [(states[fp], at) for fp, at in changed.items()])
        for table in _COUNTERS:
            await self._add(conn, workspace_id, table, tally.changes(table))
        await self._asset_counts(conn, workspace_id, tally.changes("assets"))
        await self._workspace(conn, workspace_id, tally, events[-1].position)

    @staticmethod
    async def _load(
        conn: Connection, workspace_id: str, fingerprints: set[str]
    ) -> dict[str, FindingState | None]:
        if not fingerprints:
            return {}
        rows = await conn.fetch(
            f"SELECT {_FINDING_COLUMNS} FROM stats_findings"
            " WHERE workspace_id = $1 AND fingerprint = ANY($2::text[])",
            workspace_id,
            list(fingerprints),
        )
        return {row["fingerprint"]: _state(row) for row in rows}

    @staticmethod
    async def _save(
        conn: Connection, workspace_id: str, changed: list[tuple[FindingState | None, int]]
    ) -> None:
        """Upsert the findings a batch changed, each with its own last event's position.

        One statement for the whole batch: a replay saves tens of thousands of
        findings a batch. `unnest` cannot take arrays of arrays, so each row's
        CVE and CWE lists travel as JSON arrays.
        """
        saved = [(s, position) for s, position in changed if s is not None]
        if not saved:
            return
        await conn.execute(
            f"INSERT INTO stats_findings (workspace_id, {_FINDING_COLUMNS}, position)"
            " SELECT $1::text, fingerprint, asset_id, asset_kind, asset_key, port, protocol,"
            " severity, status,"
            " ARRAY(SELECT jsonb_array_elements_text(cve::jsonb)),"
            " ARRAY(SELECT jsonb_array_elements_text(cwe::jsonb)),"
            " first_seen, closed_at, position FROM unnest($2::text[], $3::text[], $4::text[],"
            " $5::text[], $6::int[], $7::text[], $8::text[], $9::text[], $10::text[],"
            " $11::text[], $12::timestamptz[], $13::timestamptz[], $14::bigint[])"
            " AS r(fingerprint, asset_id, asset_kind, asset_key, port, protocol, severity,"
            " status, cve, cwe, first_seen, closed_at, position)"
            " ON CONFLICT (workspace_id, fingerprint) DO UPDATE SET severity = EXCLUDED.severity,"
            " status = EXCLUDED.status, cve = EXCLUDED.cve, cwe = EXCLUDED.cwe,"
            " closed_at = EXCLUDED.closed_at, position = EXCLUDED.position",
            workspace_id,
            [s.fingerprint for s, _ in saved],
            [s.asset_id for s, _ in saved],
            [s.asset_kind for s, _ in saved],
            [s.asset_key for s, _ in saved],
            [s.port for s, _ in saved],
            [s.protocol for s, _ in saved],
            [s.severity for s, _ in saved],
            [s.status for s, _ in saved],
            [_json_array(s.cve) for s, _ in saved],
            [_json_array(s.cwe) for s, _ in saved],
            [s.first_seen for s, _ in saved],
            [s.closed_at for s, _ in saved],
            [position for _, position in saved],
        )

    @staticmethod
    async def _add(
        conn: Connection, workspace_id: str, table: str, rows: dict[Key, list[int]]
    ) -> None:
        if not rows:
            return
        keys, types, counters = _COUNTERS[table]
        arrays = _columns(rows, len(keys) + len(counters))
        types_all = (*types, *("bigint",) * len(counters))
        unnest = ", ".join(f"${i + 2}::{t}[]" for i, t in enumerate(types_all))
        await conn.execute(
            f"INSERT INTO stats_{table} AS t (workspace_id, {', '.join(keys + counters)})"
            f" SELECT $1::text, * FROM unnest({unnest})"
            f" ON CONFLICT (workspace_id, {', '.join(keys)}) DO UPDATE SET "
            + ", ".join(f"{c} = t.{c} + EXCLUDED.{c}" for c in counters),
            workspace_id,
            *arrays,
        )
        if table in _DELETE_WHEN_ZERO:
            await conn.execute(
                f"DELETE FROM stats_{table} WHERE workspace_id = $1"
                f" AND {_DELETE_WHEN_ZERO[table]} = 0",
                workspace_id,
            )

    @staticmethod
    async def _assets(
        conn: Connection,
        workspace_id: str,
        events: Sequence[RecordedEvent],
        states: dict[str, FindingState | None],
    ) -> None:
        """Asset rows (kind and key) and service names, from asset events and findings."""
        assets: dict[str, tuple[str, str]] = {}
        services: dict[tuple[str, int, str], tuple[str | None, str]] = {}
        for event in events:
            match event.data:
                case HostDetected(asset_id=asset_id, kind=kind, key=key):
                    assets.setdefault(asset_id, (kind, key))
                case ServiceDetected() | ServiceChanged() as service:
                    key_ = (service.asset_id, service.port, (service.protocol or "tcp").lower())
                    services[key_] = (service.name, service.state)
        for state in states.values():
            if state is not None:
                assets.setdefault(state.asset_id, (state.asset_kind, state.asset_key))
        if assets:
            await conn.execute(
                "INSERT INTO stats_assets AS a (workspace_id, asset_id, asset_kind, asset_key)"
                " SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[])"
                " ON CONFLICT (workspace_id, asset_id) DO UPDATE SET"
                " asset_kind = coalesce(a.asset_kind, EXCLUDED.asset_kind),"
                " asset_key = coalesce(a.asset_key, EXCLUDED.asset_key)",
                workspace_id,
                list(assets),
                [kind for kind, _ in assets.values()],
                [key for _, key in assets.values()],
            )
        if services:
            await conn.execute(
                "INSERT INTO stats_services (workspace_id, asset_id, port, protocol, name, state,"
                " detected) SELECT $1::text, *, true FROM unnest($2::text[], $3::int[], $4::text[],"
                " $5::text[], $6::text[]) ON CONFLICT (workspace_id, asset_id, port, protocol)"
                " DO UPDATE SET name = EXCLUDED.name, state = EXCLUDED.state, detected = true",
                workspace_id,
                *(list(column) for column in zip(*services, strict=True)),
                [name for name, _ in services.values()],
                [state for _, state in services.values()],
            )

    @staticmethod
    async def _asset_counts(
        conn: Connection, workspace_id: str, rows: dict[Key, list[int]]
    ) -> None:
        if not rows:
            return
        arrays = _columns(rows, 1 + len(ASSET_COUNTS))
        unnest = ", ".join(f"${i + 3}::int[]" for i in range(len(ASSET_COUNTS)))
        updated = await conn.fetch(
            "UPDATE stats_assets AS a SET "
            + ", ".join(f"{c} = a.{c} + d.{c}" for c in ASSET_COUNTS)
            + f" FROM unnest($2::text[], {unnest}) AS d(asset_id, {', '.join(ASSET_COUNTS)})"
            " WHERE a.workspace_id = $1 AND a.asset_id = d.asset_id"
            " RETURNING a.asset_id, a.risk_points",
            workspace_id,
            *arrays,
        )
        await conn.execute(
            "UPDATE stats_assets AS a SET risk_score = s.score"
            " FROM unnest($2::text[], $3::float8[]) AS s(asset_id, score)"
            " WHERE a.workspace_id = $1 AND a.asset_id = s.asset_id",
            workspace_id,
            [row["asset_id"] for row in updated],
            [risk_score(row["risk_points"], ASSET_RISK_SCALE) for row in updated],
        )

    @staticmethod
    async def _workspace(conn: Connection, workspace_id: str, tally: Tally, position: int) -> None:
        delta = tally.changes("workspace").get((), [0])[0]
        points: int = await conn.fetchval(
            "INSERT INTO stats_workspaces AS w (workspace_id, risk_points, position)"
            " VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET"
            " risk_points = w.risk_points + EXCLUDED.risk_points,"
            " position = greatest(w.position, EXCLUDED.position) RETURNING risk_points",
            workspace_id,
            delta,
            position,
        )
        await conn.execute(
            "UPDATE stats_workspaces SET risk_score = $2 WHERE workspace_id = $1",
            workspace_id,
            risk_score(points, WORKSPACE_RISK_SCALE),
        )
