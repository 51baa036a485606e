"""The stats of one or many batches, folded in memory and written as their net change.

`StatsProjection.apply_batch` folds each batch with a `StatsFold` of its own:
the touched findings' states are loaded once, evolved event by event, and
the aggregates change by the net difference, with a handful of set-based
statements. A replay keeps one `StatsFold` across batches, so a finding is
read at most once and written once per save, and each aggregate row once.
Net changes add up, so the tables end the same whatever the saves' boundaries.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from services.stats._tally import ASSET_COUNTS, Tally, fold, net_change
from services.stats.domain import (
    ASSET_RISK_SCALE,
    WORKSPACE_RISK_SCALE,
    FindingState,
    risk_score,
)
from shared.contracts import (
    FINDING_EVENT_TYPES,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
)
from shared.database import copy_through_temp
from shared.projections import Fold

if TYPE_CHECKING:
    from collections.abc import Sequence

    import asyncpg

    from services.stats._tally import Key
    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("ASSET_EVENTS", "StatsFold")

ASSET_EVENTS = frozenset(t.type_name() for t in (HostDetected, ServiceDetected, ServiceChanged))
_TYPES = FINDING_EVENT_TYPES | ASSET_EVENTS
_FINDING_COLUMNS = (
    "fingerprint", "asset_id", "asset_kind", "asset_key", "port", "protocol", "severity",
    "status", "cve", "cwe", "first_seen", "closed_at",
)  # fmt: skip
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


@dataclasses.dataclass
class _Workspace:
    """One workspace's findings as held, and what changed since the last save."""

    states: dict[str, FindingState | None] = dataclasses.field(default_factory=dict)
    """Findings by fingerprint; None: known not to exist."""
    changed: dict[str, int] = dataclasses.field(default_factory=dict)
    """Findings changed since the last save, with the position of their last change."""
    originals: dict[str, FindingState | None] = dataclasses.field(default_factory=dict)
    """The changed findings' states at the last save."""
    tally: Tally = dataclasses.field(default_factory=Tally)
    assets: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    services: dict[tuple[str, int, str], tuple[str | None, str]] = dataclasses.field(
        default_factory=dict
    )
    position: int | None = None
    """The last event applied since the last save (None: none since)."""


class StatsFold(Fold):
    """Every ``stats_*`` table of the workspaces folded, held in memory until saved."""

    def __init__(self, *, empty: bool = False) -> None:
        """`empty`: the tables hold nothing yet, so no finding needs to be loaded."""
        self._complete = empty
        self._workspaces: dict[str, _Workspace] = {}

    @property
    def held(self) -> int:
        """Findings held, known absent ones included."""
        return sum(len(w.states) for w in self._workspaces.values())

    def _workspace(self, workspace_id: str) -> _Workspace:
        found = self._workspaces.get(workspace_id)
        if found is None:
            found = self._workspaces[workspace_id] = _Workspace()
        return found

    async def load(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Read the states of the findings `events` touch that are not held."""
        if self._complete:
            return
        missing: dict[str, set[str]] = {}
        for event in events:
            if event.type in FINDING_EVENT_TYPES:
                fingerprint: str = getattr(event.data, "fingerprint", "")
                if fingerprint not in self._workspace(event.workspace_id).states:
                    missing.setdefault(event.workspace_id, set()).add(fingerprint)
        for workspace_id, fingerprints in missing.items():
            rows = await conn.fetch(
                f"SELECT {', '.join(_FINDING_COLUMNS)} FROM stats_findings"
                " WHERE workspace_id = $1 AND fingerprint = ANY($2::text[])",
                workspace_id,
                list(fingerprints),
            )
            states = self._workspaces[workspace_id].states
            states.update(dict.fromkeys(fingerprints))
            states.update((row["fingerprint"], _state(row)) for row in rows)

    def fold(self, events: Sequence[RecordedEvent]) -> int:
        """Evolve the findings and tally the aggregates' net change, a workspace at a time."""
        by_workspace: dict[str, list[RecordedEvent]] = {}
        for event in events:
            if event.type in _TYPES:
                by_workspace.setdefault(event.workspace_id, []).append(event)
        for workspace_id, batch in by_workspace.items():
            self._fold_workspace(self._workspace(workspace_id), batch)
        return sum(len(batch) for batch in by_workspace.values())

    @staticmethod
    def _fold_workspace(held: _Workspace, events: list[RecordedEvent]) -> None:
        findings = [e for e in events if e.type in FINDING_EVENT_TYPES]
        touched = ((e.position, e.data) for e in findings)
        held.changed.update(fold(held.states, touched, held.tally, held.originals))
        for event in events:
            if event.type in ASSET_EVENTS:
                match event.data:
                    case HostDetected(asset_id=asset_id, kind=kind, key=key):
                        held.assets.setdefault(asset_id, (kind, key))
                    case ServiceDetected() | ServiceChanged() as service:
                        protocol = (service.protocol or "tcp").lower()
                        held.services[(service.asset_id, service.port, protocol)] = (
                            service.name,
                            service.state,
                        )
        states, assets = held.states, held.assets
        for event in findings:
            state = states.get(getattr(event.data, "fingerprint", ""))
            if state is not None and state.asset_id not in assets:
                assets[state.asset_id] = (state.asset_kind, state.asset_key)
        held.position = events[-1].position

    async def save(self, conn: Connection) -> None:
        """Write each workspace's changed findings and the aggregates' net change."""
        touched = {w: held for w, held in self._workspaces.items() if held.position is not None}
        await _save_findings(
            conn,
            [
                (workspace_id, state, position)
                for workspace_id, held in touched.items()
                for fingerprint, position in held.changed.items()
                if (state := held.states[fingerprint]) is not None
            ],
        )
        for workspace_id, held in touched.items():
            assert held.position is not None
            net_change(held.states, held.originals, held.tally)
            await _save_assets(conn, workspace_id, held.assets, held.services)
            for table in _COUNTERS:
                await _add(conn, workspace_id, table, held.tally.changes(table))
            await _add_asset_counts(conn, workspace_id, held.tally.changes("assets"))
            await _add_workspace(conn, workspace_id, held.tally, held.position)
            self._workspaces[workspace_id] = _Workspace(states=held.states)

    @property
    def knows_all(self) -> bool:
        """True while nothing needs loading (see `Fold.knows_all`)."""
        return self._complete

    def forget(self) -> None:
        """Drop every state held; the next batches load theirs."""
        self._workspaces.clear()
        self._complete = False


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


def _columns(rows: dict[Key, list[int]], width: int) -> list[list[object]]:
    """Rows of (key..., counters...) turned into one list per column, for ``unnest``."""
    columns = [
        list(column) for column in zip(*(k + tuple(v) for k, v in rows.items()), strict=True)
    ]
    assert len(columns) == width
    return columns


def _finding_record(workspace_id: str, s: FindingState, position: int) -> tuple[object, ...]:
    return (
        workspace_id, s.fingerprint, s.asset_id, s.asset_kind, s.asset_key, s.port, s.protocol,
        s.severity, s.status, s.cve, s.cwe, s.first_seen, s.closed_at, position,
    )  # fmt: skip


async def _save_findings(conn: Connection, saved: list[tuple[str, FindingState, int]]) -> None:
    """Upsert changed findings, (workspace, state, position of its last change) each.

    One COPY and one statement for them all: a replay saves tens of
    thousands at once.
    """
    if not saved:
        return
    await copy_through_temp(
        conn,
        "_stats_findings_saved",
        "LIKE stats_findings",
        ("workspace_id", *_FINDING_COLUMNS, "position"),
        [_finding_record(workspace_id, s, position) for workspace_id, s, position in saved],
        f"INSERT INTO stats_findings (workspace_id, {', '.join(_FINDING_COLUMNS)}, position)"
        f" SELECT workspace_id, {', '.join(_FINDING_COLUMNS)}, position"
        " FROM _stats_findings_saved"
        " ON CONFLICT (workspace_id, fingerprint) DO UPDATE SET severity = EXCLUDED.severity,"
        " status = EXCLUDED.status, cve = EXCLUDED.cve, cwe = EXCLUDED.cwe,"
        " closed_at = EXCLUDED.closed_at, position = EXCLUDED.position",
    )


async def _add(conn: Connection, workspace_id: str, table: str, rows: dict[Key, list[int]]) -> None:
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
            f"DELETE FROM stats_{table} WHERE workspace_id = $1 AND {_DELETE_WHEN_ZERO[table]} = 0",
            workspace_id,
        )


async def _save_assets(
    conn: Connection,
    workspace_id: str,
    assets: dict[str, tuple[str, str]],
    services: dict[tuple[str, int, str], tuple[str | None, str]],
) -> None:
    """Asset rows (kind and key) and service names, from asset events and findings."""
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


async def _add_asset_counts(
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


async def _add_workspace(conn: Connection, workspace_id: str, tally: Tally, position: int) -> None:
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
