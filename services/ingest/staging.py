"""Staging a parsed file in PostgreSQL, so that an import's memory stays flat.

Parsed items are copied in chunks into the unlogged ``ingest_staging`` table
under their scan id and identity (asset id, service key or fingerprint), then
read back in batches of whole groups (every sighting of one identity), in
which repeats are merged. Only the set of asset ids a file names is kept in
memory while staging.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import msgspec

from services.ingest.identity import (
    asset_id,
    fingerprint,
    merge_assets,
    merge_findings,
    merge_services,
    service_key,
    with_scanner,
)
from services.ingest.parsers.model import Asset, FindingObserved, HostObserved, ServiceObserved

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from services.ingest.parsers.model import Item
    from shared.database import Connection

__all__ = (
    "StagedKind",
    "Stager",
    "clear_staging",
    "staged_assets",
    "staged_findings",
    "staged_services",
)

_encode = msgspec.msgpack.Encoder().encode
_asset = msgspec.msgpack.Decoder(Asset)
_service = msgspec.msgpack.Decoder(ServiceObserved)
_finding = msgspec.msgpack.Decoder(FindingObserved)
_COLUMNS = ("scan_id", "kind", "key", "seq", "payload")


class StagedKind(enum.IntEnum):
    """What a staged row holds."""

    ASSET = 1
    SERVICE = 2
    FINDING = 3


def _service_row_key(aid: str, service: ServiceObserved) -> str:
    port, protocol = service_key(service)
    return f"{aid}/{port}/{protocol}"


class Stager:
    """Copies one scan's items into the staging table, `chunk` rows at a time."""

    def __init__(
        self,
        conn: Connection,
        workspace_id: str,
        scan_id: str,
        *,
        scanner_hint: str | None = None,
        chunk: int = 2000,
    ) -> None:
        self._conn = conn
        self._workspace_id = workspace_id
        self._scan_id = scan_id
        self._hint = scanner_hint
        self._chunk = chunk
        self._rows: list[tuple[str, int, str, int, bytes]] = []
        self._assets: set[str] = set()
        self._seq = 0
        self.items = 0
        self.scanners: set[str] = set()

    async def add(self, raw: Item) -> None:
        """Stage one parsed item (and, the first time it is named, its asset)."""
        item = with_scanner(raw, self._hint)
        self.items += 1
        if isinstance(item, HostObserved) and item.status.strip().lower() == "down":
            return  # a host the scanner could not reach was not covered by the scan
        aid = asset_id(self._workspace_id, item.asset)
        if aid not in self._assets or not isinstance(item, ServiceObserved | FindingObserved):
            self._assets.add(aid)
            self._row(StagedKind.ASSET, aid, _encode(item.asset))
        if isinstance(item, ServiceObserved):
            self._row(StagedKind.SERVICE, _service_row_key(aid, item), _encode(item))
        elif isinstance(item, FindingObserved):
            self.scanners.add(item.scanner)
            self._row(StagedKind.FINDING, fingerprint(self._workspace_id, item), _encode(item))
        if len(self._rows) >= self._chunk:
            await self.flush()

    def _row(self, kind: StagedKind, key: str, payload: bytes) -> None:
        self._seq += 1
        self._rows.append((self._scan_id, int(kind), key, self._seq, payload))

    async def flush(self) -> None:
        """Copy the rows gathered so far."""
        if self._rows:
            await self._conn.copy_records_to_table(
                "ingest_staging", records=self._rows, columns=_COLUMNS
            )
            self._rows = []


async def clear_staging(conn: Connection, scan_id: str) -> None:
    """Forget whatever an earlier attempt of this scan staged."""
    await conn.execute("DELETE FROM ingest_staging WHERE scan_id = $1", scan_id)


async def _groups(
    conn: Connection, scan_id: str, kind: StagedKind, batch: int
) -> AsyncIterator[list[tuple[str, list[bytes]]]]:
    """Staged rows of one kind, grouped by key, `batch` keys at a time, in key order."""
    after = ""
    while True:
        rows = await conn.fetch(
            "WITH keys AS (SELECT DISTINCT key FROM ingest_staging"
            " WHERE scan_id = $1 AND kind = $2 AND key > $3 ORDER BY key LIMIT $4)"
            " SELECT s.key, s.payload FROM ingest_staging s JOIN keys USING (key)"
            " WHERE s.scan_id = $1 AND s.kind = $2 ORDER BY s.key, s.seq",
            scan_id,
            int(kind),
            after,
            batch,
        )
        if not rows:
            return
        groups: list[tuple[str, list[bytes]]] = []
        for row in rows:
            if groups and groups[-1][0] == row["key"]:
                groups[-1][1].append(row["payload"])
            else:
                groups.append((row["key"], [row["payload"]]))
        yield groups
        after = groups[-1][0]


async def staged_assets(
    conn: Connection, scan_id: str, batch: int = 1000
) -> AsyncIterator[list[tuple[str, Asset]]]:
    """The scan's assets by asset id, sightings merged, a batch at a time."""
    async for groups in _groups(conn, scan_id, StagedKind.ASSET, batch):
        merged = []
        for key, payloads in groups:
            asset = _asset.decode(payloads[0])
            for payload in payloads[1:]:
                asset = merge_assets(asset, _asset.decode(payload))
            merged.append((key, asset))
        yield merged


async def staged_services(
    conn: Connection, scan_id: str, batch: int = 1000
) -> AsyncIterator[list[tuple[str, ServiceObserved]]]:
    """The scan's services by asset id, sightings merged, a batch at a time."""
    async for groups in _groups(conn, scan_id, StagedKind.SERVICE, batch):
        merged = []
        for key, payloads in groups:
            service = _service.decode(payloads[0])
            for payload in payloads[1:]:
                service = merge_services(service, _service.decode(payload))
            merged.append((key.split("/", 1)[0], service))
        yield merged


async def staged_findings(
    conn: Connection, scan_id: str, batch: int = 1000
) -> AsyncIterator[tuple[list[tuple[str, FindingObserved]], int]]:
    """The scan's findings by fingerprint, repeats merged, with how many repeats each batch had."""
    async for groups in _groups(conn, scan_id, StagedKind.FINDING, batch):
        merged = []
        repeats = 0
        for key, payloads in groups:
            finding = _finding.decode(payloads[0])
            for payload in payloads[1:]:
                finding = merge_findings(finding, _finding.decode(payload))
            repeats += len(payloads) - 1
            merged.append((key, finding))
        yield merged, repeats
