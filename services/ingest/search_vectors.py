"""Full-text search vectors of new findings, stemmed on a connection of their own.

Stemming a finding's searched text (`ingest_finding_search`) is the costliest
part of writing it: more than the rest of an import's database work for
findings with long descriptions. An import appends its events on one
connection and writes its read models on a second; `SearchVectors` lets it
have a chunk's vectors stemmed by a third backend meanwhile, the parts that
findings on many assets share (title, CVEs, description) once. The inventory
projection then writes the vectors it finds here and stems the rest itself.

A vector depends on its text alone, so what is kept here is a cache that
correctness never depends on: a vector that is missing (no connection was
free, the cache was cleared) is computed by the statement that writes the row.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, NamedTuple, TypeAlias, TypeVar

import asyncpg
import structlog

if TYPE_CHECKING:
    from collections.abc import Iterable

    from services.ingest.parsers.model import FindingObserved
    from shared.contracts import FindingDetected
    from shared.database import Connection

__all__ = ("SearchText", "SearchVectors", "parsed_search_text", "search_text")

_log = structlog.get_logger("vigil.ingest")

_K = TypeVar("_K")
_V = TypeVar("_V")

_ACQUIRE_TIMEOUT = 1.0
"""Seconds to wait for a free connection before leaving the stemming to the writer."""

_MAX_KEPT = 4096
"""Vectors kept at most, the newest: a few chunks' worth."""

_MAX_PARTS = 1024
"""Stemmed shared parts kept at most, the newest: a scan's plugins, for a typical scan."""

_STEM_PARTS = (
    "SELECT ingest_finding_search_head(u.title, string_to_array(u.cve, ' ')),"
    " ingest_finding_search_tail(u.description)"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(title, cve,"
    " description, n) ORDER BY u.n"
)
"""The parts that findings on many assets share (title and CVEs, description), stemmed."""

_STEM = (
    "SELECT c.n, ingest_finding_search_of(p.head, c.asset_key, p.tail)"
    " FROM unnest($2::text[], $3::text[], $4::int[]) WITH ORDINALITY AS c(fingerprint, asset_key,"
    " part, n) JOIN unnest($5::tsvector[], $6::tsvector[]) WITH ORDINALITY AS p(head, tail, i)"
    " ON p.i = c.part WHERE NOT EXISTS (SELECT 1 FROM ingest_findings f"
    " WHERE f.workspace_id = $1 AND f.fingerprint = c.fingerprint)"
)
"""Vectors of the candidates the workspace does not know yet (the others are not written)."""

_SharedPart: TypeAlias = tuple[str, str, str | None]


class SearchText(NamedTuple):
    """The text a finding is searched by: `ingest_finding_search`'s arguments."""

    title: str
    cve: tuple[str, ...]
    asset_key: str
    description: str | None


def search_text(detected: FindingDetected) -> SearchText:
    """What a newly detected finding is searched by."""
    details = detected.details
    return SearchText(details.title, details.cve, detected.asset_key, details.description)


def parsed_search_text(finding: FindingObserved) -> SearchText:
    """What a parsed finding will be searched by once it is detected (see `details_of`)."""
    return SearchText(finding.title, finding.cve, finding.asset.key, finding.description)


def _has_nul(text: SearchText) -> bool:
    return "\x00" in "".join((text.title, text.asset_key, text.description or "", *text.cve))


def _shared_part(text: SearchText) -> _SharedPart:
    """What findings on different assets can share: title, CVEs (as one string), description."""
    return text.title, " ".join(text.cve), text.description


class SearchVectors:
    """Search vectors stemmed ahead of writing, in PostgreSQL's binary tsvector form.

    The parts findings share are kept too, so that a plugin reported on hosts
    across many chunks has its description stemmed once.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._ready: dict[SearchText, bytes] = {}
        self._parts: dict[_SharedPart, tuple[bytes, bytes]] = {}

    async def stem(self, workspace_id: str, candidates: Iterable[tuple[str, SearchText]]) -> None:
        """Stem the texts of those (fingerprint, text) candidates that are new to the workspace.

        Runs on a free pooled connection and does nothing when none is free:
        the caller holds a connection of the same pool in a transaction that
        may block others, so waiting for a connection could wait on itself.
        Texts holding NUL (which PostgreSQL text cannot) are left to the writer.
        """
        todo = []
        for fp, text in candidates:
            kept = self._ready.pop(text, None)
            if kept is not None:
                self._ready[text] = kept  # stemmed before: now among the newest again
            elif not _has_nul(text):
                todo.append((fp, text))
        pool = self._pool
        if not todo or (pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size()):
            return
        shared: dict[_SharedPart, int] = {}
        numbers = [shared.setdefault(_shared_part(t), len(shared) + 1) for _, t in todo]
        try:
            conn = await pool.acquire(timeout=_ACQUIRE_TIMEOUT)
        except TimeoutError:
            return
        try:
            parts = await self._parts_of(conn, list(shared))
            rows = await conn.fetch(
                _STEM,
                workspace_id,
                [fp for fp, _ in todo],
                [t.asset_key for _, t in todo],
                numbers,
                [head for head, _ in parts],
                [tail for _, tail in parts],
            )
        except asyncpg.PostgresError as exc:
            _log.warning("search vectors not stemmed ahead", error=str(exc))
            return
        finally:
            await pool.release(conn)
        _keep_newest(self._ready, ((todo[r[0] - 1][1], r[1]) for r in rows), _MAX_KEPT)

    async def _parts_of(
        self, conn: Connection, shared: list[_SharedPart]
    ) -> list[tuple[bytes, bytes]]:
        """The stemmed (head, tail) of each shared part, stemming those not kept yet."""
        missing = [part for part in shared if part not in self._parts]
        stemmed: dict[_SharedPart, tuple[bytes, bytes]] = {}
        if missing:
            rows = await conn.fetch(
                _STEM_PARTS,
                [title for title, _, _ in missing],
                [cve for _, cve, _ in missing],
                [description for _, _, description in missing],
            )
            stemmed = {part: (row[0], row[1]) for part, row in zip(missing, rows, strict=True)}
        parts = [stemmed.get(part) or self._parts[part] for part in shared]
        _keep_newest(self._parts, zip(shared, parts, strict=True), _MAX_PARTS)
        return parts

    def get(self, text: SearchText) -> bytes | None:
        """The stemmed vector of `text`; None when it was not stemmed here."""
        return self._ready.get(text)


def _keep_newest(kept: dict[_K, _V], new: Iterable[tuple[_K, _V]], most: int) -> None:
    """Add (or refresh) `new` in `kept` as its newest entries, dropping the oldest beyond `most`."""
    fresh = list(new)
    for key, _ in fresh:
        kept.pop(key, None)
    excess = max(0, len(kept) + len(fresh) - most)
    for oldest in list(itertools.islice(kept, excess)):
        del kept[oldest]
    kept.update(fresh)
