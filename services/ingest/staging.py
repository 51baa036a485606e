"""Staging a parsed file in a local spool, so that an import's memory stays flat.

Parsed items are encoded (msgpack) into an anonymous temporary file under
their identity (asset id, service key or fingerprint); only an index of
identities to file offsets stays in memory (a few dozen bytes per distinct
identity, no descriptions). The import reads them back in batches of whole
groups (every sighting of one identity, repeats merged), in identity order.
The spool is scratch space of one import attempt: a retried job parses the
file again, and nothing of it ever reaches PostgreSQL, which keeps the
database's work to what the import records.
"""

from __future__ import annotations

import enum
import os
import tempfile
from typing import TYPE_CHECKING, TypeVar

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
    from collections.abc import Callable, Iterator
    from types import TracebackType

    from services.ingest.parsers.model import Item

__all__ = ("Spool", "StagedKind")

_encode = msgspec.msgpack.Encoder().encode
_asset = msgspec.msgpack.Decoder(Asset)
_service = msgspec.msgpack.Decoder(ServiceObserved)
_finding = msgspec.msgpack.Decoder(FindingObserved)
_LENGTH_BITS = 32
_T = TypeVar("_T")


class StagedKind(enum.IntEnum):
    """What a staged entry holds."""

    ASSET = 1
    SERVICE = 2
    FINDING = 3


def _service_row_key(aid: str, service: ServiceObserved) -> str:
    port, protocol = service_key(service)
    return f"{aid}/{port}/{protocol}"


class Spool:
    """One scan's items by identity, in a temporary file; use as a context manager.

    `items` counts what the parser yielded, `scanners` the scanner names of
    its findings; `covered` is the set of asset ids the scan reported (hosts
    reported `down` excluded) and `reported` the fingerprints it reported.
    """

    def __init__(self, workspace_id: str, *, scanner_hint: str | None = None) -> None:
        self._workspace_id = workspace_id
        self._hint = scanner_hint
        self._file = tempfile.TemporaryFile(prefix="vigil-ingest-")  # noqa: SIM115 (closed by close)
        self._offset = 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._index: dict[StagedKind, dict[str, int | list[int]]] = {k: {} for k in StagedKind}
        self.items = 0
        self.scanners: set[str] = set()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop the spool file."""
        self._file.close()

    @property
    def covered(self) -> dict[str, int | list[int]]:
        """The asset ids the scan reported (a mapping; use it as a set)."""
        return self._index[StagedKind.ASSET]

    @property
    def reported(self) -> dict[str, int | list[int]]:
        """The fingerprints the scan reported (a mapping; use it as a set)."""
        return self._index[StagedKind.FINDING]

    def add(self, raw: Item) -> None:
        """Stage one parsed item (and, the first time it is named, its asset)."""
        item = with_scanner(raw, self._hint)
        self.items += 1
        if isinstance(item, HostObserved) and item.status.strip().lower() == "down":
            return  # a host the scanner could not reach was not covered by the scan
        aid = asset_id(self._workspace_id, item.asset)
        if aid not in self.covered or not isinstance(item, ServiceObserved | FindingObserved):
            self._put(StagedKind.ASSET, aid, _encode(item.asset))
        if isinstance(item, ServiceObserved):
            self._put(StagedKind.SERVICE, _service_row_key(aid, item), _encode(item))
        elif isinstance(item, FindingObserved):
            self.scanners.add(item.scanner)
            self._put(StagedKind.FINDING, fingerprint(self._workspace_id, item), _encode(item))

    def _put(self, kind: StagedKind, key: str, payload: bytes) -> None:
        entry = (self._offset << _LENGTH_BITS) | len(payload)
        index = self._index[kind]
        seen = index.get(key)
        if seen is None:
            index[key] = entry
        elif isinstance(seen, list):
            seen.append(entry)
        else:
            index[key] = [seen, entry]
        self._buffer.append(payload)
        self._buffered += len(payload)
        self._offset += len(payload)
        if self._buffered >= 1 << 20:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer = []
            self._buffered = 0

    def _read(self, entry: int) -> bytes:
        return os.pread(
            self._file.fileno(), entry & ((1 << _LENGTH_BITS) - 1), entry >> _LENGTH_BITS
        )

    def _groups(self, kind: StagedKind, batch: int) -> Iterator[list[tuple[str, list[bytes]]]]:
        """Staged entries of one kind, grouped by key, `batch` keys at a time, in key order."""
        self._flush()
        self._file.flush()
        index = self._index[kind]
        keys = sorted(index)
        for start in range(0, len(keys), batch):
            groups = []
            for key in keys[start : start + batch]:
                entries = index[key]
                if isinstance(entries, int):
                    groups.append((key, [self._read(entries)]))
                else:
                    groups.append((key, [self._read(e) for e in entries]))
            yield groups

    def _merged(
        self,
        kind: StagedKind,
        batch: int,
        decode: Callable[[bytes], _T],
        merge: Callable[[_T, _T], _T],
    ) -> Iterator[list[tuple[str, _T, int]]]:
        for groups in self._groups(kind, batch):
            merged = []
            for key, payloads in groups:
                value = decode(payloads[0])
                for payload in payloads[1:]:
                    value = merge(value, decode(payload))
                merged.append((key, value, len(payloads) - 1))
            yield merged

    def assets(self, batch: int = 2000) -> Iterator[list[tuple[str, Asset]]]:
        """The scan's assets by asset id, sightings merged, a batch at a time."""
        for merged in self._merged(StagedKind.ASSET, batch, _asset.decode, merge_assets):
            yield [(key, asset) for key, asset, _ in merged]

    def services(self, batch: int = 2000) -> Iterator[list[tuple[str, ServiceObserved]]]:
        """The scan's services by asset id, sightings merged, a batch at a time."""
        for merged in self._merged(StagedKind.SERVICE, batch, _service.decode, merge_services):
            yield [(key.split("/", 1)[0], service) for key, service, _ in merged]

    def findings(
        self, batch: int = 1000
    ) -> Iterator[tuple[list[tuple[str, FindingObserved]], int]]:
        """The scan's findings by fingerprint, repeats merged, with each batch's repeat count."""
        for merged in self._merged(StagedKind.FINDING, batch, _finding.decode, merge_findings):
            yield [(key, finding) for key, finding, _ in merged], sum(r for _, _, r in merged)
