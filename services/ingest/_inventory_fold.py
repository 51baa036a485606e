"""The inventory (hosts, services, findings) folded in memory across a replay's batches.

`InventoryProjection.apply_batch` writes each batch with set-based statements
(`services.ingest._batch_apply`): right for an import, where each row is
touched once. A replay touches a finding once per scan that saw it; folded
here, every row is written once per save, with every column set, and its
search vector is stemmed once. Each rule below mirrors a statement of
`services.ingest.projections` (tested: a rebuild equals the live tables).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import msgspec

from services.ingest._batch_apply import row_key
from services.ingest.domain import first_scopes
from services.ingest.identity import SEVERITY_RANK
from shared.contracts import (
    FindingClosed,
    FindingDetails,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    HostChanged,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
)
from shared.database import copy_through_temp
from shared.projections import Fold

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import asyncpg

    from shared.contracts import RecordedEvent
    from shared.database import Connection

__all__ = ("InventoryFold",)

_HOST_COLUMNS = (
    "workspace_id", "asset_id", "kind", "key", "address", "hostnames", "os", "mac",
    "first_seen", "last_seen", "first_scan_id", "last_scan_id", "position",
)  # fmt: skip
_SERVICE_COLUMNS = (
    "workspace_id", "asset_id", "port", "protocol", "state", "name", "product", "version",
    "first_seen", "last_seen", "first_scan_id", "last_scan_id", "position",
)  # fmt: skip
_DETAIL_COLUMNS = (
    "title", "severity", "severity_rank", "rule_id", "location", "description", "solution",
    "references", "cve", "cwe", "cvss_vector", "cvss_score", "evidence",
)  # fmt: skip
_FINDING_COLUMNS = (
    "workspace_id", "fingerprint", "asset_id", "asset_kind", "asset_key", "port", "protocol",
    *_DETAIL_COLUMNS, "status", "status_comment", "status_actor", "status_changed_at",
    "scanners", "scopes", "observations", "first_seen", "last_seen", "closed_at",
    "first_scan_id", "last_scan_id", "last_scan_sha256", "version", "position",
)  # fmt: skip


_INSERT_STEMMED = (
    "INSERT INTO ingest_findings ({names}, search)"
    " SELECT {row}, ingest_finding_search_of(h.head, t.asset_key, d.tail) FROM {temp} t"
    " JOIN (SELECT title, cve, ingest_finding_search_head(title, cve) AS head"
    " FROM (SELECT DISTINCT title, cve FROM {temp}) s) h ON h.title = t.title AND h.cve = t.cve"
    " JOIN (SELECT text, ingest_finding_search_tail(text) AS tail"
    " FROM (SELECT DISTINCT coalesce(description, '') AS text FROM {temp}) s) d"
    " ON d.text = coalesce(t.description, '')"
)
"""Findings with their search vectors (`ingest_finding_search`), stemming each title with
its CVEs, and each description, once: many findings share them (a plugin on many hosts)."""


class _Host(msgspec.Struct, gc=False):
    """An ``ingest_hosts`` row (its key aside), as held.

    Rows are not tracked by the garbage collector: a replay holds many
    thousands, they refer to no other row, and tracking them cost it a tenth
    of its time.
    """

    kind: str
    key: str
    address: str | None
    hostnames: tuple[str, ...]
    os: str | None
    mac: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_scan_id: str
    last_scan_id: str
    position: int


class _Service(msgspec.Struct, gc=False):
    """An ``ingest_services`` row (its key aside), as held (untracked, like `_Host`)."""

    state: str
    name: str | None
    product: str | None
    version: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_scan_id: str
    last_scan_id: str
    position: int


class _Finding(msgspec.Struct, gc=False, kw_only=True):
    """An ``ingest_findings`` row (its key aside), as held (untracked, like `_Host`)."""

    asset_id: str
    asset_kind: str
    asset_key: str
    port: int | None
    protocol: str | None
    details: FindingDetails
    status: str
    scanners: tuple[str, ...]
    scopes: tuple[str, ...]
    first_seen: dt.datetime
    last_seen: dt.datetime
    first_scan_id: str
    last_scan_id: str
    last_scan_sha256: str
    version: int
    position: int
    observations: int = 1
    closed_at: dt.datetime | None = None
    status_comment: str | None = None
    status_actor: str | None = None
    status_changed_at: dt.datetime | None = None


_OPEN = FindingStatus.OPEN.value
_FIXED = FindingStatus.FIXED.value
_REOPENED = FindingStatus.REOPENED.value
HostKey = tuple[str, str]
ServiceKey = tuple[str, str, int, str]
FindingKey = tuple[str, str]


class InventoryFold(Fold):
    """``ingest_hosts``, ``ingest_services`` and ``ingest_findings`` rows, held until saved."""

    def __init__(self, *, empty: bool = False) -> None:
        """`empty`: the tables hold nothing yet, so no row needs to be loaded."""
        self._complete = empty
        self._hosts: dict[HostKey, _Host | None] = {}
        self._services: dict[ServiceKey, _Service | None] = {}
        self._findings: dict[FindingKey, _Finding | None] = {}
        self._dirty_hosts: set[HostKey] = set()
        self._dirty_services: set[ServiceKey] = set()
        self._dirty_findings: set[FindingKey] = set()
        self._rules: dict[type[Any], Callable[[RecordedEvent, Any], None]] = {
            HostDetected: self._host_detected,
            HostChanged: self._host_changed,
            ServiceDetected: self._service_detected,
            ServiceChanged: self._service_changed,
            FindingDetected: self._finding_detected,
            FindingObserved: self._finding_seen,
            FindingReopened: self._finding_seen,
            FindingClosed: self._finding_closed,
            FindingStatusChanged: self._status_changed,
        }

    @property
    def held(self) -> int:
        """Rows held, known absent ones included."""
        return len(self._hosts) + len(self._services) + len(self._findings)

    def fold(self, events: Sequence[RecordedEvent]) -> int:
        """Apply each event's rule to the row it touches."""
        rules, applied = self._rules, 0
        for event in events:
            rule = rules.get(type(event.data))
            if rule is not None:
                rule(event, event.data)
                applied += 1
        return applied

    def _host_detected(self, event: RecordedEvent, host: HostDetected) -> None:
        key = (host.workspace_id, host.asset_id)
        if self._hosts.get(key) is None:
            self._hosts[key] = _Host(
                kind=host.kind,
                key=host.key,
                address=host.address,
                hostnames=host.hostnames,
                os=host.os,
                mac=host.mac,
                first_seen=host.first_seen,
                last_seen=host.first_seen,
                first_scan_id=host.scan_id,
                last_scan_id=host.scan_id,
                position=event.position,
            )
            self._dirty_hosts.add(key)

    def _host_changed(self, event: RecordedEvent, host: HostChanged) -> None:
        key = (host.workspace_id, host.asset_id)
        row = self._hosts.get(key)
        if row is not None:
            row.address, row.hostnames = host.address, host.hostnames
            row.os, row.mac = host.os, host.mac
            row.last_seen, row.last_scan_id = host.seen_at, host.scan_id
            row.position = event.position
            self._dirty_hosts.add(key)

    def _service_detected(self, event: RecordedEvent, service: ServiceDetected) -> None:
        key = (service.workspace_id, service.asset_id, service.port, service.protocol)
        if self._services.get(key) is None:
            self._services[key] = _Service(
                state=service.state,
                name=service.name,
                product=service.product,
                version=service.version,
                first_seen=service.first_seen,
                last_seen=service.first_seen,
                first_scan_id=service.scan_id,
                last_scan_id=service.scan_id,
                position=event.position,
            )
            self._dirty_services.add(key)

    def _service_changed(self, event: RecordedEvent, service: ServiceChanged) -> None:
        key = (service.workspace_id, service.asset_id, service.port, service.protocol)
        row = self._services.get(key)
        if row is not None:
            row.state, row.name = service.state, service.name
            row.product, row.version = service.product, service.version
            row.last_seen, row.last_scan_id = service.seen_at, service.scan_id
            row.position = event.position
            self._dirty_services.add(key)

    def _finding_detected(self, event: RecordedEvent, found: FindingDetected) -> None:
        key = (found.workspace_id, found.fingerprint)
        if self._findings.get(key) is None:
            self._findings[key] = _Finding(
                asset_id=found.asset_id,
                asset_kind=found.asset_kind,
                asset_key=found.asset_key,
                port=found.port,
                protocol=found.protocol,
                details=found.details,
                status=_OPEN,
                scanners=(found.scanner,),
                scopes=tuple(first_scopes(found.scope)),
                first_seen=found.first_seen,
                last_seen=found.first_seen,
                first_scan_id=found.scan_id,
                last_scan_id=found.scan_id,
                last_scan_sha256=found.scan_sha256,
                version=event.stream_version,
                position=event.position,
            )
            self._dirty_findings.add(key)

    def _finding_seen(self, event: RecordedEvent, seen: FindingObserved | FindingReopened) -> None:
        key = (seen.workspace_id, seen.fingerprint)
        row = self._findings.get(key)
        if row is None:
            return
        row.details, row.last_seen = seen.details, seen.seen_at
        row.last_scan_id, row.last_scan_sha256 = seen.scan_id, seen.scan_sha256
        row.observations += 1
        if seen.scanner not in row.scanners:
            row.scanners = (*row.scanners, seen.scanner)
        if seen.scope is not None and seen.scope not in row.scopes:
            row.scopes = (*row.scopes, seen.scope)
        if isinstance(seen, FindingReopened):
            row.status, row.closed_at = _REOPENED, None
        row.version, row.position = event.stream_version, event.position
        self._dirty_findings.add(key)

    def _finding_closed(self, event: RecordedEvent, closed: FindingClosed) -> None:
        key = (closed.workspace_id, closed.fingerprint)
        row = self._findings.get(key)
        if row is not None:
            row.status, row.closed_at = _FIXED, closed.closed_at
            row.version, row.position = event.stream_version, event.position
            self._dirty_findings.add(key)

    def _status_changed(self, event: RecordedEvent, changed: FindingStatusChanged) -> None:
        key = (changed.workspace_id, changed.fingerprint)
        row = self._findings.get(key)
        if row is not None:
            row.status = str(changed.status)
            row.status_comment = changed.comment
            row.status_actor = changed.actor or event.metadata.actor
            row.status_changed_at = changed.changed_at
            fixed = changed.status == FindingStatus.FIXED
            row.closed_at = changed.changed_at if fixed else None
            row.version, row.position = event.stream_version, event.position
            self._dirty_findings.add(key)

    async def save(self, conn: Connection) -> None:
        """Upsert every row changed since the last save, whole; stem changed findings' text."""
        hosts = [_host_record(k, self._hosts[k]) for k in self._dirty_hosts]
        services = [_service_record(k, self._services[k]) for k in self._dirty_services]
        findings = [_finding_record(k, self._findings[k]) for k in self._dirty_findings]
        for table, columns, records, keys in (
            ("ingest_hosts", _HOST_COLUMNS, hosts, 2),
            ("ingest_services", _SERVICE_COLUMNS, services, 4),
        ):
            if records:
                await _upsert(conn, table, columns, records, keys)
        if findings:
            await _upsert(conn, "ingest_findings", _FINDING_COLUMNS, findings, 2, stemmed=True)
        self._dirty_hosts.clear()
        self._dirty_services.clear()
        self._dirty_findings.clear()

    @property
    def knows_all(self) -> bool:
        """True while nothing needs loading (see `Fold.knows_all`)."""
        return self._complete

    def forget(self) -> None:
        """Drop every row held; the next batches load theirs."""
        self._hosts.clear()
        self._services.clear()
        self._findings.clear()
        self._complete = False

    async def load(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Read the rows `events` touch that are not held (none when the tables started empty)."""
        if self._complete:
            return
        wanted: dict[str, set[Any]] = {"host": set(), "service": set(), "finding": set()}
        for event in events:
            if type(event.data) in self._rules:
                kind, *key = row_key(event)
                wanted[str(kind)].add(tuple(key))
        for table, columns, held, row_of, kind in (
            ("ingest_hosts", _HOST_COLUMNS, self._hosts, _host, "host"),
            ("ingest_services", _SERVICE_COLUMNS, self._services, _service, "service"),
            ("ingest_findings", _FINDING_COLUMNS, self._findings, _finding, "finding"),
        ):
            await _load(conn, table, columns, wanted[kind] - held.keys(), held, row_of)


def _host_record(key: HostKey, row: _Host | None) -> tuple[Any, ...]:
    assert row is not None
    return (
        *key, row.kind, row.key, row.address, row.hostnames, row.os, row.mac, row.first_seen,
        row.last_seen, row.first_scan_id, row.last_scan_id, row.position,
    )  # fmt: skip


def _service_record(key: ServiceKey, row: _Service | None) -> tuple[Any, ...]:
    assert row is not None
    return (
        *key, row.state, row.name, row.product, row.version, row.first_seen, row.last_seen,
        row.first_scan_id, row.last_scan_id, row.position,
    )  # fmt: skip


def _finding_record(key: FindingKey, row: _Finding | None) -> tuple[Any, ...]:
    assert row is not None
    d = row.details
    return (
        *key, row.asset_id, row.asset_kind, row.asset_key, row.port, row.protocol,
        d.title, d.severity, SEVERITY_RANK[d.severity], d.rule_id, d.location, d.description,
        d.solution, d.references, d.cve, d.cwe, d.cvss_vector, d.cvss_score, d.evidence,
        row.status, row.status_comment, row.status_actor, row.status_changed_at,
        row.scanners, row.scopes, row.observations, row.first_seen, row.last_seen,
        row.closed_at, row.first_scan_id, row.last_scan_id, row.last_scan_sha256,
        row.version, row.position,
    )  # fmt: skip


def _host(r: asyncpg.Record) -> _Host:
    return _Host(
        kind=r["kind"], key=r["key"], address=r["address"], hostnames=tuple(r["hostnames"]),
        os=r["os"], mac=r["mac"], first_seen=r["first_seen"], last_seen=r["last_seen"],
        first_scan_id=r["first_scan_id"], last_scan_id=r["last_scan_id"], position=r["position"],
    )  # fmt: skip


def _service(r: asyncpg.Record) -> _Service:
    return _Service(
        state=r["state"], name=r["name"], product=r["product"], version=r["version"],
        first_seen=r["first_seen"], last_seen=r["last_seen"], first_scan_id=r["first_scan_id"],
        last_scan_id=r["last_scan_id"], position=r["position"],
    )  # fmt: skip


def _finding(r: asyncpg.Record) -> _Finding:
    details = FindingDetails(
        title=r["title"], severity=r["severity"], rule_id=r["rule_id"], location=r["location"],
        description=r["description"], solution=r["solution"],
        references=tuple(r["references"]), cve=tuple(r["cve"]), cwe=tuple(r["cwe"]),
        cvss_vector=r["cvss_vector"], cvss_score=r["cvss_score"], evidence=r["evidence"],
    )  # fmt: skip
    return _Finding(
        asset_id=r["asset_id"], asset_kind=r["asset_kind"], asset_key=r["asset_key"],
        port=r["port"], protocol=r["protocol"], details=details, status=r["status"],
        scanners=tuple(r["scanners"]), scopes=tuple(r["scopes"]), first_seen=r["first_seen"],
        last_seen=r["last_seen"], first_scan_id=r["first_scan_id"],
        last_scan_id=r["last_scan_id"], last_scan_sha256=r["last_scan_sha256"],
        version=r["version"], position=r["position"], observations=r["observations"],
        closed_at=r["closed_at"], status_comment=r["status_comment"],
        status_actor=r["status_actor"], status_changed_at=r["status_changed_at"],
    )  # fmt: skip


async def _load(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    keys: set[Any],
    held: dict[Any, Any],
    row_of: Callable[[asyncpg.Record], Any],
) -> None:
    """Read `keys`' rows of `table` into `held`; a key with no row is held as None."""
    if not keys:
        return
    width = len(next(iter(keys)))
    key_columns = columns[:width]
    types = ("text", "text", "int", "text")[:width]
    unnest = ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(types))
    rows = await conn.fetch(
        f"SELECT {_names(columns)} FROM {table}"
        f" WHERE ({', '.join(key_columns)}) IN (SELECT * FROM unnest({unnest}))",
        *(list(column) for column in zip(*keys, strict=True)),
    )
    held.update(dict.fromkeys(keys))
    held.update((tuple(row[c] for c in key_columns), row_of(row)) for row in rows)


def _names(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


async def _upsert(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    records: list[Any],
    keys: int,
    *,
    stemmed: bool = False,
) -> None:
    """Write whole rows (the first `keys` columns are the key) through a temp table.

    `stemmed` rows (findings) get their search vector here, from the final text.
    """
    temp = f"_fold_{table}"
    names = _names(columns)
    updates = [f'"{c}" = EXCLUDED."{c}"' for c in columns[keys:]]
    statement = f"INSERT INTO {table} ({names}) SELECT {names} FROM {temp}"
    if stemmed:
        row = ", ".join(f't."{c}"' for c in columns)
        statement = _INSERT_STEMMED.format(names=names, row=row, temp=temp)
        updates.append("search = EXCLUDED.search")
    await copy_through_temp(
        conn,
        temp,
        f"LIKE {table}",
        columns,
        records,
        f"{statement} ON CONFLICT ({_names(columns[:keys])}) DO UPDATE SET {', '.join(updates)}",
    )
