"""Importing one uploaded scan: fetch, detect, parse, stage, decide, append, all or nothing.

Parsing streams the file into a local spool (memory stays flat, progress is
recorded about once a second), in a worker thread that reads the file while
it is still arriving from the object store. Applying happens in one
transaction that holds the workspace's import lock and the append lock: it
checks that the scan is not finished already (so a retried or duplicated job
applies once), has the ingest read models brought up to the log head, and
then, chunk by chunk, decides against the read models and appends the host,
service and finding events with one COPY, `ScanCompleted` last. A
`ReadModelWriter` applies each appended chunk to the read models in bulk, on
a second connection, while the next chunk is decided and appended; it
commits right after the events do. So the read models are up to date when
the import is done, and the projection consumer finds nothing left to do.
Finding streams are appended at the versions the read model showed, so a
concurrent analyst change aborts the transaction and the job is retried. A
crash anywhere leaves no host or finding event behind, and no read-model
change the log does not hold.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import IO, TYPE_CHECKING, Any

import structlog

from services.ingest.domain import (
    Change,
    ImportContext,
    KnownFinding,
    KnownHost,
    KnownService,
    Tally,
    completed,
    decide_closures,
    decide_finding,
    decide_host,
    decide_service,
)
from services.ingest.parsers import registry
from services.ingest.parsers.base import SNIFF_BYTES
from services.ingest.parsers.errors import ScanRejected
from services.ingest.projections import ingest_projections
from services.ingest.read_model_writer import ReadModelWriter
from services.ingest.search_vectors import SearchVectors, parsed_search_text
from services.ingest.staging import Spool
from shared.contracts import (
    OPEN_STATUSES,
    EventMetadata,
    FindingStatus,
    ScanCompleted,
    ScanFailed,
    ScanProgressed,
    ScanStarted,
    ScanUploaded,
    scan_stream,
)
from shared.eventstore import StreamWrite
from shared.filling_file import TransferFailed
from shared.objectstore import ObjectMissing
from shared.projections import ProjectionRunner

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence

    import asyncpg

    from services.ingest.parsers.base import Parser
    from services.ingest.parsers.model import FindingObserved, Item, ServiceObserved
    from services.ingest.ports import Formats
    from shared.contracts import Event
    from shared.database import Connection
    from shared.eventstore import EventStore
    from shared.objectstore import ScanObjectStore

__all__ = ("Importer", "ScanNotFound", "ingest_importer")

_IMPORT_LOCK = 0x76696E67  # "ving": one import of a workspace applies at a time
_TERMINAL = (ScanCompleted.type_name(), ScanFailed.type_name())
_log = structlog.get_logger("vigil.ingest")


class ScanNotFound(LookupError):
    """The job names a scan whose `ScanUploaded` is not in the log."""


class _Parsed:
    """What parsing a file yielded: its format and scanner(s), and the spooled items."""

    def __init__(self, format: str, scanner: str, scanners: set[str], spool: Spool) -> None:
        self.format = format
        self.scanner = scanner
        self.scanners = scanners
        self.spool = spool


class Importer:
    """Imports scans into the log; one instance serves any number of jobs of one process."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        objects: ScanObjectStore,
        runner: ProjectionRunner,
        *,
        formats: Formats = registry,
        progress_every: float = 1.0,
        chunk: int = 2000,
        vectors: SearchVectors | None = None,
    ) -> None:
        """Import with `runner`'s projections applied inline, in the import's transaction.

        `vectors` is where new findings' search vectors are stemmed ahead, on a
        second connection while a chunk's events are appended; the runner's
        inventory projection must share it (see `ingest_importer`).
        """
        self._formats = formats
        self._vectors = vectors
        self._pool = pool
        self._store = store
        self._objects = objects
        self._runner = runner
        self._progress_every = progress_every
        self._chunk = chunk

    async def run(self, scan_id: str, workspace_id: str) -> None:
        """Import the scan once; a no-op when it already completed or failed.

        Raises:
            ScanNotFound: no such scan in the log.
            ConcurrencyError: a finding changed meanwhile; retry the job.
        """
        events = await self._store.read_stream(scan_stream(scan_id))
        uploaded = next((e.data for e in events if isinstance(e.data, ScanUploaded)), None)
        if uploaded is None:
            raise ScanNotFound(f"scan {scan_id!r} was never uploaded")
        if any(e.type in _TERMINAL for e in events):
            return
        attempt = 1 + sum(isinstance(e.data, ScanStarted) for e in events)
        meta = EventMetadata(correlation_id=scan_id, causation_id=str(events[0].event_id))
        await self._store.append_to_stream(
            scan_stream(scan_id),
            workspace_id,
            [ScanStarted(scan_id=scan_id, workspace_id=workspace_id, attempt=attempt)],
            metadata=meta,
        )
        with Spool(workspace_id, scanner_hint=uploaded.scanner_hint) as spool:
            try:
                parsed = await self._stage(uploaded, spool, meta)
            except ScanRejected as rejected:
                await self.fail(uploaded.scan_id, workspace_id, str(rejected), meta=meta)
                return
            except ObjectMissing:
                reason = "The uploaded file is no longer in the object store; upload it again."
                await self.fail(uploaded.scan_id, workspace_id, reason, meta=meta)
                return
            await self._apply(uploaded, parsed, meta)

    async def fail(
        self, scan_id: str, workspace_id: str, reason: str, *, meta: EventMetadata | None = None
    ) -> None:
        """Record `ScanFailed` (unless the scan already finished)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await self._lock(conn, workspace_id)
            if await self._finished(conn, scan_id):
                return
            failed = ScanFailed(scan_id=scan_id, workspace_id=workspace_id, reason=reason)
            await self._store.append_to_stream(
                scan_stream(scan_id), workspace_id, [failed], metadata=meta, conn=conn
            )
        _log.info("scan failed", scan_id=scan_id, reason=reason)

    # --- parsing -----------------------------------------------------------------------

    async def _stage(self, uploaded: ScanUploaded, spool: Spool, meta: EventMetadata) -> _Parsed:
        """Parse the file into `spool` in a worker thread, while it is still downloading."""
        async with self._objects.download_streaming(uploaded.object_name) as file:
            parser = await asyncio.to_thread(self._parser_for, uploaded, file)
            items = _guarded(parser, file)
            while await asyncio.to_thread(_spool_for, self._progress_every, items, spool):
                await self._progress(uploaded, file.tell(), spool.items, meta)
            # The last word on parsing, so that even a file read in under a second
            # shows how many items it held.
            await self._progress(uploaded, file.tell(), spool.items, meta)
        scanner = uploaded.scanner_hint or parser.scanner
        return _Parsed(parser.format, scanner, spool.scanners | {scanner}, spool)

    def _parser_for(self, uploaded: ScanUploaded, file: IO[bytes]) -> type[Parser]:
        head = file.read(SNIFF_BYTES)
        file.seek(0)
        if uploaded.format_hint:
            return self._formats.parser_for(uploaded.format_hint)
        return self._formats.detect_format(head)

    async def _progress(
        self, uploaded: ScanUploaded, bytes_read: int, items: int, meta: EventMetadata
    ) -> None:
        progressed = ScanProgressed(
            scan_id=uploaded.scan_id,
            workspace_id=uploaded.workspace_id,
            bytes_read=bytes_read,
            items=items,
        )
        await self._store.append_to_stream(
            scan_stream(uploaded.scan_id), uploaded.workspace_id, [progressed], metadata=meta
        )

    # --- applying ----------------------------------------------------------------------

    async def _apply(self, uploaded: ScanUploaded, parsed: _Parsed, meta: EventMetadata) -> None:
        scan_id, workspace_id = uploaded.scan_id, uploaded.workspace_id
        async with (
            self._pool.acquire() as conn,
            self._pool.acquire() as models,
            ReadModelWriter(self._runner, models, workspace_id) as writer,
        ):
            async with conn.transaction():
                await self._lock(conn, workspace_id)
                if await self._finished(conn, scan_id):
                    return
                # Nobody appends from here to the commit: the read models are brought
                # up to this head and the import's events follow it directly.
                await writer.begin(await self._store.hold_appends(conn))
                ctx = ImportContext(
                    workspace_id=workspace_id,
                    scan_id=scan_id,
                    sha256=uploaded.sha256,
                    scope=uploaded.scope,
                    at=dt.datetime.now(dt.UTC),
                )
                tally = Tally()
                duplicate_of: str | None = await conn.fetchval(
                    "SELECT scan_id FROM ingest_scans WHERE workspace_id = $1 AND sha256 = $2"
                    " AND status = 'applied' AND scan_id <> $3 ORDER BY finished_at LIMIT 1",
                    workspace_id,
                    uploaded.sha256,
                    scan_id,
                )
                if duplicate_of is None:
                    await self._decide_all(conn, writer, ctx, parsed, tally, meta)
                done = completed(ctx, tally, format=parsed.format, scanner=parsed.scanner)
                if duplicate_of is not None:
                    done = ScanCompleted(
                        scan_id=scan_id,
                        workspace_id=workspace_id,
                        format=parsed.format,
                        scanner=parsed.scanner,
                        duplicate_of=duplicate_of,
                    )
                recorded = await self._store.append_to_stream(
                    scan_stream(scan_id), workspace_id, [done], metadata=meta, conn=conn
                )
                await writer.apply(recorded)
                await writer.wait()
            await writer.commit()
        _log.info("scan applied", scan_id=scan_id, duplicate_of=duplicate_of)

    async def _decide_all(
        self,
        conn: Connection,
        writer: ReadModelWriter,
        ctx: ImportContext,
        parsed: _Parsed,
        tally: Tally,
        meta: EventMetadata,
    ) -> None:
        ws, spool = ctx.workspace_id, parsed.spool
        # Each findings chunk has its search vectors stemmed by a third backend while
        # this one works on what comes before it: the first while hosts and services go.
        chunks = spool.findings(self._chunk // 2)
        ahead = next(chunks, None)
        stemming = self._stem_ahead(ws, ahead)
        try:
            await self._decide_assets(conn, writer, ctx, spool, tally, meta)
            while ahead is not None:
                findings, repeats = ahead
                ahead = next(chunks, None)
                await stemming
                stemming = self._stem_ahead(ws, ahead)
                known = await _known_findings(conn, ws, [fp for fp, _ in findings])
                tally.duplicates += repeats
                changes = [decide_finding(ctx, fp, f, known.get(fp), tally) for fp, f in findings]
                await self._append(conn, writer, changes, meta)
        finally:
            await stemming
        candidates = await _open_in_covered_assets(conn, ws, spool.covered)
        closures = list(
            decide_closures(ctx, candidates, spool.reported, spool.covered, parsed.scanners, tally)
        )
        for start in range(0, len(closures), self._chunk):
            await self._append(conn, writer, closures[start : start + self._chunk], meta)

    async def _decide_assets(
        self,
        conn: Connection,
        writer: ReadModelWriter,
        ctx: ImportContext,
        spool: Spool,
        tally: Tally,
        meta: EventMetadata,
    ) -> None:
        ws = ctx.workspace_id
        for assets in spool.assets(self._chunk):
            hosts = await _known_hosts(conn, ws, [aid for aid, _ in assets])
            tally.hosts += len(assets)
            changes = [decide_host(ctx, aid, asset, hosts.get(aid)) for aid, asset in assets]
            await self._append(conn, writer, changes, meta)
        for services in spool.services(self._chunk):
            known_services = await _known_services(conn, ws, services)
            tally.services += len(services)
            changes = [
                decide_service(
                    ctx, aid, svc, known_services.get(_skey(aid, svc.port, svc.protocol))
                )
                for aid, svc in services
            ]
            await self._append(conn, writer, changes, meta)

    async def _append(
        self,
        conn: Connection,
        writer: ReadModelWriter,
        changes: Iterable[Change | None],
        meta: EventMetadata,
    ) -> None:
        """Append the changes with one COPY; `writer` applies them while the next are decided."""
        writes = [
            StreamWrite(
                stream_id=change.stream_id,
                workspace_id=_workspace_of(change.event),
                events=[change.event],
                expected_version=change.expected_version,
            )
            for change in changes
            if change is not None
        ]
        if writes:
            await writer.apply(await self._store.append(writes, metadata=meta, conn=conn))

    def _stem_ahead(
        self, workspace_id: str, chunk: tuple[list[tuple[str, FindingObserved]], int] | None
    ) -> asyncio.Task[None]:
        """Have the search vectors of a chunk's new findings stemmed on a second connection."""
        return asyncio.create_task(self._stem(workspace_id, chunk[0] if chunk else []))

    async def _stem(self, workspace_id: str, findings: list[tuple[str, FindingObserved]]) -> None:
        if self._vectors is not None and findings:
            candidates = [(fp, parsed_search_text(f)) for fp, f in findings]
            await self._vectors.stem(workspace_id, candidates)

    @staticmethod
    async def _lock(conn: Connection, workspace_id: str) -> None:
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _IMPORT_LOCK, workspace_id
        )

    @staticmethod
    async def _finished(conn: Connection, scan_id: str) -> bool:
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1"
            " AND event_type = ANY($2::text[]))",
            scan_stream(scan_id),
            list(_TERMINAL),
        )
        return found


def ingest_importer(
    pool: asyncpg.Pool,
    store: EventStore,
    objects: ScanObjectStore,
    *,
    formats: Formats = registry,
) -> Importer:
    """An importer that keeps the ingest read models, new findings' search stemmed ahead.

    Each import holds two of `pool`'s connections (events and read models) and
    borrows a third to stem when one is free.
    """
    vectors = SearchVectors(pool)
    runner = ProjectionRunner(pool, ingest_projections(vectors))
    return Importer(pool, store, objects, runner, formats=formats, vectors=vectors)


def _spool_for(seconds: float, items: Iterator[Item], spool: Spool) -> bool:
    """Spool items for about `seconds`; False once there are no more (runs in a thread)."""
    until = time.monotonic() + seconds
    for item in items:
        spool.add(item)
        if time.monotonic() >= until:
            return True
    return False


def _guarded(parser: type[Parser], file: IO[bytes]) -> Iterator[Item]:
    """The parser's items; anything it raises besides `ScanRejected` becomes one.

    A broken download (`TransferFailed`) is not the file's fault and passes
    through, so that the job is retried.
    """
    items = parser().parse(file)
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except (ScanRejected, TransferFailed):
            raise
        except Exception as exc:
            raise ScanRejected(
                f"The file could not be read as {parser.format}: {exc or type(exc).__name__}"
            ) from exc
        yield item


def _workspace_of(event: Event) -> str:
    workspace: str = event.workspace_id  # type: ignore[attr-defined]
    return workspace


def _skey(aid: str, port: int, protocol: str | None) -> tuple[str, int, str]:
    return (aid, port, (protocol or "tcp").lower())


async def _known_hosts(conn: Connection, ws: str, ids: Sequence[str]) -> dict[str, KnownHost]:
    rows = await conn.fetch(
        "SELECT asset_id, address, hostnames, os, mac FROM ingest_hosts"
        " WHERE workspace_id = $1 AND asset_id = ANY($2::text[])",
        ws,
        list(ids),
    )
    return {
        r["asset_id"]: KnownHost(
            asset_id=r["asset_id"],
            address=r["address"],
            hostnames=tuple(r["hostnames"]),
            os=r["os"],
            mac=r["mac"],
        )
        for r in rows
    }


async def _known_services(
    conn: Connection, ws: str, services: Sequence[tuple[str, ServiceObserved]]
) -> dict[tuple[str, int, str], KnownService]:
    keys = [_skey(aid, svc.port, svc.protocol) for aid, svc in services]
    rows = await conn.fetch(
        "SELECT s.* FROM ingest_services s"
        " JOIN unnest($2::text[], $3::int[], $4::text[]) AS k(asset_id, port, protocol)"
        " USING (asset_id, port, protocol) WHERE s.workspace_id = $1",
        ws,
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
    )
    return {
        (r["asset_id"], r["port"], r["protocol"]): KnownService(
            asset_id=r["asset_id"],
            port=r["port"],
            protocol=r["protocol"],
            state=r["state"],
            name=r["name"],
            product=r["product"],
            version=r["version"],
        )
        for r in rows
    }


_FINDING_STATE = (
    "SELECT fingerprint, asset_id, status, version, scanners, scopes, last_scan_sha256"
    " FROM ingest_findings"
)


def _known_finding(row: Any) -> KnownFinding:
    return KnownFinding(
        fingerprint=row["fingerprint"],
        asset_id=row["asset_id"],
        status=FindingStatus(row["status"]),
        version=row["version"],
        scanners=tuple(row["scanners"]),
        scopes=tuple(row["scopes"]),
        last_scan_sha256=row["last_scan_sha256"],
    )


async def _known_findings(conn: Connection, ws: str, fps: Sequence[str]) -> dict[str, KnownFinding]:
    rows = await conn.fetch(
        f"{_FINDING_STATE} WHERE workspace_id = $1 AND fingerprint = ANY($2::text[])", ws, list(fps)
    )
    return {r["fingerprint"]: _known_finding(r) for r in rows}


async def _open_in_covered_assets(
    conn: Connection, ws: str, covered: Collection[str]
) -> list[KnownFinding]:
    """Open findings on the assets the scan covered (close candidates, reported ones included)."""
    rows = await conn.fetch(
        f"{_FINDING_STATE} WHERE workspace_id = $1 AND status = ANY($2::text[])"
        " AND asset_id = ANY($3::text[])",
        ws,
        sorted(str(s) for s in OPEN_STATUSES),
        list(covered),
    )
    return [_known_finding(r) for r in rows]
