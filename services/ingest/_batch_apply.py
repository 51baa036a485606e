"""Set-based application of many inventory events: COPY into a temp table, one statement.

`InventoryProjection.apply_batch` splits a batch into *rounds* in which no
row (host, service or finding) is touched twice: the n-th event on a row goes
to round n. Events on different rows commute (every statement touches its
own row only), so applying round after round, each kind of event of a round
with one statement, leaves the tables exactly as applying the events one by
one in log order. Each statement mirrors its per-event twin in
`services.ingest.projections`.

PostgreSQL text cannot hold U+0000; the log stores it as U+FFFD, and the
events an append returns already carry the replacement (see
`shared.eventstore`), so nothing here needs to clean text.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import asyncpg

from services.ingest.domain import first_scopes
from services.ingest.identity import SEVERITY_RANK
from services.ingest.search_vectors import search_text
from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    HostChanged,
    HostDetected,
    ServiceChanged,
    ServiceDetected,
)
from shared.database import copy_through_temp

if TYPE_CHECKING:
    from collections.abc import Sequence

    from services.ingest.search_vectors import SearchVectors
    from shared.contracts import FindingDetails, RecordedEvent
    from shared.database import Connection

__all__ = ("BATCH_THRESHOLD", "apply_in_bulk", "bulk_kind", "rounds")

BATCH_THRESHOLD = 16
"""Fewer events of one kind in a round than this are applied one by one."""


def row_key(event: RecordedEvent) -> tuple[object, ...]:
    """The read-model row an inventory event touches."""
    data: Any = event.data
    match data:
        case HostDetected() | HostChanged():
            return ("host", data.workspace_id, data.asset_id)
        case ServiceDetected() | ServiceChanged():
            return ("service", data.workspace_id, data.asset_id, data.port, data.protocol)
        case _:
            return ("finding", data.workspace_id, data.fingerprint)


def rounds(events: Sequence[RecordedEvent]) -> list[list[RecordedEvent]]:
    """`events` split into rounds: the n-th event on a row is in round n, log order kept."""
    seen: dict[tuple[object, ...], int] = defaultdict(int)
    out: list[list[RecordedEvent]] = []
    for event in events:
        key = row_key(event)
        n = seen[key]
        seen[key] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(event)
    return out


_HOSTS = "_ingest_batch_hosts"
_HOST_COLUMNS = (
    "workspace_id", "asset_id", "kind", "key", "address", "hostnames", "os", "mac",
    "at", "scan_id", "position",
)  # fmt: skip
_HOST_DDL = (
    "workspace_id text, asset_id text, kind text, key text, address text, hostnames text[],"
    " os text, mac text, at timestamptz, scan_id text, position bigint"
)
_SERVICES = "_ingest_batch_services"
_SERVICE_COLUMNS = (
    "workspace_id", "asset_id", "port", "protocol", "state", "name", "product", "version",
    "at", "scan_id", "position",
)  # fmt: skip
_SERVICE_DDL = (
    "workspace_id text, asset_id text, port integer, protocol text, state text, name text,"
    " product text, version text, at timestamptz, scan_id text, position bigint"
)
_FINDINGS = "_ingest_batch_findings"
_DETAIL_COLUMNS = (
    "title", "severity", "severity_rank", "rule_id", "location", "description", "solution",
    "references", "cve", "cwe", "cvss_vector", "cvss_score", "evidence",
)  # fmt: skip
_FINDING_COLUMNS = (
    "workspace_id", "fingerprint", *_DETAIL_COLUMNS, "asset_id", "asset_kind", "asset_key",
    "port", "protocol", "scanner", "scope", "at", "scan_id", "scan_sha256", "reopened",
    "version", "position", "search",
)  # fmt: skip
_FINDING_DDL = (
    "workspace_id text, fingerprint text, title text, severity text, severity_rank smallint,"
    ' rule_id text, location text, description text, solution text, "references" text[],'
    " cve text[], cwe text[], cvss_vector text, cvss_score double precision, evidence text,"
    " asset_id text, asset_kind text, asset_key text, port integer, protocol text,"
    " scanner text, scope text, at timestamptz, scan_id text, scan_sha256 text,"
    " reopened boolean, version integer, position bigint, search tsvector"
)

_INSERT_HOSTS = (
    "INSERT INTO ingest_hosts (workspace_id, asset_id, kind, key, address, hostnames, os, mac,"
    " first_seen, last_seen, first_scan_id, last_scan_id, position)"
    " SELECT workspace_id, asset_id, kind, key, address, hostnames, os, mac, at, at, scan_id,"
    f" scan_id, position FROM {_HOSTS} ON CONFLICT (workspace_id, asset_id) DO NOTHING"
)
_UPDATE_HOSTS = (
    "UPDATE ingest_hosts h SET address = b.address, hostnames = b.hostnames, os = b.os,"
    " mac = b.mac, last_seen = b.at, last_scan_id = b.scan_id, position = b.position"
    f" FROM {_HOSTS} b WHERE h.workspace_id = b.workspace_id AND h.asset_id = b.asset_id"
)
_INSERT_SERVICES = (
    "INSERT INTO ingest_services (workspace_id, asset_id, port, protocol, state, name, product,"
    " version, first_seen, last_seen, first_scan_id, last_scan_id, position)"
    " SELECT workspace_id, asset_id, port, protocol, state, name, product, version, at, at,"
    f" scan_id, scan_id, position FROM {_SERVICES}"
    " ON CONFLICT (workspace_id, asset_id, port, protocol) DO NOTHING"
)
_UPDATE_SERVICES = (
    "UPDATE ingest_services s SET state = b.state, name = b.name, product = b.product,"
    " version = b.version, last_seen = b.at, last_scan_id = b.scan_id, position = b.position"
    f" FROM {_SERVICES} b WHERE s.workspace_id = b.workspace_id AND s.asset_id = b.asset_id"
    " AND s.port = b.port AND s.protocol = b.protocol"
)
_DETAILS_FROM_B = ", ".join(f'"{c}" = b."{c}"' for c in _DETAIL_COLUMNS)
_INSERT_FINDINGS = (
    "INSERT INTO ingest_findings (workspace_id, fingerprint, title, severity, severity_rank,"
    ' rule_id, location, description, solution, "references", cve, cwe, cvss_vector,'
    " cvss_score, evidence, asset_id, asset_kind, asset_key, port, protocol, status, scanners,"
    " scopes, observations, first_seen, last_seen, first_scan_id, last_scan_id,"
    " last_scan_sha256, version, position, search)"
    " SELECT workspace_id, fingerprint, title, severity, severity_rank, rule_id, location,"
    ' description, solution, "references", cve, cwe, cvss_vector, cvss_score, evidence,'
    " asset_id, asset_kind, asset_key, port, protocol, 'open', ARRAY[scanner],"
    " CASE WHEN scope IS NULL THEN '{}'::text[] ELSE ARRAY[scope] END, 1, at, at, scan_id,"
    " scan_id, scan_sha256, version, position,"
    " coalesce(search, ingest_finding_search(title, cve, asset_key, description))"
    f" FROM {_FINDINGS} ON CONFLICT (workspace_id, fingerprint) DO NOTHING"
)
_UPDATE_SEEN = (
    f"UPDATE ingest_findings f SET {_DETAILS_FROM_B}, last_seen = b.at,"
    " last_scan_id = b.scan_id, last_scan_sha256 = b.scan_sha256,"
    " observations = f.observations + 1,"
    " scanners = CASE WHEN b.scanner = ANY(f.scanners) THEN f.scanners"
    " ELSE f.scanners || b.scanner END,"
    " scopes = CASE WHEN b.scope IS NULL OR b.scope = ANY(f.scopes) THEN f.scopes"
    " ELSE f.scopes || b.scope END,"
    " status = CASE WHEN b.reopened THEN 'reopened' ELSE f.status END,"
    " closed_at = CASE WHEN b.reopened THEN NULL ELSE f.closed_at END,"
    " search = CASE WHEN (f.title, f.cve, f.description)"
    " IS NOT DISTINCT FROM (b.title, b.cve, b.description) THEN f.search"
    " ELSE ingest_finding_search(b.title, b.cve, f.asset_key, b.description) END,"
    " version = b.version, position = b.position"
    f" FROM {_FINDINGS} b WHERE f.workspace_id = b.workspace_id"
    " AND f.fingerprint = b.fingerprint"
)
_UPDATE_CLOSED = (
    "UPDATE ingest_findings f SET status = 'fixed', closed_at = b.closed_at,"
    " version = b.version, position = b.position"
    " FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::integer[], $5::bigint[])"
    " AS b(workspace_id, fingerprint, closed_at, version, position)"
    " WHERE f.workspace_id = b.workspace_id AND f.fingerprint = b.fingerprint"
)


def _details(details: FindingDetails) -> tuple[Any, ...]:
    return (
        details.title,
        details.severity,
        SEVERITY_RANK[details.severity],
        details.rule_id,
        details.location,
        details.description,
        details.solution,
        details.references,
        details.cve,
        details.cwe,
        details.cvss_vector,
        details.cvss_score,
        details.evidence,
    )


def _host_row(event: RecordedEvent) -> tuple[Any, ...]:
    host: Any = event.data
    detected = isinstance(host, HostDetected)
    return (
        host.workspace_id,
        host.asset_id,
        host.kind if detected else None,
        host.key if detected else None,
        host.address,
        host.hostnames,
        host.os,
        host.mac,
        host.first_seen if detected else host.seen_at,
        host.scan_id,
        event.position,
    )


def _service_row(event: RecordedEvent) -> tuple[Any, ...]:
    service: Any = event.data
    detected = isinstance(service, ServiceDetected)
    return (
        service.workspace_id,
        service.asset_id,
        service.port,
        service.protocol,
        service.state,
        service.name,
        service.product,
        service.version,
        service.first_seen if detected else service.seen_at,
        service.scan_id,
        event.position,
    )


def _finding_row(event: RecordedEvent) -> tuple[Any, ...]:
    found: Any = event.data
    detected = isinstance(found, FindingDetected)
    return (
        found.workspace_id,
        found.fingerprint,
        *_details(found.details),
        found.asset_id if detected else None,
        found.asset_kind if detected else None,
        found.asset_key if detected else None,
        found.port if detected else None,
        found.protocol if detected else None,
        found.scanner,
        found.scope,
        found.first_seen if detected else found.seen_at,
        found.scan_id,
        found.scan_sha256,
        isinstance(found, FindingReopened),
        event.stream_version,
        event.position,
    )


_KINDS: dict[type[object], str] = {
    HostDetected: "host+",
    HostChanged: "host~",
    ServiceDetected: "service+",
    ServiceChanged: "service~",
    FindingDetected: "finding+",
    FindingObserved: "finding~",
    FindingReopened: "finding~",
    FindingClosed: "closed",
}
_STATEMENTS: dict[str, tuple[str, str, tuple[str, ...], Any, str]] = {
    "host+": (_HOSTS, _HOST_DDL, _HOST_COLUMNS, _host_row, _INSERT_HOSTS),
    "host~": (_HOSTS, _HOST_DDL, _HOST_COLUMNS, _host_row, _UPDATE_HOSTS),
    "service+": (_SERVICES, _SERVICE_DDL, _SERVICE_COLUMNS, _service_row, _INSERT_SERVICES),
    "service~": (_SERVICES, _SERVICE_DDL, _SERVICE_COLUMNS, _service_row, _UPDATE_SERVICES),
    "finding+": (_FINDINGS, _FINDING_DDL, _FINDING_COLUMNS, _finding_row, _INSERT_FINDINGS),
    "finding~": (_FINDINGS, _FINDING_DDL, _FINDING_COLUMNS, _finding_row, _UPDATE_SEEN),
}


def bulk_kind(event: RecordedEvent) -> str | None:
    """The set-based statement an event belongs to, None when it is applied one by one."""
    return _KINDS.get(type(event.data))


_NEW_FINDING_COLUMNS = (
    "workspace_id", "fingerprint", *_DETAIL_COLUMNS, "asset_id", "asset_kind", "asset_key",
    "port", "protocol", "status", "scanners", "scopes", "observations", "first_seen",
    "last_seen", "first_scan_id", "last_scan_id", "last_scan_sha256", "version", "position",
    "search",
)  # fmt: skip


def _new_finding_row(event: RecordedEvent, vector: bytes) -> tuple[Any, ...]:
    """A row of `ingest_findings` exactly as `_INSERT_FINDINGS` would make it."""
    found: Any = event.data
    return (
        found.workspace_id,
        found.fingerprint,
        *_details(found.details),
        found.asset_id,
        found.asset_kind,
        found.asset_key,
        found.port,
        found.protocol,
        "open",
        [found.scanner],
        first_scopes(found.scope),
        1,
        found.first_seen,
        found.first_seen,
        found.scan_id,
        found.scan_id,
        found.scan_sha256,
        event.stream_version,
        event.position,
        vector,
    )


async def _copied_in(
    conn: Connection, events: Sequence[RecordedEvent], vectors: Sequence[bytes]
) -> bool:
    """COPY new findings, with their stemmed `vectors`, straight into their table.

    This spares the temp table an import's findings would otherwise pass
    through. A finding that is there already (which the upsert would leave
    alone) undoes the COPY, back to a savepoint, and leaves the batch to the
    upsert: False.
    """
    records = [_new_finding_row(e, v) for e, v in zip(events, vectors, strict=True)]
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "ingest_findings", records=records, columns=_NEW_FINDING_COLUMNS
            )
    except asyncpg.UniqueViolationError:
        return False
    return True


def _stemmed(event: RecordedEvent, vectors: SearchVectors | None) -> bytes | None:
    """The search vector stemmed ahead for a new finding, None to have the statement stem it."""
    if vectors is None or not isinstance(event.data, FindingDetected):
        return None
    return vectors.get(search_text(event.data))


async def apply_in_bulk(
    conn: Connection,
    kind: str,
    events: Sequence[RecordedEvent],
    vectors: SearchVectors | None = None,
) -> None:
    """Apply events of one kind, no two on the same row, with one statement.

    New findings take their search vectors from `vectors` where it has them.
    """
    if kind == "closed":
        closed: list[Any] = [e.data for e in events]
        await conn.execute(
            _UPDATE_CLOSED,
            [c.workspace_id for c in closed],
            [c.fingerprint for c in closed],
            [c.closed_at for c in closed],
            [e.stream_version for e in events],
            [e.position for e in events],
        )
        return
    table, ddl, columns, row, statement = _STATEMENTS[kind]
    if table != _FINDINGS:
        await copy_through_temp(conn, table, ddl, columns, [row(e) for e in events], statement)
        return
    stemmed = [_stemmed(e, vectors) for e in events]
    complete = [v for v in stemmed if v is not None]
    all_stemmed = len(complete) == len(events)
    if kind == "finding+" and all_stemmed and await _copied_in(conn, events, complete):
        return
    records = [(*row(e), v) for e, v in zip(events, stemmed, strict=True)]
    await copy_through_temp(conn, table, ddl, columns, records, statement)
