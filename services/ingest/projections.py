"""Read models the ingest service owns: scans, hosts, services and findings.

Every statement is idempotent on its own terms (inserts ignore conflicts,
updates set values), and the runner applies each event once per checkpoint.
The findings table doubles as the state the import job decides against:
`version` is the finding stream's version, used for optimistic concurrency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from services.ingest._batch_apply import (
    BATCH_THRESHOLD,
    apply_in_bulk,
    bulk_kind,
    rounds,
)
from services.ingest._inventory_fold import InventoryFold
from services.ingest.domain import first_scopes
from services.ingest.identity import SEVERITY_RANK
from shared.contracts import (
    FindingClosed,
    FindingDetected,
    FindingObserved,
    FindingReopened,
    FindingStatus,
    FindingStatusChanged,
    HostChanged,
    HostDetected,
    ScanCompleted,
    ScanFailed,
    ScanProgressed,
    ScanStarted,
    ScanUploaded,
    ServiceChanged,
    ServiceDetected,
)
from shared.projections import Projection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from services.ingest.search_vectors import SearchVectors
    from shared.contracts import FindingDetails, RecordedEvent
    from shared.database import Connection

__all__ = ("InventoryProjection", "ScansProjection", "ingest_projections")


def _names(*types: type[object]) -> frozenset[str]:
    return frozenset(t.type_name() for t in types)  # type: ignore[attr-defined]


class ScansProjection(Projection):
    """One row per uploaded scan: status, progress, counts and failure reason."""

    name: ClassVar[str] = "ingest.scans"
    event_types: ClassVar[frozenset[str]] = _names(
        ScanUploaded, ScanStarted, ScanProgressed, ScanCompleted, ScanFailed
    )
    tables: ClassVar[tuple[str, ...]] = ("ingest_scans",)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Move the scan's row along its lifecycle."""
        match event.data:
            case ScanUploaded() as up:
                await conn.execute(
                    "INSERT INTO ingest_scans (scan_id, workspace_id, filename, object_name, size,"
                    " sha256, format_hint, scanner_hint, scope, status, uploaded_at, uploaded_by,"
                    " position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', $10, $11,"
                    " $12) ON CONFLICT (scan_id) DO NOTHING",
                    up.scan_id,
                    up.workspace_id,
                    up.filename,
                    up.object_name,
                    up.size,
                    up.sha256,
                    up.format_hint,
                    up.scanner_hint,
                    up.scope,
                    event.recorded_at,
                    event.metadata.actor,
                    event.position,
                )
            case ScanStarted(scan_id=scan_id, attempt=attempt):
                await conn.execute(
                    "UPDATE ingest_scans SET status = 'parsing', attempts = $2, started_at = $3,"
                    " bytes_read = 0, items = 0, position = $4"
                    " WHERE scan_id = $1 AND status IN ('queued', 'parsing')",
                    scan_id,
                    attempt,
                    event.recorded_at,
                    event.position,
                )
            case ScanProgressed(scan_id=scan_id, bytes_read=bytes_read, items=items):
                await conn.execute(
                    "UPDATE ingest_scans SET bytes_read = $2, items = $3, position = $4"
                    " WHERE scan_id = $1 AND status = 'parsing'",
                    scan_id,
                    bytes_read,
                    items,
                    event.position,
                )
            case ScanCompleted() as done:
                await conn.execute(
                    "UPDATE ingest_scans SET status = 'applied', format = $2, scanner = $3,"
                    " hosts = $4, services = $5, findings = $6, findings_new = $7,"
                    " findings_observed = $8, findings_reopened = $9, findings_closed = $10,"
                    " findings_unchanged = $11, duplicates = $12, duplicate_of = $13,"
                    " finished_at = $14, position = $15, bytes_read = size"
                    " WHERE scan_id = $1",
                    done.scan_id,
                    done.format,
                    done.scanner,
                    done.hosts,
                    done.services,
                    done.findings,
                    done.findings_new,
                    done.findings_observed,
                    done.findings_reopened,
                    done.findings_closed,
                    done.findings_unchanged,
                    done.duplicates,
                    done.duplicate_of,
                    event.recorded_at,
                    event.position,
                )
            case ScanFailed(scan_id=scan_id, reason=reason):
                await conn.execute(
                    "UPDATE ingest_scans SET status = 'failed', reason = $2, finished_at = $3,"
                    " position = $4 WHERE scan_id = $1",
                    scan_id,
                    reason,
                    event.recorded_at,
                    event.position,
                )


_DETAILS = (
    "title = $3, severity = $4, severity_rank = $5, rule_id = $6, location = $7,"
    ' description = $8, solution = $9, "references" = $10, cve = $11, cwe = $12,'
    " cvss_vector = $13, cvss_score = $14, evidence = $15"
)


def _details(details: FindingDetails) -> tuple[object, ...]:
    return (
        details.title,
        details.severity,
        SEVERITY_RANK[details.severity],
        details.rule_id,
        details.location,
        details.description,
        details.solution,
        list(details.references),
        list(details.cve),
        list(details.cwe),
        details.cvss_vector,
        details.cvss_score,
        details.evidence,
    )


class InventoryProjection(Projection):
    """Hosts, their services and findings: the deduplicated picture of a workspace."""

    name: ClassVar[str] = "ingest.inventory"
    event_types: ClassVar[frozenset[str]] = _names(
        HostDetected,
        HostChanged,
        ServiceDetected,
        ServiceChanged,
        FindingDetected,
        FindingObserved,
        FindingReopened,
        FindingClosed,
        FindingStatusChanged,
    )
    tables: ClassVar[tuple[str, ...]] = ("ingest_hosts", "ingest_services", "ingest_findings")

    def __init__(self, vectors: SearchVectors | None = None) -> None:
        """`vectors`: search vectors stemmed ahead (by an import) that bulk writes can use."""
        self._vectors = vectors

    async def apply_batch(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply events round by round (see `services.ingest._batch_apply`), kind by kind.

        Large groups of one kind take one set-based statement each; small ones
        and analyst status changes are applied one by one.
        """
        for round_ in rounds(events):
            groups: dict[str | None, list[RecordedEvent]] = {}
            for event in round_:
                groups.setdefault(bulk_kind(event), []).append(event)
            for kind, group in groups.items():
                if kind is None or len(group) < BATCH_THRESHOLD:
                    for event in group:
                        await self.apply(conn, event)
                else:
                    await apply_in_bulk(conn, kind, group, self._vectors)

    def start_fold(self, *, empty: bool) -> InventoryFold:
        """A fold held across a replay's batches (see `services.ingest._inventory_fold`)."""
        return InventoryFold(empty=empty)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        """Apply one asset or finding event."""
        match event.data:
            case HostDetected() | HostChanged() | ServiceDetected() | ServiceChanged():
                await self._asset(conn, event)
            case FindingDetected() as detected:
                await self._detected(conn, event, detected)
            case FindingObserved() | FindingReopened() as seen:
                reopened = isinstance(seen, FindingReopened)
                await conn.execute(
                    f"UPDATE ingest_findings SET {_DETAILS}, last_seen = $16,"
                    " last_scan_id = $17, last_scan_sha256 = $18, observations = observations + 1,"
                    " scanners = CASE WHEN $19 = ANY(scanners) THEN scanners"
                    " ELSE scanners || $19 END,"
                    " scopes = CASE WHEN $20::text IS NULL OR $20 = ANY(scopes) THEN scopes"
                    " ELSE scopes || $20 END,"
                    " status = CASE WHEN $21 THEN 'reopened' ELSE status END,"
                    " closed_at = CASE WHEN $21 THEN NULL ELSE closed_at END,"
                    " search = CASE WHEN (title, cve, description)"
                    " IS NOT DISTINCT FROM ($3, $11::text[], $8::text) THEN search"
                    " ELSE ingest_finding_search($3, $11, asset_key, $8) END,"
                    " version = $22, position = $23"
                    " WHERE workspace_id = $1 AND fingerprint = $2",
                    seen.workspace_id,
                    seen.fingerprint,
                    *_details(seen.details),
                    seen.seen_at,
                    seen.scan_id,
                    seen.scan_sha256,
                    seen.scanner,
                    seen.scope,
                    reopened,
                    event.stream_version,
                    event.position,
                )
            case FindingClosed() as closed:
                await conn.execute(
                    "UPDATE ingest_findings SET status = 'fixed', closed_at = $3, version = $4,"
                    " position = $5 WHERE workspace_id = $1 AND fingerprint = $2",
                    closed.workspace_id,
                    closed.fingerprint,
                    closed.closed_at,
                    event.stream_version,
                    event.position,
                )
            case FindingStatusChanged() as changed:
                fixed = changed.status == FindingStatus.FIXED
                await conn.execute(
                    "UPDATE ingest_findings SET status = $3, status_comment = $4,"
                    " status_actor = $5, status_changed_at = $6,"
                    " closed_at = CASE WHEN $7 THEN $6::timestamptz ELSE NULL END,"
                    " version = $8, position = $9 WHERE workspace_id = $1 AND fingerprint = $2",
                    changed.workspace_id,
                    changed.fingerprint,
                    str(changed.status),
                    changed.comment,
                    changed.actor or event.metadata.actor,
                    changed.changed_at,
                    fixed,
                    event.stream_version,
                    event.position,
                )

    @staticmethod
    async def _detected(conn: Connection, event: RecordedEvent, found: FindingDetected) -> None:
        await conn.execute(
            "INSERT INTO ingest_findings (workspace_id, fingerprint, title, severity,"
            ' severity_rank, rule_id, location, description, solution, "references", cve, cwe,'
            " cvss_vector, cvss_score, evidence, asset_id, asset_kind, asset_key, port, protocol,"
            " status, scanners, scopes, observations, first_seen, last_seen, first_scan_id,"
            " last_scan_id, last_scan_sha256, version, position, search) VALUES ($1, $2, $3, $4,"
            " $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, 'open',"
            " ARRAY[$21::text], $22, 1, $23, $23, $24, $24, $25, $26, $27,"
            " ingest_finding_search($3, $11, $18, $8))"
            " ON CONFLICT (workspace_id, fingerprint) DO NOTHING",
            found.workspace_id,
            found.fingerprint,
            *_details(found.details),
            found.asset_id,
            found.asset_kind,
            found.asset_key,
            found.port,
            found.protocol,
            found.scanner,
            first_scopes(found.scope),
            found.first_seen,
            found.scan_id,
            found.scan_sha256,
            event.stream_version,
            event.position,
        )

    @staticmethod
    async def _asset(conn: Connection, event: RecordedEvent) -> None:
        match event.data:
            case HostDetected() as host:
                await conn.execute(
                    "INSERT INTO ingest_hosts (workspace_id, asset_id, kind, key, address,"
                    " hostnames, os, mac, first_seen, last_seen, first_scan_id, last_scan_id,"
                    " position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $10, $11)"
                    " ON CONFLICT (workspace_id, asset_id) DO NOTHING",
                    host.workspace_id,
                    host.asset_id,
                    host.kind,
                    host.key,
                    host.address,
                    list(host.hostnames),
                    host.os,
                    host.mac,
                    host.first_seen,
                    host.scan_id,
                    event.position,
                )
            case HostChanged() as host:
                await conn.execute(
                    "UPDATE ingest_hosts SET address = $3, hostnames = $4, os = $5, mac = $6,"
                    " last_seen = $7, last_scan_id = $8, position = $9"
                    " WHERE workspace_id = $1 AND asset_id = $2",
                    host.workspace_id,
                    host.asset_id,
                    host.address,
                    list(host.hostnames),
                    host.os,
                    host.mac,
                    host.seen_at,
                    host.scan_id,
                    event.position,
                )
            case ServiceDetected() as service:
                await conn.execute(
                    "INSERT INTO ingest_services (workspace_id, asset_id, port, protocol, state,"
                    " name, product, version, first_seen, last_seen, first_scan_id, last_scan_id,"
                    " position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $10, $11)"
                    " ON CONFLICT (workspace_id, asset_id, port, protocol) DO NOTHING",
                    service.workspace_id,
                    service.asset_id,
                    service.port,
                    service.protocol,
                    service.state,
                    service.name,
                    service.product,
                    service.version,
                    service.first_seen,
                    service.scan_id,
                    event.position,
                )
            case ServiceChanged() as service:
                await conn.execute(
                    "UPDATE ingest_services SET state = $5, name = $6, product = $7, version = $8,"
                    " last_seen = $9, last_scan_id = $10, position = $11"
                    " WHERE workspace_id = $1 AND asset_id = $2 AND port = $3 AND protocol = $4",
                    service.workspace_id,
                    service.asset_id,
                    service.port,
                    service.protocol,
                    service.state,
                    service.name,
                    service.product,
                    service.version,
                    service.seen_at,
                    service.scan_id,
                    event.position,
                )


def ingest_projections(vectors: SearchVectors | None = None) -> tuple[Projection, ...]:
    """Every read model of the ingest service, in the order they are applied.

    An importer passes the `vectors` it has stemmed ahead; see `services.ingest.search_vectors`.
    """
    return (ScansProjection(), InventoryProjection(vectors))
